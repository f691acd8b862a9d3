"""The HTTP contract of /predict, /predict/batch, /health, /metrics and /openapi.json."""

from __future__ import annotations

import base64
import io
import re

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from PIL import Image

from devtools.drawn_digits import draw, to_png

DIGIT_FIELDS = {"digit", "confidence", "probabilities", "model", "device", "latency_ms"}


@pytest.fixture(scope="module")
def seven(mnist_test: tuple[np.ndarray, np.ndarray]) -> bytes:
    """MNIST's first test digit (a 7) drawn on a transparent 280×280 canvas, as a PNG."""
    images, labels = mnist_test
    assert labels[0] == 7
    return to_png(draw(images[0], np.random.default_rng(0), "rgba-transparent"))


@pytest.fixture(scope="module")
def two(mnist_test: tuple[np.ndarray, np.ndarray]) -> bytes:
    images, labels = mnist_test
    assert labels[1] == 2
    return to_png(draw(images[1], np.random.default_rng(0), "rgb-black-on-white"))


def assert_prediction(body: dict, digit: int) -> None:
    assert body.keys() >= DIGIT_FIELDS
    assert body["digit"] == digit
    assert body["model"] == "mnist-cnn" and body["device"] == "cpu"
    assert len(body["probabilities"]) == 10
    assert sum(body["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    assert body["confidence"] == pytest.approx(max(body["probabilities"]))
    assert body["latency_ms"] > 0


def test_health_reports_the_loaded_model(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["model_loaded"] is True and body["device"] == "cpu"
    assert body["model"]["name"] == "mnist-cnn" and body["model"]["parameters"] == 21_840
    assert re.fullmatch(r"[0-9a-f]{64}", body["model"]["sha256"])
    assert body["model"]["test_accuracy"] >= 0.993


def test_multipart_upload(client: TestClient, seven: bytes) -> None:
    response = client.post("/predict", files={"file": ("seven.png", seven, "image/png")})
    assert response.status_code == 200, response.text
    assert_prediction(response.json(), 7)


@pytest.mark.parametrize(
    ("content_type", "fmt"),
    [
        ("image/png", "PNG"),
        ("image/jpeg", "JPEG"),
        ("image/bmp", "BMP"),
        ("image/gif", "GIF"),
        ("image/webp", "WEBP"),
        ("image/tiff", "TIFF"),
    ],
)
def test_raw_body_in_every_image_type(
    client: TestClient, seven: bytes, content_type: str, fmt: str
) -> None:
    buffer = io.BytesIO()
    image = Image.open(io.BytesIO(seven))
    if fmt in ("JPEG", "BMP"):  # no alpha channel: flatten the drawing onto a black canvas
        image = Image.alpha_composite(Image.new("RGBA", image.size, "black"), image).convert("RGB")
    image.save(buffer, fmt)
    response = client.post(
        "/predict", content=buffer.getvalue(), headers={"Content-Type": content_type}
    )
    assert response.status_code == 200, response.text
    assert_prediction(response.json(), 7)


@pytest.mark.parametrize("prefix", ["", "data:image/png;base64,"])
def test_json_base64_image(client: TestClient, two: bytes, prefix: str) -> None:
    response = client.post("/predict", json={"image": prefix + base64.b64encode(two).decode()})
    assert response.status_code == 200, response.text
    assert_prediction(response.json(), 2)


def test_json_pixels(client: TestClient, mnist_test: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = mnist_test
    response = client.post("/predict", json={"pixels": images[3].tolist()})
    assert response.status_code == 200, response.text
    assert_prediction(response.json(), int(labels[3]))


def test_include_input_returns_the_28x28_image_the_model_saw(
    client: TestClient, seven: bytes
) -> None:
    response = client.post(
        "/predict?include_input=true", content=seven, headers={"Content-Type": "image/png"}
    )
    image = Image.open(io.BytesIO(base64.b64decode(response.json()["input_image"])))
    assert image.size == (28, 28) and image.mode == "L"
    pixels = np.asarray(image)
    assert pixels[0, 0] == 0 and pixels.max() == 255  # white digit on black, like MNIST
    assert (
        "input_image"
        not in client.post("/predict", content=seven, headers={"Content-Type": "image/png"}).json()
    )


def test_batch_multipart_keeps_order(client: TestClient, seven: bytes, two: bytes) -> None:
    files = [
        ("files", (f"{i}.png", data, "image/png")) for i, data in enumerate([seven, two, seven])
    ]
    response = client.post("/predict/batch", files=files)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["digit"] for p in predictions] == [7, 2, 7]
    for prediction, digit in zip(predictions, [7, 2, 7], strict=True):
        assert_prediction(prediction, digit)


def test_batch_json_mixes_forms_and_keeps_order(
    client: TestClient, seven: bytes, two: bytes, mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    images, labels = mnist_test
    body = {
        "images": [
            base64.b64encode(two).decode(),
            {"pixels": images[4].tolist()},
            {"image": base64.b64encode(seven).decode()},
        ]
    }
    response = client.post("/predict/batch", json=body)
    assert response.status_code == 200, response.text
    assert [p["digit"] for p in response.json()["predictions"]] == [2, int(labels[4]), 7]


BLANK = to_png(Image.new("L", (280, 280), 0))


@pytest.mark.parametrize(
    ("kwargs", "status", "detail"),
    [
        ({"content": BLANK, "headers": {"Content-Type": "image/png"}}, 422, "no digit found"),
        (
            {"content": b"not an image", "headers": {"Content-Type": "image/png"}},
            422,
            "the file is not an image this service reads: send PNG, JPEG, GIF, BMP, WebP or TIFF",
        ),
        ({"content": b"", "headers": {"Content-Type": "image/png"}}, 422, "empty"),
        (
            {"content": b"hello", "headers": {"Content-Type": "text/plain"}},
            415,
            "unsupported content type 'text/plain'",
        ),
        (
            {"content": b"<a/>", "headers": {"Content-Type": "application/xml"}},
            415,
            "Content-Type image/png",
        ),
        ({"json": {}}, 422, "holds no image"),
        ({"json": {"image": "%%% not base64 %%%"}}, 422, "not valid base64"),
        ({"json": {"pixels": [[0] * 28] * 27 + [[0] * 27]}}, 422, "rectangular"),
        ({"json": {"pixels": [[300] * 28] * 28}}, 422, "0-255"),
        (
            {"content": b"[1, 2", "headers": {"Content-Type": "application/json"}},
            422,
            "not valid JSON",
        ),
        ({"files": {"other": ("x.png", BLANK, "image/png")}}, 422, "no file in field 'file'"),
        ({"files": {"file": ("x.png", b"", "image/png")}}, 422, "empty"),
    ],
)
def test_client_errors_say_what_was_wrong(
    client: TestClient, kwargs: dict, status: int, detail: str
) -> None:
    response = client.post("/predict", **kwargs)
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert client.get("/health").status_code == 200


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    response = client.post(
        "/predict", content=b"\0" * (5 * 1024 * 1024 + 1), headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 413
    assert "over the limit" in response.json()["detail"]


def test_image_over_the_pixel_limit_is_413(client: TestClient) -> None:
    huge = to_png(Image.new("L", (5000, 4000), 0))
    response = client.post("/predict", content=huge, headers={"Content-Type": "image/png"})
    assert response.status_code == 413
    assert "5000×4000" in response.json()["detail"]


def test_too_many_images_in_one_batch_is_413(client: TestClient, seven: bytes) -> None:
    body = {"images": [base64.b64encode(seven).decode()] * 65}
    response = client.post("/predict/batch", json=body)
    assert response.status_code == 413
    assert "at most 64" in response.json()["detail"]


def test_one_bad_image_fails_its_batch_with_its_index(client: TestClient, seven: bytes) -> None:
    body = {"images": [base64.b64encode(seven).decode(), {"nothing": 1}]}
    response = client.post("/predict/batch", json=body)
    assert response.status_code == 422
    assert "images[1]" in response.json()["detail"]


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    assert client.get("/nope").status_code == 404
    assert client.get("/predict").status_code == 405
    assert "detail" in client.get("/nope").json()


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    response = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    first, second = (client.get("/health").headers["x-request-id"] for _ in range(2))
    assert re.fullmatch(r"[0-9a-f]{20}", first) and first != second


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{") or line.startswith(f"{name} "):
            series, value = line.rsplit(" ", 1)
            found = series[len(name) :].strip("{}").split(",") if "{" in series else []
            if ",".join(sorted(found)) == wanted:
                return float(value)
    return 0.0


def test_metrics_count_requests_predictions_and_batches(client: TestClient, seven: bytes) -> None:
    before = client.get("/metrics").text
    client.post("/predict", content=seven, headers={"Content-Type": "image/png"})
    client.post("/predict", content=b"junk", headers={"Content-Type": "image/png"})
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    labels = {"method": "POST", "route": "/predict"}
    for status in ("200", "422"):
        assert (
            metric(after.text, "http_requests_total", status=status, **labels)
            == metric(before, "http_requests_total", status=status, **labels) + 1
        )
    assert (
        metric(after.text, "predictions_total", digit="7")
        == metric(before, "predictions_total", digit="7") + 1
    )
    assert metric(after.text, "batch_size_count") == metric(before, "batch_size_count") + 1
    for name in (
        "http_request_duration_seconds_bucket",
        "model_inference_seconds_sum",
        "queue_wait_seconds_count",
        "queue_depth",
    ):
        assert name in after.text


def test_openapi_is_valid_and_documents_every_route_form_and_error(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    validate(spec)
    for path in ("/health", "/metrics", "/predict", "/predict/batch"):
        assert path in spec["paths"], path
    predict = spec["paths"]["/predict"]["post"]
    assert {"multipart/form-data", "application/json", "image/png", "image/jpeg"} <= predict[
        "requestBody"
    ]["content"].keys()
    assert {"200", "413", "415", "422", "503"} <= predict["responses"].keys()
    assert client.get("/docs").status_code == 200


def test_a_real_uvicorn_process_serves_over_tcp(api_server, seven: bytes) -> None:
    with httpx.Client(base_url=api_server.url, timeout=10) as http:
        assert http.get("/health").json()["status"] == "ok"
        response = http.post("/predict", content=seven, headers={"Content-Type": "image/png"})
        assert response.status_code == 200
        assert_prediction(response.json(), 7)
        files = {"file": ("seven.png", seven, "image/png")}
        assert http.post("/predict", files=files).json()["digit"] == 7
