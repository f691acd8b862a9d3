"""The Open Inference Protocol (KServe V2) routes, driven by tritonclient (a client nobody here
wrote) against the real service on a loopback port. Its predictions must equal /predict's for the
same MNIST test digits, with and without the binary tensor extension."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from devtools.drawn_digits import encode
from devtools.servers import LiveServer, start_api
from service.imaging.normalise import preprocess_image

MODEL = "mnist-cnn"
MAX_PIXELS = 4096 * 4096


@pytest.fixture(scope="module")
def triton_client(api_server: LiveServer) -> Iterator[triton.InferenceServerClient]:
    tc = triton.InferenceServerClient(api_server.url.removeprefix("http://"))
    yield tc
    tc.close()


@pytest.fixture(scope="module")
def samples(mnist_test: tuple[np.ndarray, np.ndarray]) -> tuple[list[bytes], np.ndarray]:
    """64 MNIST test digits as PNG files, and their labels."""
    images, labels = mnist_test
    return [encode(image) for image in images[:64]], labels[:64]


def _predict(server: LiveServer, pngs: list[bytes]) -> np.ndarray:
    """The product's own answer: (N, 10) probabilities from /predict (one) or /predict/batch."""
    if len(pngs) == 1:
        response = httpx.post(
            f"{server.url}/predict",
            content=pngs[0],
            headers={"Content-Type": "image/png"},
            timeout=30,
        )
        response.raise_for_status()
        return np.array([response.json()["probabilities"]])
    images = [base64.b64encode(png).decode() for png in pngs]
    response = httpx.post(f"{server.url}/predict/batch", json={"images": images}, timeout=30)
    response.raise_for_status()
    return np.array([answer["probabilities"] for answer in response.json()["predictions"]])


def _pixels_input(pixels: np.ndarray, binary: bool) -> triton.InferInput:
    tensor = triton.InferInput("input", list(pixels.shape), "FP32")
    return tensor.set_data_from_numpy(pixels.astype(np.float32), binary_data=binary)


def _status(error: pytest.ExceptionInfo[InferenceServerException]) -> str | None:
    return error.value.status()


def test_health_and_metadata(triton_client: triton.InferenceServerClient) -> None:
    assert triton_client.is_server_live()
    assert triton_client.is_server_ready()
    assert triton_client.is_model_ready(MODEL)
    assert triton_client.is_model_ready(MODEL, "1")
    assert not triton_client.is_model_ready("resnet50")
    assert not triton_client.is_model_ready(MODEL, "2")
    assert "binary_tensor_data" in triton_client.get_server_metadata()["extensions"]
    metadata = triton_client.get_model_metadata(MODEL, "1")
    assert metadata["name"] == MODEL and metadata["versions"] == ["1"]
    assert {(t["name"], t["datatype"]) for t in metadata["inputs"]} == {
        ("input", "FP32"),
        ("image", "BYTES"),
    }
    assert {(t["name"], t["datatype"], len(t["shape"])) for t in metadata["outputs"]} == {
        ("probabilities", "FP32", 2),
        ("digit", "INT64", 1),
        ("verdict", "BYTES", 1),
    }
    with pytest.raises(InferenceServerException) as error:
        triton_client.get_model_metadata("resnet50")
    assert _status(error) == "404" and "resnet50" in error.value.message()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("count", [1, 64])
def test_input_tensor_matches_predict(
    triton_client: triton.InferenceServerClient,
    api_server: LiveServer,
    samples: tuple[list[bytes], np.ndarray],
    count: int,
    binary: bool,
) -> None:
    pngs, labels = samples[0][:count], samples[1][:count]
    # The digits exactly as /predict's preprocessing makes them, sent already preprocessed.
    digits = np.stack([preprocess_image(png, MAX_PIXELS) for png in pngs])[:, None]
    # JSON both ways, or the binary extension both ways (tritonclient's default).
    outputs = (
        None
        if binary
        else [
            triton.InferRequestedOutput(name, binary_data=False)
            for name in ("probabilities", "digit", "verdict")
        ]
    )
    result = triton_client.infer(MODEL, [_pixels_input(digits, binary)], outputs=outputs)

    probabilities, predicted = result.as_numpy("probabilities"), result.as_numpy("digit")
    assert probabilities.shape == (count, 10) and probabilities.dtype == np.float32
    assert predicted.shape == (count,) and predicted.dtype == np.int64
    sent_as = result.get_output("digit")
    assert ("data" not in sent_as) == binary
    assert (sent_as.get("parameters", {}).get("binary_data_size") == count * 8) == binary

    verdicts = result.as_numpy("verdict")
    assert verdicts.shape == (count,)
    assert {v.decode() if isinstance(v, bytes) else v for v in verdicts} <= {
        "digit",
        "unsure",
        "not_a_digit",
    }

    expected = _predict(api_server, pngs)
    np.testing.assert_array_equal(predicted, expected.argmax(axis=1))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert (predicted == labels).mean() >= 0.95


def test_flat_784_pixels_read_row_major(
    triton_client: triton.InferenceServerClient,
    mnist_test: tuple[np.ndarray, np.ndarray],
) -> None:
    images, labels = mnist_test
    # Raw MNIST digits are already centred the MNIST way: scaling to 0-1 is the client's job.
    pixels = images[:64].reshape(64, 784) / 255
    result = triton_client.infer(MODEL, [_pixels_input(pixels, binary=True)], model_version="1")
    # A transposed or mis-strided read would leave the accuracy near chance, not near 99%.
    assert (result.as_numpy("digit") == labels[:64]).mean() >= 0.95


@pytest.mark.parametrize("binary", [False, True], ids=["json-base64", "binary"])
def test_image_bytes_match_predict(
    triton_client: triton.InferenceServerClient,
    api_server: LiveServer,
    samples: tuple[list[bytes], np.ndarray],
    binary: bool,
) -> None:
    pngs = samples[0][:16]
    # In JSON, BYTES elements are strings: image files travel base64-encoded.
    items = pngs if binary else [base64.b64encode(png) for png in pngs]
    tensor = triton.InferInput("image", [len(pngs)], "BYTES")
    tensor.set_data_from_numpy(np.array(items, dtype=np.object_), binary_data=binary)
    result = triton_client.infer(MODEL, [tensor])
    expected = _predict(api_server, pngs)
    np.testing.assert_array_equal(result.as_numpy("digit"), expected.argmax(axis=1))
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-6)


def test_outputs_selection_id_and_compression(
    triton_client: triton.InferenceServerClient,
    samples: tuple[list[bytes], np.ndarray],
) -> None:
    digits = np.stack([preprocess_image(png, MAX_PIXELS) for png in samples[0][:4]])[:, None]
    result = triton_client.infer(
        MODEL,
        [_pixels_input(digits, binary=True)],
        request_id="req-7",
        outputs=[triton.InferRequestedOutput("digit")],
        request_compression_algorithm="gzip",
    )
    assert result.get_response()["id"] == "req-7"
    assert [output["name"] for output in result.get_response()["outputs"]] == ["digit"]
    assert result.as_numpy("probabilities") is None
    np.testing.assert_array_equal(result.as_numpy("digit"), samples[1][:4])


def test_stats_count_inferences_and_failures(triton_client: triton.InferenceServerClient) -> None:
    def stats() -> dict:
        return triton_client.get_inference_statistics(MODEL)["model_stats"][0]

    before = stats()
    triton_client.infer(MODEL, [_pixels_input(np.zeros((3, 784)), binary=True)])
    with pytest.raises(InferenceServerException):
        triton_client.infer(MODEL, [_pixels_input(np.full((1, 784), 255.0), binary=True)])
    after = stats()
    assert after["inference_count"] - before["inference_count"] == 3
    assert after["execution_count"] - before["execution_count"] == 1
    for kind in ("success", "fail"):
        assert (
            after["inference_stats"][kind]["count"] - before["inference_stats"][kind]["count"] == 1
        )
    assert after["inference_stats"]["success"]["ns"] > before["inference_stats"]["success"]["ns"]


@pytest.mark.parametrize(
    ("pixels", "datatype", "status", "says"),
    [
        (np.zeros((1, 3, 28, 28)), "FP32", "400", "shape"),
        (np.zeros((2, 28, 28)), "FP32", "400", "shape"),
        (np.zeros((1, 784)), "FP64", "400", "FP32"),
        (np.zeros((1, 784)), "INT32", "400", "FP32"),
        (np.full((1, 784), 255.0), "FP32", "400", "0-1"),
        (np.zeros((65, 784)), "FP32", "413", "1 to 64"),
    ],
    ids=["3-channels", "no-channel-axis", "fp64", "int32", "0-255", "too-many"],
)
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_bad_inputs_are_client_errors(
    triton_client: triton.InferenceServerClient,
    pixels: np.ndarray,
    datatype: str,
    status: str,
    says: str,
    binary: bool,
) -> None:
    numpy_type = {"FP32": np.float32, "FP64": np.float64, "INT32": np.int32}[datatype]
    tensor = triton.InferInput("input", list(pixels.shape), datatype)
    tensor.set_data_from_numpy(pixels.astype(numpy_type), binary_data=binary)
    with pytest.raises(InferenceServerException) as error:
        triton_client.infer(MODEL, [tensor])
    assert _status(error) == status
    assert says in error.value.message()


def test_unknown_model_infer(triton_client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as error:
        triton_client.infer("resnet50", [_pixels_input(np.zeros((1, 784)), binary=True)])
    assert _status(error) == "404"


def _error_body(response: httpx.Response) -> str:
    """The protocol's error shape, exactly: {"error": "<message>"} and nothing else."""
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    return body["error"]


def test_errors_have_the_protocols_shape(api_server: LiveServer) -> None:
    url = f"{api_server.url}/v2"
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": [1, 784],
                    "parameters": {"binary_data_size": 784 * 4},
                }
            ]
        }
    ).encode()
    cases = [
        ("GET", "/models/resnet50", {}, 404),
        ("GET", "/models/mnist-cnn/versions/7", {}, 404),
        ("GET", "/no/such/endpoint", {}, 404),
        ("GET", "/models/mnist-cnn/infer", {}, 405),
        ("POST", "/models/mnist-cnn/infer", {"content": b"{not json"}, 400),
        ("POST", "/models/mnist-cnn/infer", {"json": {"inputs": []}}, 400),
        (
            "POST",
            "/models/mnist-cnn/infer",
            {
                "json": {
                    "inputs": [
                        {
                            "name": "pixels",
                            "datatype": "FP32",
                            "shape": [1, 784],
                            "data": [0.0] * 784,
                        }
                    ]
                }
            },
            400,
        ),
        (
            "POST",
            "/models/mnist-cnn/infer",
            {
                "json": {
                    "inputs": [
                        {
                            "name": "input",
                            "datatype": "FP32",
                            "shape": [1, 784],
                            "data": [0.0] * 783,
                        }
                    ]
                }
            },
            400,
        ),
        # Binary data one float short of what binary_data_size declares.
        (
            "POST",
            "/models/mnist-cnn/infer",
            {
                "content": header + bytes(783 * 4),
                "headers": {"Inference-Header-Content-Length": str(len(header))},
            },
            400,
        ),
        # Binary data one float longer: bytes that belong to no input.
        (
            "POST",
            "/models/mnist-cnn/infer",
            {
                "content": header + bytes(785 * 4),
                "headers": {"Inference-Header-Content-Length": str(len(header))},
            },
            400,
        ),
        # Binary data without the header that says where the JSON ends.
        ("POST", "/models/mnist-cnn/infer", {"content": header + bytes(784 * 4)}, 400),
        (
            "POST",
            "/models/mnist-cnn/infer",
            {
                "json": {
                    "inputs": [
                        {
                            "name": "image",
                            "datatype": "BYTES",
                            "shape": [1],
                            "data": [base64.b64encode(b"not an image").decode()],
                        }
                    ]
                }
            },
            422,
        ),
        (
            "POST",
            "/models/mnist-cnn/infer",
            {
                "json": {
                    "inputs": [
                        {
                            "name": "input",
                            "datatype": "FP32",
                            "shape": [1, 784],
                            "data": [0.0] * 784,
                        }
                    ],
                    "outputs": [{"name": "logits"}],
                }
            },
            400,
        ),
    ]
    for method, path, options, status in cases:
        response = httpx.request(method, url + path, timeout=30, **options)
        assert response.status_code == status, (path, response.text)
        _error_body(response)


def test_rest_of_the_app_keeps_its_detail_shape(api_server: LiveServer) -> None:
    response = httpx.post(f"{api_server.url}/predict", json={}, timeout=30)
    assert response.status_code == 422 and "detail" in response.json()
    assert "detail" in httpx.get(f"{api_server.url}/no-such-page", timeout=30).json()


def test_middleware_refusals_reach_tritonclient_as_the_servers_own_words() -> None:
    """401, 413 and 429 are decided before any route runs; on /v2 they still answer the protocol's
    {"error": ...}, so tritonclient raises with the server's text instead of failing to parse."""
    key, limit = "s3cret-key", 4096
    env = {"API_KEY": key, "RATE_LIMIT": "3/minute", "MAX_BODY_BYTES": str(limit)}
    with start_api(env=env) as server:
        client = triton.InferenceServerClient(server.url.removeprefix("http://"))
        keyed = {"X-API-Key": key}
        one = _pixels_input(np.zeros((1, 1, 28, 28)), binary=True)
        try:
            with pytest.raises(InferenceServerException) as unauthorised:
                client.infer(MODEL, [one])
            assert _status(unauthorised) == "401"
            assert unauthorised.value.message() == (
                "missing or wrong API key; send it in the X-API-Key header"
            )

            too_big = _pixels_input(np.zeros((2, 1, 28, 28)), binary=True)  # 6,272 bytes
            with pytest.raises(InferenceServerException) as over_limit:
                client.infer(MODEL, [too_big], headers=keyed)
            assert _status(over_limit) == "413"
            assert over_limit.value.message().startswith(
                f"the request body is over the limit of {limit:,} bytes"
            )

            with pytest.raises(InferenceServerException) as limited:
                for _ in range(4):  # the limit allows 3 a minute; refusals above did not count
                    assert client.infer(MODEL, [one], headers=keyed).as_numpy("digit").shape == (1,)
            assert _status(limited) == "429"
            assert limited.value.message().startswith("rate limit of 3 per 1 minute per client")
        finally:
            client.close()
