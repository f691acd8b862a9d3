"""The page's logic under Streamlit's AppTest: sidebar status, messages, results, live-mode dedup.

AppTest runs no JavaScript, so the canvas cannot be drawn here: `frontend.canvas.draw` is replaced
by a stub returning pixels, and most tests stub the HTTP client too. The real-browser test
(test_browser.py) proves the canvas itself; a few tests here use the real API.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from devtools.servers import LiveServer, free_port
from frontend import canvas
from frontend import client as api
from tests.test_frontend_imaging import ONE, SEVEN, canvas_with

APP = Path(__file__).resolve().parent.parent / "frontend" / "app.py"
API_URL = "http://api.test:8000"


def prediction(probabilities: list[float]) -> api.Prediction:
    digit = int(np.argmax(probabilities))
    seen = io.BytesIO()
    Image.new("L", (28, 28)).save(seen, format="PNG")
    return api.Prediction(
        digit=digit,
        confidence=probabilities[digit],
        probabilities=tuple(probabilities),
        model="mnist-cnn",
        device="cpu",
        latency_ms=1.5,
        input_png=seen.getvalue(),
    )


def confident(digit: int) -> api.Prediction:
    return prediction([0.99 if d == digit else 0.01 / 9 for d in range(10)])


HEALTHY = api.Health(
    ok=True,
    device="cpu",
    model=api.ModelInfo(name="mnist-cnn", sha256="ab" * 32, parameters=21840, test_accuracy=0.9948),
)


@dataclass
class FakeService:
    """Stands in for the HTTP client and the canvas; records what the page sent."""

    health: api.Health | api.ApiError = HEALTHY
    answer: api.Prediction | api.ApiError = field(default_factory=lambda: confident(3))
    pixels: np.ndarray | None = None
    sent: list[tuple[bytes, str]] = field(default_factory=list)
    canvas_keys: list[str] = field(default_factory=list)

    def get_health(self, config: api.ApiConfig) -> api.Health:
        if isinstance(self.health, api.ApiError):
            raise self.health
        return self.health

    def predict(self, config: api.ApiConfig, image: bytes, content_type: str) -> api.Prediction:
        self.sent.append((image, content_type))
        if isinstance(self.answer, api.ApiError):
            raise self.answer
        return self.answer

    def draw(self, stroke_width: int, *, key: str, **options: object) -> canvas.Drawing:
        self.canvas_keys.append(key)
        return canvas.Drawing(self.pixels)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeService:
    service = FakeService()
    monkeypatch.setenv("API_URL", API_URL)
    monkeypatch.delenv("API_KEY", raising=False)
    # The script imports these modules by name, so patching their attributes reaches the page.
    monkeypatch.setattr(api, "get_health", service.get_health)
    monkeypatch.setattr(api, "predict", service.predict)
    monkeypatch.setattr(canvas, "draw", service.draw)
    return service


def run_app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements: object) -> str:
    return "\n".join(str(element.value) for element in elements)  # type: ignore[attr-defined]


def digit_markup(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "data-digit" in m.value]


def click_predict(at: AppTest) -> AppTest:
    at.button(key="predict").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_sidebar_shows_a_healthy_service(fake: FakeService) -> None:
    at = run_app()
    assert at.title[0].value.endswith("Digit reader")
    assert "Ready" in texts(at.sidebar.success)
    sidebar = texts(at.sidebar.markdown)
    assert "99.48%" in sidebar
    assert "cpu" in sidebar
    assert "mnist-cnn" in sidebar
    assert at.sidebar.code[0].value == API_URL
    assert at.slider(key="stroke_width").value == 18


def test_sidebar_shows_a_service_that_cannot_predict(fake: FakeService) -> None:
    fake.health = api.Health(ok=False, device="cpu", model=None, reason="model file missing")
    at = run_app()
    assert "model file missing" in texts(at.sidebar.warning)
    assert not at.sidebar.success


def test_sidebar_says_when_the_api_key_is_sent(
    fake: FakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "API key" not in texts(run_app().sidebar.caption)
    monkeypatch.setenv("API_KEY", "secret")
    at = run_app()
    assert "API key" in texts(at.sidebar.caption)
    assert "secret" not in texts(at.sidebar.caption) + texts(at.sidebar.markdown)


def test_api_down_is_a_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """No stubbed client: the page talks to a loopback port where nothing listens."""
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("API_URL", url)
    monkeypatch.setattr(canvas, "draw", lambda stroke_width, **_: canvas.Drawing(canvas_with(ONE)))
    at = run_app()
    assert f"Cannot reach the prediction service at {url}" in texts(at.sidebar.error)
    click_predict(at)
    shown = texts(at.main.error)
    assert f"Cannot reach the prediction service at {url}" in shown
    assert "make run" in shown
    assert not digit_markup(at)


def test_empty_canvas_asks_for_a_digit_first(fake: FakeService) -> None:
    at = run_app()
    assert "Draw a digit" in texts(at.info)
    assert not texts(at.warning)
    click_predict(at)
    assert "Draw a digit first" in texts(at.warning)
    assert fake.sent == []


def test_drawing_waits_for_predict_then_shows_the_result(fake: FakeService) -> None:
    fake.pixels = canvas_with(SEVEN)
    fake.answer = confident(7)
    at = run_app()
    assert "Press **Predict**" in texts(at.info)
    assert fake.sent == []

    click_predict(at)
    assert len(fake.sent) == 1
    body, content_type = fake.sent[0]
    assert content_type == "image/png"
    with Image.open(io.BytesIO(body)) as sent:
        assert sent.mode == "L"
        assert np.asarray(sent).max() == 255  # the strokes, white on black
    [markup] = digit_markup(at)
    assert 'data-digit="7">7<' in markup
    assert "uncertain" not in markup
    assert at.get("progress")[0].proto.value == 99  # percent
    assert "99.0%" in at.get("progress")[0].proto.text
    [chart] = at.get("vega_lite_chart")
    assert "Probability of each digit" in chart.proto.spec
    [seen] = at.get("image")
    assert "What the model saw" in seen.captions[0]
    assert not at.warning


def test_low_confidence_is_shown_as_uncertain_with_the_top_two(fake: FakeService) -> None:
    fake.pixels = canvas_with(ONE)
    fake.answer = prediction([0.02, 0.02, 0.02, 0.02, 0.45, 0.02, 0.02, 0.02, 0.06, 0.35])
    at = click_predict(run_app())
    [markup] = digit_markup(at)
    assert "uncertain" in markup
    warning = texts(at.warning)
    assert "4 (45%)" in warning
    assert "9 (35%)" in warning


def test_api_error_detail_is_shown(fake: FakeService) -> None:
    detail = "no digit found: the image is blank or too faint; draw a digit"
    fake.pixels = canvas_with(ONE)
    fake.answer = api.ApiError(detail, status_code=422, detail=detail)
    at = click_predict(run_app())
    assert "No digit found: the image is blank or too faint" in texts(at.main.error)
    assert not digit_markup(at)


def test_live_mode_sends_each_new_drawing_once(fake: FakeService) -> None:
    fake.pixels = canvas_with(ONE)
    fake.answer = confident(1)
    at = run_app()
    at.toggle(key="live").set_value(True).run()
    assert len(fake.sent) == 1
    assert 'data-digit="1"' in digit_markup(at)[0]

    at.slider(key="stroke_width").set_value(25).run()  # a rerun with the same drawing
    click_predict(at)  # and Predict on it: the answer is already on screen
    assert len(fake.sent) == 1

    fake.pixels = canvas_with(SEVEN)
    fake.answer = confident(7)
    at.run()
    assert len(fake.sent) == 2
    assert 'data-digit="7"' in digit_markup(at)[0]


def test_live_mode_does_not_retry_a_failed_drawing_on_every_rerun(fake: FakeService) -> None:
    fake.pixels = canvas_with(ONE)
    fake.answer = api.ApiError("the server is at capacity", status_code=503)
    at = run_app()
    at.toggle(key="live").set_value(True).run()
    at.run()
    assert len(fake.sent) == 1
    assert "The server is at capacity" in texts(at.main.error)
    fake.answer = confident(1)
    click_predict(at)  # but pressing Predict does retry
    assert len(fake.sent) == 2
    assert digit_markup(at)


def test_changed_drawing_keeps_the_old_answer_marked_stale(fake: FakeService) -> None:
    fake.pixels = canvas_with(ONE)
    fake.answer = confident(1)
    at = click_predict(run_app())
    fake.pixels = canvas_with(SEVEN)
    at.run()
    assert len(fake.sent) == 1
    assert "drawing changed" in texts(at.info)
    fake.pixels = None  # cleared with the toolbar
    at.run()
    assert not digit_markup(at)
    assert "Draw a digit" in texts(at.info)


def upload(at: AppTest, name: str, data: bytes, mime: str) -> AppTest:
    at.file_uploader(key="upload").set_value((name, data, mime)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_upload_tab_with_the_real_api(
    api_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_URL", api_server.url)
    monkeypatch.setattr(canvas, "draw", lambda stroke_width, **_: canvas.Drawing(None))
    # Dark ink on white paper, as a photo or scan would be.
    paper = Image.fromarray(255 - canvas_with(SEVEN)[..., 3])
    jpeg = io.BytesIO()
    paper.save(jpeg, format="JPEG", quality=90)
    at = run_app()
    assert "Ready" in texts(at.sidebar.success)
    upload(at, "seven.jpg", jpeg.getvalue(), "image/jpeg")
    [markup] = digit_markup(at)
    assert 'data-digit="7"' in markup

    upload(at, "notes.png", b"not an image at all", "image/png")
    assert not digit_markup(at)
    assert at.main.error, "the API's refusal is shown"
    assert "Traceback" not in texts(at.main.error)
    assert at.button(key="retry_upload")


def test_upload_is_sent_once(fake: FakeService) -> None:
    data = io.BytesIO()
    Image.fromarray(canvas_with(ONE)[..., 3]).save(data, format="PNG")
    at = upload(run_app(), "one.png", data.getvalue(), "image/png")
    at.run()
    assert len(fake.sent) == 1
    assert fake.sent[0] == (data.getvalue(), "image/png")


def test_clear_gives_a_fresh_canvas_and_drops_the_old_answer(fake: FakeService) -> None:
    fake.pixels = canvas_with(ONE)
    at = run_app()
    at.button(key="predict").click().run()
    assert fake.sent and digit_markup(at)
    first_key = fake.canvas_keys[-1]
    fake.pixels = None  # the new canvas is empty
    at.button(key="clear").click().run()
    assert fake.canvas_keys[-1] != first_key
    assert not digit_markup(at)
    assert "Draw a digit" in texts(at.info)
