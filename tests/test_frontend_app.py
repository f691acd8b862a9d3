"""The page's logic under Streamlit's AppTest: sidebar status, messages, results, live-mode dedup.

AppTest runs no JavaScript, so the canvas cannot be drawn here: `frontend.canvas.draw` is replaced
by a stub returning pixels, and most tests stub the HTTP client too. The real-browser test
(test_browser.py) proves the canvas itself; a few tests here use the real API.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.ipc
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from devtools.servers import LiveServer, free_port
from frontend import canvas, chart, imaging, live
from frontend import client as api
from tests.test_frontend_imaging import ONE, SEVEN, canvas_with

APP = Path(__file__).resolve().parent.parent / "frontend" / "app.py"
API_URL = "http://api.test:8000"


def prediction(
    probabilities: list[float], verdict: api.Verdict = "digit", hint: str | None = None
) -> api.Prediction:
    """An answer as the service gives it: the runners-up are those above 5 %, at most two."""
    digit = int(np.argmax(probabilities))
    ranked = sorted(range(10), key=lambda d: probabilities[d], reverse=True)
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
        verdict=verdict,
        alternatives=tuple(
            api.Alternative(d, probabilities[d]) for d in ranked[1:3] if probabilities[d] > 0.05
        ),
        hint=hint,
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
    """Stands in for the HTTP client and the canvas; records what the page sent.

    The canvas is played like the real component: it holds strokes (lists of points, as
    `canvas_with` draws them), reports them with their pixels, and replaces them when the page
    hands it a new `initial_drawing` (what Undo, Redo and Clear do).
    """

    health: api.Health | api.ApiError = HEALTHY
    answer: api.Prediction | api.ApiError = field(default_factory=lambda: confident(3))
    strokes: list[list[tuple[float, float]]] = field(default_factory=list)
    sent: list[tuple[bytes, str]] = field(default_factory=list)
    health_checks: int = 0
    loaded: dict[str, Any] | None = None
    # Corrections, as POST /feedback stores them: id -> (image, content type, label).
    stored: dict[int, tuple[bytes, str, api.Label]] = field(default_factory=dict)
    feedback_error: api.ApiError | None = None
    stats_asked: int = 0

    def send_feedback(
        self, config: api.ApiConfig, image: bytes, content_type: str, label: api.Label
    ) -> api.FeedbackStored:
        if self.feedback_error is not None:
            raise self.feedback_error
        new_id = max(self.stored, default=0) + 1
        self.stored[new_id] = (image, content_type, label)
        answer = self.answer if isinstance(self.answer, api.Prediction) else confident(0)
        return api.FeedbackStored(new_id, label, answer.digit, answer.verdict, 1)

    def undo_feedback(self, config: api.ApiConfig, feedback_id: int) -> None:
        if self.feedback_error is not None:
            raise self.feedback_error
        if self.stored.pop(feedback_id, None) is None:
            raise api.ApiError(f"there is no correction {feedback_id}", status_code=404)

    def feedback_stats(self, config: api.ApiConfig) -> api.FeedbackStats:
        self.stats_asked += 1
        by_label: dict[str, int] = {}
        for _, _, label in self.stored.values():
            by_label[str(label)] = by_label.get(str(label), 0) + 1
        return api.FeedbackStats(len(self.stored), by_label, None, None)

    def get_health(self, config: api.ApiConfig) -> api.Health:
        self.health_checks += 1
        if isinstance(self.health, api.ApiError):
            raise self.health
        return self.health

    def predict(self, config: api.ApiConfig, image: bytes, content_type: str) -> api.Prediction:
        self.sent.append((image, content_type))
        if isinstance(self.answer, api.ApiError):
            raise self.answer
        return self.answer

    def draw(
        self,
        stroke_width: int,
        *,
        key: str,
        initial_drawing: dict[str, Any] | None = None,
        **_: Any,
    ) -> canvas.Drawing:
        if initial_drawing is not None and initial_drawing != self.loaded:
            self.loaded = initial_drawing
            self.strokes = [obj["points"] for obj in initial_drawing["objects"]]
        objects = [{"type": "path", "points": stroke} for stroke in self.strokes]
        return canvas.Drawing(canvas_with(self.strokes) if self.strokes else None, objects)

    @property
    def pixels(self) -> np.ndarray | None:
        return canvas_with(self.strokes) if self.strokes else None


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeService:
    return install_fake(monkeypatch)


def install_fake(monkeypatch: pytest.MonkeyPatch) -> FakeService:
    """A FakeService in place of the HTTP client and the canvas, for the page's next run."""
    service = FakeService()
    monkeypatch.setenv("API_URL", API_URL)
    monkeypatch.delenv("API_KEY", raising=False)
    # The script imports these modules by name, so patching their attributes reaches the page.
    monkeypatch.setattr(api, "get_health", service.get_health)
    monkeypatch.setattr(api, "predict", service.predict)
    monkeypatch.setattr(api, "send_feedback", service.send_feedback)
    monkeypatch.setattr(api, "undo_feedback", service.undo_feedback)
    monkeypatch.setattr(api, "feedback_stats", service.feedback_stats)
    monkeypatch.setattr(canvas, "draw", service.draw)
    # Live mode answers once the pen pauses: at once here, unless a test holds the pen down.
    monkeypatch.setattr(live, "PAUSE_S", 0.0)
    return service


def run_app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements: object) -> str:
    return "\n".join(str(element.value) for element in elements)  # type: ignore[attr-defined]


def digit_markup(at: AppTest) -> list[str]:
    """The digit in the confident style, large: only ever for a `digit` verdict."""
    return [m.value for m in at.markdown if "data-digit" in m.value]


def verdict_shown(at: AppTest) -> str | None:
    """The verdict the answer card shows (data-verdict), or None when there is no card."""
    cards = [m.value for m in at.main.markdown if 'class="verdict-card"' in m.value]
    assert len(cards) <= 1, cards
    if not cards:
        return None
    found = re.search(r'data-verdict="([a-z_]+)"', cards[0])
    assert found is not None
    return found.group(1)


def card_text(at: AppTest) -> str:
    """The answer card's words, tags taken out."""
    return "\n".join(
        re.sub(r"<[^>]+>", " ", m.value) for m in at.main.markdown if "verdict-card" in m.value
    )


def bar_colours(at: AppTest) -> list[str]:
    """The colour of each digit's bar in the probability chart, 0 to 9."""
    [chart] = at.get("vega_lite_chart")
    [dataset] = chart.proto.datasets  # Streamlit sends the chart's data as Arrow
    table = pyarrow.ipc.open_stream(dataset.data.data).read_pandas()
    assert list(table["digit"]) == [str(d) for d in range(10)]
    return list(table["colour"])


def has_button(at: AppTest, key: str) -> bool:
    return any(button.key == key for button in at.button)


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
    fake.strokes = list(SEVEN)
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
    assert verdict_shown(at) == "digit"
    assert at.get("progress")[0].proto.value == 99  # percent
    assert "99.0%" in at.get("progress")[0].proto.text
    assert "of answers shown at 90%, about 9 in 10 are right" in texts(at.main.caption)
    [probabilities] = at.get("vega_lite_chart")
    assert "Probability of each digit" in probabilities.proto.spec
    assert bar_colours(at) == [chart.HIGHLIGHT if d == 7 else chart.MUTED for d in range(10)]
    [seen] = at.get("image")
    assert "What the model saw" in seen.captions[0]
    assert not at.warning


# An unsure 4 that could be a 9 (or, less likely, an 8), as the service answers it.
UNSURE_4 = [0.01, 0.01, 0.01, 0.01, 0.55, 0.01, 0.01, 0.01, 0.08, 0.30]


def test_unsure_asks_which_with_the_candidates_probabilities(fake: FakeService) -> None:
    fake.strokes = list(ONE)
    fake.answer = prediction(UNSURE_4, verdict="unsure")
    at = click_predict(run_app())
    assert verdict_shown(at) == "unsure"
    words = card_text(at)
    assert "I'm not sure — 4, 9 or 8?" in words
    for probability in ("55%", "30%", "8%"):
        assert probability in words
    # Never in the confident style: no large digit, no confidence bar, no accent in the chart.
    assert not digit_markup(at)
    assert not at.get("progress")
    candidates = {4, 9, 8}
    assert bar_colours(at) == [
        chart.CANDIDATE if d in candidates else chart.MUTED for d in range(10)
    ]
    assert "calibrated" in texts(at.main.caption)


def test_unsure_with_two_candidates_and_with_one(fake: FakeService) -> None:
    fake.strokes = list(ONE)
    fake.answer = prediction(
        [0.01, 0.01, 0.01, 0.01, 0.62, 0.01, 0.01, 0.01, 0.0, 0.31], verdict="unsure"
    )
    at = click_predict(run_app())
    assert "I'm not sure — 4 or 9?" in card_text(at)
    fake.answer = prediction([0.04] * 4 + [0.68] + [0.04] * 5, verdict="unsure")
    click_predict(at)
    assert "I'm not sure — maybe a 4?" in card_text(at)
    assert "68%" in card_text(at)
    assert not digit_markup(at)


def test_not_a_digit_shows_no_digit_in_the_confident_style(fake: FakeService) -> None:
    fake.strokes = list(SEVEN)
    fake.answer = prediction(
        [0.01, 0.01, 0.01, 0.01, 0.17, 0.01, 0.01, 0.01, 0.75, 0.01], verdict="not_a_digit"
    )
    at = click_predict(run_app())
    assert verdict_shown(at) == "not_a_digit"
    assert "That doesn't look like a digit" in card_text(at)
    assert not digit_markup(at)
    assert not at.get("progress")
    assert "8" not in card_text(at)  # the best guess is only an aside, below
    assert "closest digit is 8 (75%)" in texts(at.main.caption)
    assert bar_colours(at) == [chart.MUTED] * 10


def test_several_digits_passes_on_the_services_hint(fake: FakeService) -> None:
    fake.strokes = list(SEVEN)
    hint = "several digits: POST /read reads them"
    fake.answer = prediction(
        [0.01, 0.91, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01],
        verdict="several_digits",
        hint=hint,
    )
    at = click_predict(run_app())
    assert verdict_shown(at) == "several_digits"
    assert "That looks like several digits" in card_text(at)
    assert "one digit at a time" in texts(at.main.markdown)
    assert hint in texts(at.main.caption)
    assert not digit_markup(at)
    assert bar_colours(at) == [chart.MUTED] * 10


def test_api_error_detail_is_shown(fake: FakeService) -> None:
    detail = "no digit found: the image is blank or too faint; draw a digit"
    fake.strokes = list(ONE)
    fake.answer = api.ApiError(detail, status_code=422, detail=detail)
    at = click_predict(run_app())
    assert "No digit found: the image is blank or too faint" in texts(at.main.error)
    assert not digit_markup(at)


def test_live_mode_sends_each_new_drawing_once(fake: FakeService) -> None:
    fake.strokes = list(ONE)
    fake.answer = confident(1)
    at = run_app()
    at.toggle(key="live").set_value(True).run()
    assert len(fake.sent) == 1
    assert 'data-digit="1"' in digit_markup(at)[0]

    at.slider(key="stroke_width").set_value(25).run()  # a rerun with the same drawing
    assert len(fake.sent) == 1
    click_predict(at)  # Predict always asks: an old answer is never passed off as current
    assert len(fake.sent) == 2

    fake.strokes = list(SEVEN)
    fake.answer = confident(7)
    at.run()
    assert len(fake.sent) == 3
    assert 'data-digit="7"' in digit_markup(at)[0]


@pytest.mark.parametrize("verdict", ["digit", "unsure", "not_a_digit", "several_digits"])
def test_live_mode_answers_only_once_the_pen_pauses(
    fake: FakeService, monkeypatch: pytest.MonkeyPatch, verdict: api.Verdict
) -> None:
    """The first stroke of a 4 reads as a confident 6: nothing is shown until the pen pauses."""
    monkeypatch.setattr(live, "PAUSE_S", 3600.0)  # the pen is still moving
    fake.strokes = [[(0.60, 0.18), (0.30, 0.60), (0.75, 0.60)]]  # the first stroke of a 4
    fake.answer = confident(6) if verdict == "digit" else prediction(UNSURE_4, verdict=verdict)
    at = run_app()
    at.toggle(key="live").set_value(True).run()
    assert len(fake.sent) == 1
    assert verdict_shown(at) == "pending"
    assert "Keep drawing" in card_text(at)
    assert not digit_markup(at)
    assert not at.get("progress") and not at.get("vega_lite_chart")
    for words in ("not sure", "doesn't look", "several"):
        assert words not in card_text(at)

    fake.strokes.append([(0.60, 0.35), (0.60, 0.85)])  # the second stroke, the 4 is whole
    fake.answer = prediction(UNSURE_4, verdict=verdict) if verdict != "digit" else confident(4)
    at.run()
    assert len(fake.sent) == 2
    assert verdict_shown(at) == "pending"

    monkeypatch.setattr(live, "PAUSE_S", 0.0)  # the pen has paused: the timer's rerun
    at.run()
    assert len(fake.sent) == 2  # the answer it already had, not a new request
    assert verdict_shown(at) == verdict
    assert "Keep drawing" not in card_text(at)
    assert bool(digit_markup(at)) == (verdict == "digit")


def test_predict_answers_at_once_in_live_mode(
    fake: FakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Predict is a question: it gets the whole answer without waiting for a pause."""
    monkeypatch.setattr(live, "PAUSE_S", 3600.0)
    fake.strokes = list(SEVEN)
    fake.answer = prediction(UNSURE_4, verdict="not_a_digit")
    at = run_app()
    at.toggle(key="live").set_value(True).run()
    assert verdict_shown(at) == "pending"
    click_predict(at)
    assert verdict_shown(at) == "not_a_digit"


def test_an_error_in_live_mode_shows_at_once(
    fake: FakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "PAUSE_S", 3600.0)
    fake.strokes = list(ONE)
    fake.answer = api.ApiError("the server is at capacity", status_code=503)
    at = run_app()
    at.toggle(key="live").set_value(True).run()
    assert verdict_shown(at) is None
    assert "The server is at capacity" in texts(at.main.error)


def test_live_mode_does_not_retry_a_failed_drawing_on_every_rerun(fake: FakeService) -> None:
    fake.strokes = list(ONE)
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
    fake.strokes = list(ONE)
    fake.answer = confident(1)
    at = click_predict(run_app())
    fake.strokes = list(SEVEN)
    at.run()
    assert len(fake.sent) == 1
    assert "drawing changed" in texts(at.info)
    fake.strokes = []  # wiped
    at.run()
    assert not digit_markup(at)
    assert "Draw a digit" in texts(at.info)


def uploader_key(at: AppTest) -> str:
    """The uploader's key: it changes when a refused file is taken out of it."""
    [key] = [w.key for w in at.get("file_uploader")]
    return str(key)


def upload(at: AppTest, name: str, data: bytes, mime: str) -> AppTest:
    at.file_uploader(key=uploader_key(at)).set_value((name, data, mime)).run()
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

    first_uploader = uploader_key(at)
    upload(at, "notes.png", b"not an image at all", "image/png")
    assert not digit_markup(at)
    # The API's own words, naming the file; no "Try again" (the same file would fail again), and
    # the refused file is no longer listed in the uploader.
    shown = texts(at.main.error)
    assert "notes.png" in shown
    assert "the file is not an image this service reads: send PNG, JPEG, GIF" in shown
    assert "Error" not in shown.replace("error", "")
    assert not has_button(at, "retry_upload")
    assert uploader_key(at) != first_uploader
    assert at.file_uploader(key=uploader_key(at)).value is None


def test_an_upload_that_met_a_passing_failure_offers_try_again(fake: FakeService) -> None:
    fake.answer = api.ApiError("the server is at capacity; retry in a second", status_code=503)
    data = io.BytesIO()
    Image.fromarray(canvas_with(ONE)[..., 3]).save(data, format="PNG")
    at = upload(run_app(), "one.png", data.getvalue(), "image/png")
    assert "at capacity" in texts(at.main.error)
    key = uploader_key(at)
    fake.answer = confident(1)
    at.button(key="retry_upload").click().run()
    assert len(fake.sent) == 2 and fake.sent[1] == fake.sent[0]
    assert 'data-digit="1"' in digit_markup(at)[0]
    assert uploader_key(at) == key  # the file stayed in the uploader


def test_upload_is_sent_once(fake: FakeService) -> None:
    data = io.BytesIO()
    Image.fromarray(canvas_with(ONE)[..., 3]).save(data, format="PNG")
    at = upload(run_app(), "one.png", data.getvalue(), "image/png")
    at.run()
    assert len(fake.sent) == 1
    assert fake.sent[0] == (data.getvalue(), "image/png")


def test_an_upload_is_sent_as_what_its_bytes_are(fake: FakeService) -> None:
    """Browsers guess a type from the file name; a "text/plain" JPEG is still sent as a JPEG."""
    jpeg = io.BytesIO()
    Image.fromarray(canvas_with(ONE)[..., 3]).save(jpeg, format="JPEG")
    upload(run_app(), "scan.txt", jpeg.getvalue(), "text/plain")
    assert fake.sent == [(jpeg.getvalue(), "image/jpeg")]


def test_clear_empties_the_canvas_and_drops_the_old_answer(fake: FakeService) -> None:
    fake.strokes = list(ONE)
    at = click_predict(run_app())
    assert fake.sent and digit_markup(at)
    at.button(key="clear").click().run()
    assert fake.strokes == []  # the canvas was handed an empty drawing
    assert not digit_markup(at)
    assert "Draw a digit" in texts(at.info)
    assert at.button(key="clear").disabled


def test_undo_and_redo_change_what_predict_sends(fake: FakeService) -> None:
    at = run_app()
    assert at.button(key="undo").disabled and at.button(key="redo").disabled
    fake.strokes = list(SEVEN)
    at.run()
    fake.strokes = [*SEVEN, [(0.9, 0.1), (0.95, 0.9)]]  # a stray stroke
    at.run()
    at.button(key="undo").click().run()
    assert fake.strokes == SEVEN
    click_predict(at)
    sent, _ = fake.sent[-1]
    assert sent == imaging.canvas_to_png(canvas_with(SEVEN))
    at.button(key="redo").click().run()
    assert len(fake.strokes) == 2
    assert at.button(key="redo").disabled and not at.button(key="undo").disabled


def test_retry_is_offered_only_for_failures_a_retry_can_fix(fake: FakeService) -> None:
    fake.strokes = list(ONE)
    fake.answer = api.ApiError("no digit found: the image is blank", status_code=422)
    at = click_predict(run_app())
    assert "No digit found" in texts(at.main.error)
    assert not has_button(at, "retry_draw")
    for error in (
        api.ApiError("the server is at capacity", status_code=503),
        api.ApiError("internal server error", status_code=500),
        api.ApiError("the service did not answer within 10 s"),  # a timeout: no status
    ):
        fake.answer = error
        click_predict(at)
        assert has_button(at, "retry_draw"), error.message
    fake.answer = confident(1)
    at.button(key="retry_draw").click().run()
    assert digit_markup(at)


def test_the_sidebar_follows_every_request(fake: FakeService) -> None:
    """A failed Predict shows the service as down at once, the next good one shows it back; the
    old answer is not shown while the service could not be asked."""
    fake.strokes = list(ONE)
    fake.answer = confident(1)
    at = click_predict(run_app())
    assert "Ready" in texts(at.sidebar.success)
    checks = fake.health_checks
    at.slider(key="stroke_width").set_value(30).run()  # no request: the sidebar does not ask
    assert fake.health_checks == checks

    down = api.ApiError("cannot reach the prediction service at http://api.test:8000")
    fake.answer = fake.health = down
    click_predict(at)
    assert "Cannot reach" in texts(at.sidebar.error) and not at.sidebar.success
    assert "Cannot reach" in texts(at.main.error)
    assert not digit_markup(at), "the answer from before is not shown as current"

    fake.answer, fake.health = confident(1), HEALTHY
    click_predict(at)
    assert "Ready" in texts(at.sidebar.success) and not at.sidebar.error
    assert digit_markup(at)


def test_live_mode_pause_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIVE_PAUSE_S", raising=False)
    assert live._pause_from_environment() == 1.2
    monkeypatch.setenv("LIVE_PAUSE_S", "3")
    assert live._pause_from_environment() == 3.0
    monkeypatch.setenv("LIVE_PAUSE_S", "soon")
    with pytest.raises(SystemExit, match="LIVE_PAUSE_S must be a number of seconds"):
        live._pause_from_environment()
