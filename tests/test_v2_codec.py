"""The KServe V2 wire codec on its own: bytes in, parsed requests and encoded answers out, no server.

tests/test_v2.py drives the same codec through HTTP with tritonclient; here each framing rule is
checked directly, including the binary tensor extension's offsets and the errors' statuses.
"""

from __future__ import annotations

import base64
import gzip
import struct
import subprocess
import sys
import zlib
from typing import Any

import numpy as np
import orjson
import pytest

from service.v2_codec import (
    InferRequest,
    ProtocolError,
    decode_bytes_tensor,
    decompress,
    encode_response,
    parse_infer_request,
    split_body,
)

PNG_BYTES = b"\x89PNG\r\n\x1a\nnot really the rest of a png"


def bytes_tensor(*items: bytes) -> bytes:
    """Triton's binary BYTES layout: each element's length (little-endian uint32), then it."""
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def infer(inputs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"inputs": inputs, **extra}


def test_the_codec_imports_nothing_of_http() -> None:
    code = (
        "import sys, service.v2_codec; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette', 'uvicorn'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- Content-Encoding --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("", lambda body: body)],
)
def test_gzip_deflate_and_identity_bodies_are_read(encoding: str, compress: Any) -> None:
    body = b'{"inputs": []}' * 10
    assert decompress(compress(body), encoding, limit=1000) == body


def test_a_body_that_inflates_past_the_limit_is_413() -> None:
    bomb = gzip.compress(b"0" * 100_000)
    with pytest.raises(ProtocolError, match="over the limit of 1,000 bytes") as raised:
        decompress(bomb, "gzip", limit=1000)
    assert raised.value.status == 413


@pytest.mark.parametrize(
    ("body", "encoding", "status", "message"),
    [
        (b"x", "br", 415, "'br' is not supported"),
        (b"not gzip at all", "gzip", 400, "not valid gzip"),
        (gzip.compress(b"{}" * 100)[:-12], "gzip", 400, "truncated"),
    ],
)
def test_bad_encodings_say_what_is_wrong(
    body: bytes, encoding: str, status: int, message: str
) -> None:
    with pytest.raises(ProtocolError, match=message) as raised:
        decompress(body, encoding, limit=10_000)
    assert raised.value.status == status


# --- JSON header and binary data ---------------------------------------------------------------


def test_the_header_length_splits_json_from_binary_data() -> None:
    header = b'{"inputs": []}'
    payload, binary = split_body(header + b"\x01\x02\x03", str(len(header)))
    assert payload == {"inputs": []} and binary == b"\x01\x02\x03"


@pytest.mark.parametrize(
    ("body", "header_length", "message"),
    [
        (b'{"inputs": []}', "twelve", "must be a byte count"),
        (b'{"inputs": []}', "0", "but the body has"),
        (b'{"inputs": []}', "99", "but the body has"),
        (b'{"inputs": []}\x00\x01', None, "needs Inference-Header-Content-Length"),
        (b"[1, 2]", None, "must be a JSON object"),
        (b"{", None, "not valid JSON"),
    ],
)
def test_bad_framing_is_400_with_a_reason(
    body: bytes, header_length: str | None, message: str
) -> None:
    with pytest.raises(ProtocolError, match=message) as raised:
        split_body(body, header_length)
    assert raised.value.status == 400


# --- Inputs ------------------------------------------------------------------------------------


def test_fp32_pixels_in_json_nested_or_flat() -> None:
    pixels = np.linspace(0, 1, 2 * 784, dtype=np.float32).reshape(2, 1, 28, 28)
    nested = infer(
        [{"name": "input", "datatype": "FP32", "shape": [2, 1, 28, 28], "data": pixels.tolist()}]
    )
    flat = infer(
        [{"name": "input", "datatype": "FP32", "shape": [2, 784], "data": pixels.ravel().tolist()}]
    )
    for payload in (nested, flat):
        parsed = parse_infer_request(payload, b"", max_images=64)
        assert parsed.images is None and parsed.digits is not None
        np.testing.assert_array_equal(parsed.digits, pixels.reshape(2, 28, 28))


def test_fp32_pixels_as_binary_data() -> None:
    pixels = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    data = pixels.astype("<f4").tobytes()
    tensor = {
        "name": "input",
        "datatype": "FP32",
        "shape": [3, 784],
        "parameters": {"binary_data_size": len(data)},
    }
    parsed = parse_infer_request(infer([tensor], id="req-1"), data, max_images=64)
    assert parsed.id == "req-1" and parsed.digits is not None
    np.testing.assert_array_equal(parsed.digits, pixels.reshape(3, 28, 28))


def test_bytes_images_in_json_as_base64_and_in_binary() -> None:
    encoded = base64.b64encode(PNG_BYTES).decode()
    json_tensor = {
        "name": "image",
        "datatype": "BYTES",
        "shape": [2],
        "data": [encoded, "data:image/png;base64," + encoded],
    }
    assert parse_infer_request(infer([json_tensor]), b"", 64).images == [PNG_BYTES, PNG_BYTES]
    chunk = bytes_tensor(PNG_BYTES, b"second")
    binary_tensor = {
        "name": "image",
        "datatype": "BYTES",
        "shape": [2, 1],
        "parameters": {"binary_data_size": len(chunk)},
    }
    assert parse_infer_request(infer([binary_tensor]), chunk, 64).images == [PNG_BYTES, b"second"]


def test_decode_bytes_tensor_reads_exactly_the_declared_elements() -> None:
    chunk = bytes_tensor(b"a", b"", b"bc")
    assert decode_bytes_tensor(chunk, 3, [3]) == [b"a", b"", b"bc"]
    with pytest.raises(ProtocolError, match="ends after 0 of the 1 elements"):
        decode_bytes_tensor(b"\x01\x00", 1, [1])
    with pytest.raises(ProtocolError, match="ends after 3 of the 4 elements"):
        decode_bytes_tensor(chunk, 4, [4])
    with pytest.raises(ProtocolError, match="shorter than an element says"):
        decode_bytes_tensor(struct.pack("<I", 10) + b"abc", 1, [1])
    with pytest.raises(ProtocolError, match="more elements than the 2 its shape"):
        decode_bytes_tensor(chunk, 2, [2])


def test_a_huge_count_of_empty_elements_is_refused_after_the_declared_one() -> None:
    # 1.3 M empty elements declared as one: the walk stops after the first, whatever follows.
    chunk = b"\x00\x00\x00\x00" * 1_300_000
    with pytest.raises(ProtocolError, match=r"more elements than the 1 .* \(5,199,996 bytes left"):
        decode_bytes_tensor(chunk, 1, [1])


def test_image_data_nested_deeper_than_its_shape_is_refused_without_recursion() -> None:
    data: object = "AA=="
    for _ in range(900):  # deeper than Python's recursion would go
        data = [data]
    tensor = {"name": "image", "datatype": "BYTES", "shape": [1], "data": data}
    with pytest.raises(ProtocolError, match=r"nested deeper than its shape \[1\]"):
        parse_infer_request(infer([tensor]), b"", 64)


def pixels_tensor(**changes: Any) -> dict[str, Any]:
    tensor = {"name": "input", "datatype": "FP32", "shape": [1, 784], "data": [0.5] * 784}
    return {**tensor, **changes}


@pytest.mark.parametrize(
    ("payload", "binary", "status", "message"),
    [
        ({"inputs": []}, b"", 400, "non-empty list of tensors"),
        ({"inputs": [pixels_tensor()], "id": 5}, b"", 400, "'id' must be a string"),
        ({"inputs": [pixels_tensor(), pixels_tensor()]}, b"", 400, "send exactly one input"),
        ({"inputs": [pixels_tensor(name="x")]}, b"", 400, "unknown input 'x'"),
        ({"inputs": [pixels_tensor(datatype="FP64")]}, b"", 400, "must be FP32"),
        ({"inputs": [pixels_tensor(shape=[1, 28, 28])]}, b"", 400, "must have shape"),
        ({"inputs": [pixels_tensor(shape=[65, 784])]}, b"", 413, "1 to 64 images, got 65"),
        ({"inputs": [pixels_tensor(shape=[0, 784])]}, b"", 400, "1 to 64 images, got 0"),
        ({"inputs": [pixels_tensor(data=[0.5] * 783)]}, b"", 400, "needs 784 values, got 783"),
        ({"inputs": [pixels_tensor(data=[2.0] * 784)]}, b"", 400, "divide 0-255 values by 255"),
        ({"inputs": [pixels_tensor(data=["a"] * 784)]}, b"", 400, "must be numbers"),
        ({"inputs": [pixels_tensor(data=None)]}, b"", 400, "has no 'data'"),
        (
            {"inputs": [pixels_tensor(parameters={"binary_data_size": 8})]},
            b"\x00" * 8,
            400,
            "has both 'data' and binary_data_size",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "input",
                        "datatype": "FP32",
                        "shape": [1, 2],
                        "parameters": {"binary_data_size": 9},
                    }
                ]
            },
            b"\x00" * 8,
            400,
            "declares 9 bytes of binary data but only 8 follow",
        ),
        ({"inputs": [pixels_tensor()]}, b"\x00" * 4, 400, "4 bytes after the JSON header"),
        (
            {"inputs": [pixels_tensor(parameters={"shared_memory_region": "r"})]},
            b"",
            400,
            "shared-memory inputs are not supported",
        ),
        (
            {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [2], "data": ["AA=="]}]},
            b"",
            400,
            "needs 2 images, got 1",
        ),
        (
            {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["@@"]}]},
            b"",
            400,
            "not base64",
        ),
        (
            {"inputs": [pixels_tensor()], "outputs": [{"name": "logits"}]},
            b"",
            400,
            "unknown output",
        ),
        (
            {
                "inputs": [pixels_tensor()],
                "outputs": [{"name": "digit", "parameters": {"classification": 2}}],
            },
            b"",
            400,
            "classification extension is not supported",
        ),
    ],
)
def test_requests_the_model_cannot_take_are_refused_with_a_reason(
    payload: dict[str, Any], binary: bytes, status: int, message: str
) -> None:
    with pytest.raises(ProtocolError, match=message) as raised:
        parse_infer_request(payload, binary, max_images=64)
    assert raised.value.status == status


# --- Outputs -----------------------------------------------------------------------------------


def probabilities_of(*digits: int) -> np.ndarray:
    rows = np.full((len(digits), 10), 0.01, dtype=np.float32)
    rows[np.arange(len(digits)), digits] = 0.91
    return rows


def answers_for(*digits: int, verdict: str = "digit") -> tuple[np.ndarray, list[int], list[str]]:
    """What the runtime hands the codec: probabilities, digits and verdicts."""
    return probabilities_of(*digits), list(digits), [verdict] * len(digits)


def test_all_outputs_in_json_by_default_with_the_id_echoed() -> None:
    request = parse_infer_request(
        infer([pixels_tensor(shape=[2, 784], data=[0.5] * 1568)], id="x"), b"", 64
    )
    header, binary = encode_response(request, *answers_for(3, 8, verdict="unsure"), model_version=3)
    body = orjson.loads(header)
    assert binary == b"" and body["id"] == "x" and body["model_name"] == "mnist-cnn"
    assert body["model_version"] == "3"  # the version that answered, as the protocol spells it
    outputs = {output["name"]: output for output in body["outputs"]}
    assert outputs["digit"] == {"name": "digit", "datatype": "INT64", "shape": [2], "data": [3, 8]}
    assert outputs["probabilities"]["shape"] == [2, 10]
    assert outputs["probabilities"]["data"][3] == pytest.approx(0.91)
    assert outputs["verdict"] == {
        "name": "verdict",
        "datatype": "BYTES",
        "shape": [2],
        "data": ["unsure", "unsure"],
    }


def test_binary_outputs_follow_the_json_header_in_the_order_asked() -> None:
    payload = infer(
        [pixels_tensor()],
        outputs=[{"name": "digit", "parameters": {"binary_data": True}}, {"name": "probabilities"}],
    )
    request = parse_infer_request(payload, b"", 64)
    assert request.outputs == {"digit": True, "probabilities": False}
    header, binary = encode_response(request, *answers_for(6), model_version=1)
    outputs = orjson.loads(header)["outputs"]
    assert [output["name"] for output in outputs] == ["digit", "probabilities"]
    assert outputs[0]["parameters"] == {"binary_data_size": 8} and "data" not in outputs[0]
    assert np.frombuffer(binary, "<i8").tolist() == [6]


def test_binary_data_output_asks_for_every_output_in_binary() -> None:
    payload = infer([pixels_tensor()], parameters={"binary_data_output": True})
    request = parse_infer_request(payload, b"", 64)
    assert request.outputs == {"probabilities": True, "digit": True, "verdict": True}
    header, binary = encode_response(
        request, *answers_for(2, verdict="not_a_digit"), model_version=1
    )
    assert all("data" not in output for output in orjson.loads(header)["outputs"])
    # Triton's BYTES layout: each element's length as a little-endian uint32, then the bytes.
    assert len(binary) == 10 * 4 + 8 + 4 + len(b"not_a_digit")
    probabilities = np.frombuffer(binary[:40], "<f4")
    assert probabilities.argmax() == 2 and np.frombuffer(binary[40:48], "<i8").tolist() == [2]
    assert binary[48:] == struct.pack("<I", len(b"not_a_digit")) + b"not_a_digit"


def test_a_request_without_an_id_gets_an_answer_without_one() -> None:
    request = InferRequest(None, outputs={"digit": False})
    header, _ = encode_response(request, *answers_for(1), model_version=1)
    assert "id" not in orjson.loads(header)
