"""The Number tab under AppTest: the reading's wording, its boxes and confidences, errors, and what
is sent; the client's parsing of POST /read. The canvas and the HTTP client are stubbed as in
test_frontend_app.py; the real-browser test draws on the real canvas (test_browser.py)."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from frontend import client as api
from frontend import reading_card
from tests.test_frontend_app import FakeService, fake, run_app, texts
from tests.test_frontend_imaging import ONE, SEVEN

__all__ = ["fake"]


def piece(
    digit: int, confidence: float, verdict: api.Verdict = "digit", x: int = 0, *others: int
) -> api.ReadDigit:
    return api.ReadDigit(
        digit=digit,
        confidence=confidence,
        probabilities=tuple(confidence if d == digit else 0.0 for d in range(10)),
        verdict=verdict,
        alternatives=tuple(api.Alternative(d, 0.2) for d in others),
        box=api.Box(x, 20, 30, 60),
    )


def reading(*digits: api.ReadDigit) -> api.Reading:
    text = "".join(d.char for d in digits)
    return api.Reading(text, digits, model="mnist-cnn", device="cpu", latency_ms=3.0)


READ_147 = reading(piece(1, 1.0, x=50), piece(4, 0.996, x=130), piece(7, 0.999, x=240))


@pytest.fixture
def reader(fake: FakeService, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """POST /read stubbed: answers `fake.reading_answer`, records the images sent."""
    sent: list[bytes] = []
    fake.reading_answer = READ_147  # type: ignore[attr-defined]

    def read(config: api.ApiConfig, image: bytes, content_type: str) -> api.Reading:
        assert content_type == "image/png"
        sent.append(image)
        answer = fake.reading_answer  # type: ignore[attr-defined]
        if isinstance(answer, api.ApiError):
            raise answer
        return answer

    monkeypatch.setattr(api, "read", read)
    return sent


def click_read(at: AppTest) -> AppTest:
    at.button(key="number_read").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def card(at: AppTest) -> str:
    cards = [m.value for m in at.main.markdown if "reading-card" in m.value]
    assert len(cards) <= 1
    return cards[0] if cards else ""


def markup(at: AppTest, css_class: str) -> str:
    return "\n".join(m.value for m in at.main.markdown if f'class="{css_class}"' in m.value)


def test_an_empty_number_canvas_asks_for_a_number(fake: FakeService, reader: list[bytes]) -> None:
    at = run_app()
    assert "Write a number on the black strip" in texts(at.info)
    click_read(at)
    assert "Write a number first" in texts(at.warning)
    assert reader == []


def test_a_number_is_read_with_its_boxes_and_confidences(
    fake: FakeService,
    reader: list[bytes],
) -> None:
    fake.strokes = list(ONE) + list(SEVEN)
    at = run_app()
    assert "Press **Read** to read your number" in texts(at.info)
    assert reader == []
    checks = fake.health_checks
    click_read(at)
    assert len(reader) == 1
    with Image.open(io.BytesIO(reader[0])) as sent:
        assert sent.mode == "L"
    assert fake.health_checks == checks + 1  # the sidebar asks again after every request
    headline = card(at)
    assert 'data-text="147"' in headline and "I read" in headline
    assert re.sub(r"<[^>]+>", "", headline).endswith("147")
    boxes = markup(at, "reading-boxes")
    assert len(re.findall(r'class="digit-box" data-verdict="digit"', boxes)) == 3
    assert re.findall(r"<span>(.)</span>", boxes) == ["1", "4", "7"]
    chips = re.sub(r"<[^>]+>", " ", markup(at, "digit-chips")).split()
    assert chips == ["1", "100%", "4", "100%", "7", "100%"]
    assert "mnist-cnn on cpu, 3.0 ms" in texts(at.main.caption)
    assert reading_card.UNSURE_NOTE not in texts(at.main.caption)


def test_unsure_digits_are_grey_and_a_mark_that_is_no_digit_is_a_question_mark(
    fake: FakeService,
    reader: list[bytes],
) -> None:
    fake.strokes = list(ONE)
    fake.reading_answer = reading(  # type: ignore[attr-defined]
        piece(2, 0.99), piece(4, 0.55, "unsure", 40, 9), piece(8, 0.4, "not_a_digit", 80)
    )
    at = click_read(run_app())
    headline = card(at)
    assert 'data-text="24?"' in headline
    assert '<span class="read-char" data-verdict="unsure">4</span>' in headline
    assert '<span class="read-char" data-verdict="not_a_digit">?</span>' in headline
    chips = re.sub(r"<[^>]+>", "|", markup(at, "digit-chips"))
    assert "55%, 4 or 9?" in chips and "not a digit" in chips and "40%" not in chips
    captions = texts(at.main.caption)
    assert reading_card.UNSURE_NOTE in captions and reading_card.UNREAD_NOTE in captions


def test_no_digit_at_all_is_no_number(fake: FakeService, reader: list[bytes]) -> None:
    fake.strokes = list(ONE)
    fake.reading_answer = reading(piece(8, 0.3, "not_a_digit"))  # type: ignore[attr-defined]
    at = click_read(run_app())
    assert "That doesn't look like a number" in card(at)
    assert "read-number" not in card(at)


def test_a_changed_drawing_marks_the_reading_stale(fake: FakeService, reader: list[bytes]) -> None:
    fake.strokes = list(ONE)
    at = click_read(run_app())
    fake.strokes = list(ONE) + list(SEVEN)
    at.run()
    assert "press **Read** to read it again" in texts(at.info)
    assert 'data-text="147"' in card(at)  # the old reading stays, marked as such
    assert len(reader) == 1


def test_an_error_is_plain_and_retried_only_when_that_can_help(
    fake: FakeService,
    reader: list[bytes],
) -> None:
    fake.strokes = list(ONE)
    fake.reading_answer = api.ApiError("too many marks to read", status_code=413)  # type: ignore[attr-defined]
    at = click_read(run_app())
    assert "Too many marks to read" in texts(at.main.error)
    assert not any(button.key == "retry_number" for button in at.button)
    assert not card(at)
    fake.reading_answer = api.ApiError("the server is at capacity", status_code=503)  # type: ignore[attr-defined]
    click_read(at)
    fake.reading_answer = READ_147  # type: ignore[attr-defined]
    at.button(key="retry_number").click().run()
    assert 'data-text="147"' in card(at)


def test_boxes_are_placed_in_percent_of_the_image() -> None:
    buffer = io.BytesIO()
    Image.new("L", (300, 100)).save(buffer, format="PNG")
    html = reading_card.boxes(buffer.getvalue(), (piece(3, 0.9, "digit", 30),))
    assert "left:10.00%;top:20.00%;width:10.00%;height:60.00%" in html
    assert html.count('class="digit-box"') == 1


BODY = {
    "text": "1?",
    "digits": [
        {
            "digit": 1,
            "confidence": 0.98,
            "probabilities": [0.0, 0.98] + [0.0025] * 8,
            "alternatives": [],
            "verdict": "digit",
            "box": {"x": 3, "y": 12, "width": 17, "height": 18},
        },
        {
            "digit": 8,
            "confidence": 0.3,
            "probabilities": [0.1] * 10,
            "alternatives": [{"digit": 3, "probability": 0.2}],
            "verdict": "not_a_digit",
            "box": {"x": 30, "y": 10, "width": 15, "height": 21},
        },
    ],
    "model": "mnist-cnn",
    "device": "cpu",
    "latency_ms": 12.3,
}


def answering(body: object) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json=body))


def test_the_client_reads_a_reading() -> None:
    got = api.read(api.ApiConfig(), b"png", transport=answering(BODY))
    assert got.text == "1?"
    assert [d.char for d in got.digits] == ["1", "?"]
    assert got.digits[1].box == api.Box(30, 10, 15, 21)
    assert got.digits[1].alternatives == (api.Alternative(3, 0.2),)
    assert got.latency_ms == 12.3


@pytest.mark.parametrize("verdict", ["smudge", "several_digits"])
def test_a_piece_verdict_the_page_does_not_expect_is_unsure(verdict: str) -> None:
    body = {**BODY, "digits": [{**BODY["digits"][0], "verdict": verdict}]}  # type: ignore[index]
    assert (
        api.read(api.ApiConfig(), b"png", transport=answering(body)).digits[0].verdict == "unsure"
    )


@pytest.mark.parametrize("broken", [{"text": "1"}, {**BODY, "digits": [{"digit": 1}]}])
def test_a_malformed_reading_is_an_api_error(broken: object) -> None:
    with pytest.raises(api.ApiError, match="unexpected shape"):
        api.read(api.ApiConfig(), b"png", transport=answering(broken))
