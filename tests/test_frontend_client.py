"""The UI's HTTP client against the real API (a uvicorn on loopback), plus the failure paths."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from devtools.servers import LiveServer, free_port, start_api
from frontend import client as api
from frontend import imaging
from tests.test_frontend_imaging import ONE, SEVEN, canvas_with


def png_of(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def config(api_server: LiveServer) -> api.ApiConfig:
    # api_server inherits this process's environment, API_KEY included when the suite sets one.
    return api.ApiConfig(url=api_server.url, api_key=os.environ.get("API_KEY") or None)


def test_health_describes_the_loaded_model(config: api.ApiConfig) -> None:
    health = api.get_health(config)
    assert health.ok
    assert health.reason is None
    assert health.device == "cpu"
    assert health.model is not None
    assert health.model.name
    assert len(health.model.sha256) == 64
    assert health.model.parameters > 1000
    assert health.model.test_accuracy is not None
    assert 0.9 < health.model.test_accuracy <= 1.0


def test_predict_reads_mnist_test_digits(
    config: api.ApiConfig, mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    images, labels = mnist_test
    picks = np.random.default_rng(4).choice(len(images), 20, replace=False)
    correct = 0
    for index in picks:
        prediction = api.predict(config, png_of(images[index]))
        correct += prediction.digit == labels[index]
        assert len(prediction.probabilities) == 10
        assert sum(prediction.probabilities) == pytest.approx(1.0, abs=1e-4)
        assert prediction.confidence == pytest.approx(max(prediction.probabilities))
        assert prediction.digit == int(np.argmax(prediction.probabilities))
        assert prediction.latency_ms >= 0
    assert correct >= 19, f"{correct}/20 MNIST test digits read correctly"


@pytest.mark.parametrize(("strokes", "digit"), [(ONE, 1), (SEVEN, 7)])
def test_predict_reads_a_canvas_drawing(
    config: api.ApiConfig, strokes: list[list[tuple[float, float]]], digit: int
) -> None:
    """The UI's real path: canvas RGBA -> canvas_to_png -> raw image/png body -> the model."""
    prediction = api.predict(config, imaging.canvas_to_png(canvas_with(strokes)))
    assert prediction.digit == digit
    assert prediction.top(2)[0] == (digit, prediction.confidence)
    assert prediction.top(2)[1][1] <= prediction.confidence
    assert prediction.input_png is not None
    with Image.open(io.BytesIO(prediction.input_png)) as seen:
        assert seen.size == (28, 28)
        pixels = np.asarray(seen.convert("L"))
    # The model saw a white digit on black, centred like MNIST's: ink in the middle, not the edge.
    assert pixels[10:18, 10:18].max() > 128
    assert pixels[0].max() < 64


# A big X across the canvas: the drawing the issue found read as "8 at 100 %".
BIG_X = [[(0.2, 0.2), (0.8, 0.8)], [(0.8, 0.2), (0.2, 0.8)]]


def test_a_clear_digit_has_the_digit_verdict(config: api.ApiConfig) -> None:
    prediction = api.predict(config, imaging.canvas_to_png(canvas_with(SEVEN)))
    assert prediction.verdict == "digit"
    assert prediction.digit == 7
    assert prediction.hint is None
    assert len(prediction.alternatives) <= 2
    for alternative in prediction.alternatives:
        assert isinstance(alternative, api.Alternative)
        assert alternative.digit != 7
        assert 0.05 < alternative.probability <= prediction.confidence
        assert alternative.probability == pytest.approx(prediction.probabilities[alternative.digit])


def test_an_x_is_not_a_digit(config: api.ApiConfig) -> None:
    """The verdict and the runners-up as the real service sends them; the best guess stays."""
    prediction = api.predict(config, imaging.canvas_to_png(canvas_with(BIG_X)))
    assert prediction.verdict == "not_a_digit"
    assert prediction.digit == int(np.argmax(prediction.probabilities))
    assert prediction.confidence == pytest.approx(max(prediction.probabilities))
    ranked = sorted(range(10), key=lambda d: prediction.probabilities[d], reverse=True)[1:3]
    expected = [d for d in ranked if prediction.probabilities[d] > 0.05]
    assert [alternative.digit for alternative in prediction.alternatives] == expected


def test_a_jpeg_upload_is_read(config: api.ApiConfig) -> None:
    # Uploads arrive as dark ink on white paper; the service inverts them.
    gray = 255 - imaging.canvas_to_gray(canvas_with(SEVEN))
    buffer = io.BytesIO()
    Image.fromarray(gray, mode="L").save(buffer, format="JPEG", quality=85)
    assert api.predict(config, buffer.getvalue(), "image/jpeg").digit == 7


def test_blank_canvas_surfaces_the_api_detail(config: api.ApiConfig) -> None:
    blank = imaging.canvas_to_png(np.zeros((280, 280, 4), np.uint8))
    with pytest.raises(api.ApiError) as raised:
        api.predict(config, blank)
    error = raised.value
    assert error.status_code == 422
    assert error.detail is not None
    assert "no digit found" in error.detail
    assert error.message == error.detail  # shown to the person as the service wrote it


def test_not_an_image_is_a_4xx_with_detail(config: api.ApiConfig) -> None:
    with pytest.raises(api.ApiError) as raised:
        api.predict(config, b"definitely not a png", "image/png")
    assert raised.value.status_code is not None
    assert 400 <= raised.value.status_code < 500
    assert raised.value.detail
    assert raised.value.message


@pytest.mark.parametrize("call", ["health", "predict"])
def test_api_down_says_where_and_how_to_start_it(call: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there once the probe socket closed
    config = api.ApiConfig(url=url)
    with pytest.raises(api.ApiError) as raised:
        if call == "health":
            api.get_health(config)
        else:
            api.predict(config, imaging.canvas_to_png(canvas_with(ONE)))
    assert raised.value.status_code is None
    assert f"cannot reach the prediction service at {url}" in raised.value.message
    assert "make run" in raised.value.message
    assert "Traceback" not in raised.value.message


@pytest.fixture(scope="module")
def keyed_api() -> Iterator[LiveServer]:
    with start_api(env={"API_KEY": "ui-test-key"}) as server:
        yield server


def test_api_key_is_sent_when_set(keyed_api: LiveServer) -> None:
    png = imaging.canvas_to_png(canvas_with(ONE))
    assert api.predict(api.ApiConfig(keyed_api.url, api_key="ui-test-key"), png).digit == 1
    with pytest.raises(api.ApiError) as raised:
        api.predict(api.ApiConfig(keyed_api.url, api_key="wrong"), png)
    assert raised.value.status_code == 401
    assert "API_KEY" in raised.value.message
    with pytest.raises(api.ApiError) as raised:
        api.predict(api.ApiConfig(keyed_api.url), png)
    assert raised.value.status_code == 401


def test_health_of_a_service_without_a_model(tmp_path: Path) -> None:
    env = {"MODEL_PATH": str(tmp_path / "missing.pth")}
    with start_api(env=env, expect_status=503) as server:
        health = api.get_health(api.ApiConfig(server.url))
        assert not health.ok
        assert health.model is None
        assert health.reason
        with pytest.raises(api.ApiError) as raised:
            api.predict(api.ApiConfig(server.url), imaging.canvas_to_png(canvas_with(ONE)))
    assert raised.value.status_code == 503
    assert raised.value.message.startswith("the prediction service is not ready")


def test_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_URL", raising=False)
    monkeypatch.delenv("API_KEY", raising=False)
    assert api.ApiConfig.from_env() == api.ApiConfig("http://localhost:8000", None)
    monkeypatch.setenv("API_URL", "http://api.internal:9000/")
    monkeypatch.setenv("API_KEY", "k")
    assert api.ApiConfig.from_env() == api.ApiConfig("http://api.internal:9000", "k")


# Failures a live server cannot be made to produce on demand, through httpx's mock transport.


def test_every_call_has_connect_and_read_timeouts() -> None:
    seen: list[dict[str, float | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(503, json={"status": "unavailable", "reason": "loading"})

    api.get_health(api.ApiConfig(), transport=httpx.MockTransport(handler))
    assert seen[0]["connect"] is not None and seen[0]["connect"] <= 5
    assert seen[0]["read"] is not None and 5 <= seen[0]["read"] <= 30


def test_slow_service_is_a_timeout_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(api.ApiError, match="did not answer within"):
        api.predict(api.ApiConfig(), b"png", transport=httpx.MockTransport(handler))


def test_something_else_answering_is_not_mistaken_for_the_api() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    with pytest.raises(api.ApiError, match="is API_URL pointing at the right server") as raised:
        api.get_health(api.ApiConfig(), transport=httpx.MockTransport(handler))
    assert raised.value.status_code == 502


def test_malformed_prediction_is_an_api_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"digit": 3})

    with pytest.raises(api.ApiError, match="unexpected shape"):
        api.predict(api.ApiConfig(), b"png", transport=httpx.MockTransport(handler))


def answering(body: dict[str, object]) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json=body))


ANSWER = {
    "digit": 4,
    "confidence": 0.62,
    "probabilities": [0.0, 0.0, 0.0, 0.0, 0.62, 0.0, 0.0, 0.07, 0.0, 0.31],
    "model": "mnist-cnn",
    "device": "cpu",
    "latency_ms": 2.0,
}


def test_an_answer_from_before_verdicts_reads_as_a_digit() -> None:
    """A service from before issue 14 sends no verdict and no alternatives: the page still shows
    its answers, the runners-up taken from the probabilities as the service would name them."""
    prediction = api.predict(api.ApiConfig(), b"png", transport=answering(ANSWER))
    assert prediction.verdict == "digit"
    assert prediction.alternatives == (api.Alternative(9, 0.31), api.Alternative(7, 0.07))
    assert prediction.hint is None


def test_verdict_alternatives_and_hint_are_read() -> None:
    body = {
        **ANSWER,
        "verdict": "several_digits",
        "alternatives": [{"digit": 9, "probability": 0.31}],
        "hint": "several digits: POST /read reads them",
    }
    prediction = api.predict(api.ApiConfig(), b"png", transport=answering(body))
    assert prediction.verdict == "several_digits"
    assert prediction.alternatives == (api.Alternative(9, 0.31),)
    assert prediction.hint == "several digits: POST /read reads them"


def test_a_verdict_this_page_does_not_know_is_never_shown_as_sure() -> None:
    body = {**ANSWER, "verdict": "smudge", "alternatives": []}
    prediction = api.predict(api.ApiConfig(), b"png", transport=answering(body))
    assert prediction.verdict == "unsure"


@pytest.mark.parametrize(
    "alternatives", [[{"digit": 9}], "9", [{"digit": "nine", "probability": 1}]]
)
def test_malformed_alternatives_are_an_api_error(alternatives: object) -> None:
    body = {**ANSWER, "verdict": "unsure", "alternatives": alternatives}
    with pytest.raises(api.ApiError, match="unexpected shape"):
        api.predict(api.ApiConfig(), b"png", transport=answering(body))


def test_only_failures_a_retry_can_fix_are_retryable(config: api.ApiConfig) -> None:
    """What decides whether the page offers "Try again"."""
    png = imaging.canvas_to_png(canvas_with(ONE))
    with pytest.raises(api.ApiError) as refused:
        api.predict(config, b"notes, not a picture", "image/png")
    assert refused.value.status_code == 422 and not refused.value.retryable
    with pytest.raises(api.ApiError) as down:
        api.predict(api.ApiConfig(url=f"http://127.0.0.1:{free_port()}"), png)
    assert down.value.unreachable and down.value.retryable
    with pytest.raises(api.ApiError) as misconfigured:
        api.predict(api.ApiConfig(url="api-without-a-scheme:8000"), png)
    assert not misconfigured.value.retryable
    assert "API_URL" in misconfigured.value.message

    for status, retryable in ((503, True), (500, True), (429, True), (413, False), (401, False)):

        def answer(request: httpx.Request, status: int = status) -> httpx.Response:
            return httpx.Response(status, json={"detail": "no"})

        with pytest.raises(api.ApiError) as raised:
            api.predict(api.ApiConfig(), png, transport=httpx.MockTransport(answer))
        assert raised.value.retryable is retryable, status


@pytest.fixture(scope="module")
def feedback_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Its own service, storing corrections in a throwaway folder (never the checkout's data/)."""
    data = tmp_path_factory.mktemp("feedback-data")
    env = {"DATA_DIR": str(data), "DATABASE_URL": f"sqlite:///{data / 'feedback.db'}"}
    with start_api(env=env) as server:
        yield server


def test_feedback_is_stored_counted_and_undone(feedback_api: LiveServer) -> None:
    config = api.ApiConfig(url=feedback_api.url, api_key=os.environ.get("API_KEY") or None)
    assert api.feedback_stats(config).total == 0
    seven = imaging.canvas_to_png(canvas_with(SEVEN))
    stored = api.send_feedback(config, seven, "image/png", 4)
    assert stored.label == 4
    assert stored.predicted == 7  # the service read the image itself
    stats = api.feedback_stats(config)
    assert stats.total == 1 and stats.by_label["4"] == 1
    other = api.send_feedback(config, seven, "image/png", api.NOT_A_DIGIT)
    assert other.label == api.NOT_A_DIGIT and other.id != stored.id
    assert api.feedback_stats(config).by_label["not_a_digit"] == 1

    api.undo_feedback(config, stored.id)
    api.undo_feedback(config, other.id)
    assert api.feedback_stats(config).total == 0
    with pytest.raises(api.ApiError) as undone_twice:
        api.undo_feedback(config, stored.id)
    assert undone_twice.value.status_code == 404
    assert not undone_twice.value.retryable
    assert "undone" in undone_twice.value.message


def test_a_bad_label_is_the_services_refusal(feedback_api: LiveServer) -> None:
    config = api.ApiConfig(url=feedback_api.url, api_key=os.environ.get("API_KEY") or None)
    one = imaging.canvas_to_png(canvas_with(ONE))
    with pytest.raises(api.ApiError) as refused:
        api.send_feedback(config, one, "image/png", 12)
    assert refused.value.status_code == 422
    assert not refused.value.retryable


def test_feedback_calls_on_a_service_that_is_down() -> None:
    down = api.ApiConfig(url=f"http://127.0.0.1:{free_port()}")
    for call in (
        lambda: api.send_feedback(down, b"png", "image/png", 3),
        lambda: api.undo_feedback(down, 1),
        lambda: api.feedback_stats(down),
    ):
        with pytest.raises(api.ApiError) as error:
            call()
        assert error.value.unreachable and error.value.retryable
        assert "cannot reach the prediction service" in error.value.message


def test_malformed_feedback_answers_are_api_errors() -> None:
    with pytest.raises(api.ApiError, match="unexpected shape"):
        api.send_feedback(
            api.ApiConfig(), b"png", "image/png", 3, transport=answering({"label": 3})
        )
    with pytest.raises(api.ApiError, match="unexpected shape"):
        api.feedback_stats(api.ApiConfig(), transport=answering({"by_label": {}}))
