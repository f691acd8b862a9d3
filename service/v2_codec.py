"""The Open Inference Protocol (KServe V2 REST) wire format of this model: requests in, answers out.

Pure functions, no HTTP and no model, so the framing can be read (and tested) on its own; the routes
are in service/api/routes/v2.py. What the model takes:

- `input`, FP32, shape [N, 1, 28, 28] or [N, 784]: digits already normalised the MNIST way (white
  on black, centred in 28x28), pixels **0-1** (divide 0-255 values by 255). The server applies
  MNIST's mean and std itself. Values outside 0-1 are refused rather than guessed at.
- `image`, BYTES, shape [N] (or [N, 1]): encoded image files (PNG, JPEG, ...), run through the same
  preprocessing as /predict. In JSON each element is a base64 string (a data-URL prefix is allowed);
  in the binary extension each is raw bytes, prefixed by its length as a little-endian uint32.

It answers `probabilities` (FP32 [N, 10], calibrated), `digit` (INT64 [N]) and `verdict` (BYTES
[N]: "digit", "unsure", "not_a_digit" or "several_digits", as on /predict). The binary tensor extension
(Triton's, which tritonclient uses by default) is supported both ways: the request's JSON header is
the first `Inference-Header-Content-Length` bytes of the body and binary inputs follow it, in input
order, each `parameters.binary_data_size` bytes long; outputs asked for with `binary_data: true` (or
all of them with the request parameter `binary_data_output: true`) follow the response's JSON header
the same way.
"""

from __future__ import annotations

import binascii
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from service.imaging.decode import base64_file
from training.model import IMAGE_SIZE, MODEL_NAME

PIXELS = IMAGE_SIZE * IMAGE_SIZE
OUTPUTS = {"probabilities": "FP32", "digit": "INT64", "verdict": "BYTES"}

MODEL_METADATA: dict[str, Any] = {  # plus "versions", which the routes fill in
    "name": MODEL_NAME,
    "platform": "pytorch",
    "inputs": [
        {"name": "input", "datatype": "FP32", "shape": [-1, 1, IMAGE_SIZE, IMAGE_SIZE]},
        {"name": "image", "datatype": "BYTES", "shape": [-1]},
    ],
    "outputs": [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
        {"name": "digit", "datatype": "INT64", "shape": [-1]},
        {"name": "verdict", "datatype": "BYTES", "shape": [-1]},
    ],
}


class ProtocolError(ValueError):
    """A request the protocol (or this model) cannot take; `status` is the HTTP code to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class InferRequest:
    """A parsed infer request: exactly one of `digits` (from `input`) or `images` (from `image`)."""

    id: str | None
    digits: np.ndarray | None = None
    images: list[bytes] | None = None
    # Output name → send it as binary data (True) or as JSON (False), in the order to answer.
    outputs: dict[str, bool] = field(default_factory=dict)


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo Content-Encoding gzip/deflate (tritonclient can compress requests), up to `limit`."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise ProtocolError(
            f"Content-Encoding {encoding!r} is not supported; use gzip or deflate", 415
        )
    # gzip has its own header; tritonclient's "deflate" is zlib-wrapped, as HTTP means it.
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise ProtocolError(
            f"the body is not valid {encoding} data; compress the whole request body with "
            f"{encoding}, or send it uncompressed without Content-Encoding"
        ) from error
    if len(data) > limit:  # a small compressed body may inflate to anything: stop at the limit
        raise ProtocolError(f"the decompressed body is over the limit of {limit:,} bytes", 413)
    if not inflater.eof:
        raise ProtocolError(f"the {encoding} body is truncated")
    return data


def split_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """The JSON header and the binary data after it (empty without the binary extension)."""
    if header_length is None:
        json_part, binary = body, b""
    else:
        if not header_length.strip().isdigit():
            raise ProtocolError(
                f"Inference-Header-Content-Length must be a byte count, got {header_length!r}"
            )
        length = int(header_length)
        if length == 0 or length > len(body):
            raise ProtocolError(
                f"Inference-Header-Content-Length is {length} but the body has {len(body)} bytes"
            )
        json_part, binary = body[:length], body[length:]
    try:
        payload = orjson.loads(json_part)
    except orjson.JSONDecodeError as error:
        # JSON followed by binary tensors, sent without the header that says where the JSON ends.
        # (orjson says "unexpected content after document"; older releases said "trailing".)
        trailing = header_length is None and any(
            words in str(error) for words in ("after document", "trailing")
        )
        hint = " (binary data needs Inference-Header-Content-Length)" if trailing else ""
        raise ProtocolError(f"the inference request is not valid JSON ({error}){hint}") from error
    if not isinstance(payload, dict):
        raise ProtocolError("the inference request must be a JSON object with an 'inputs' list")
    return payload, binary


def parse_infer_request(payload: dict[str, Any], binary: bytes, max_images: int) -> InferRequest:
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError("'id' must be a string")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, dict) for t in inputs):
        raise ProtocolError("'inputs' must be a non-empty list of tensors")
    chunks = _binary_chunks(inputs, binary)
    if len(inputs) != 1:
        names = [tensor.get("name") for tensor in inputs]
        raise ProtocolError(
            f"send exactly one input, 'input' (FP32) or 'image' (BYTES); got {names}"
        )
    tensor, chunk = inputs[0], chunks[0]
    request = InferRequest(request_id, outputs=_requested_outputs(payload))
    name = tensor.get("name")
    if name == "input":
        request.digits = _read_pixels(tensor, chunk, max_images)
    elif name == "image":
        request.images = _read_images(tensor, chunk, max_images)
    else:
        raise ProtocolError(
            f"unknown input {name!r}; {MODEL_NAME} takes 'input' (FP32 "
            f"[N, 1, 28, 28] or [N, 784], pixels 0-1) or 'image' (BYTES [N])"
        )
    return request


def _binary_chunks(inputs: list[dict[str, Any]], binary: bytes) -> list[bytes | None]:
    """Each input's slice of the binary data, in input order; all of it must be accounted for."""
    chunks: list[bytes | None] = []
    offset = 0
    for tensor in inputs:
        parameters = tensor.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise ProtocolError(f"input {tensor.get('name')!r}: 'parameters' must be an object")
        if "shared_memory_region" in parameters:
            raise ProtocolError("shared-memory inputs are not supported; send the data in the body")
        size = parameters.get("binary_data_size")
        if size is None:
            chunks.append(None)
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ProtocolError(
                f"input {tensor.get('name')!r}: binary_data_size must be a byte count"
            )
        if "data" in tensor:
            raise ProtocolError(
                f"input {tensor.get('name')!r} has both 'data' and binary_data_size"
            )
        if offset + size > len(binary):
            raise ProtocolError(
                f"input {tensor.get('name')!r} declares {size} bytes of binary data "
                f"but only {len(binary) - offset} follow the JSON header"
            )
        chunks.append(binary[offset : offset + size])
        offset += size
    if offset != len(binary):
        raise ProtocolError(
            f"{len(binary) - offset} bytes after the JSON header belong to no input "
            "(check Inference-Header-Content-Length and binary_data_size)"
        )
    return chunks


def _shape(tensor: dict[str, Any]) -> list[int]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ProtocolError(f"input {tensor.get('name')!r}: 'shape' must be a list of sizes")
    return shape


def _check_datatype(tensor: dict[str, Any], expected: str) -> None:
    if tensor.get("datatype") != expected:
        raise ProtocolError(
            f"input {tensor['name']!r} must be {expected}, got datatype {tensor.get('datatype')!r}"
        )


def _check_count(count: int, max_images: int) -> None:
    if not 1 <= count <= max_images:
        raise ProtocolError(
            f"a request holds 1 to {max_images} images, got {count}",
            413 if count > max_images else 400,
        )


def _read_pixels(tensor: dict[str, Any], chunk: bytes | None, max_images: int) -> np.ndarray:
    _check_datatype(tensor, "FP32")
    shape = _shape(tensor)
    if shape[1:] not in ([1, IMAGE_SIZE, IMAGE_SIZE], [PIXELS]):
        raise ProtocolError(
            f"input 'input' must have shape [N, 1, 28, 28] or [N, 784], got {shape}"
        )
    count = shape[0]
    _check_count(count, max_images)
    if chunk is not None:
        if len(chunk) != count * PIXELS * 4:
            raise ProtocolError(
                f"input 'input' of shape {shape} needs {count * PIXELS * 4} bytes of "
                f"FP32 data, got {len(chunk)}"
            )
        values = np.frombuffer(chunk, dtype="<f4")
    else:
        values = _json_numbers(tensor.get("data"), count * PIXELS, shape)
    if not np.isfinite(values).all():
        raise ProtocolError("input 'input' holds NaN or infinity; pixels are numbers 0-1")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 1:
        raise ProtocolError(
            f"input 'input' pixels must lie in 0-1 (got {low:g} to {high:g}); "
            "divide 0-255 values by 255"
        )
    return values.astype(np.float32).reshape(count, IMAGE_SIZE, IMAGE_SIZE)


def _json_numbers(data: object, size: int, shape: list[int]) -> np.ndarray:
    if not isinstance(data, list):
        raise ProtocolError("input 'input' has no 'data' (nor binary_data_size)")
    try:
        values = np.array(data)  # flat or nested, row-major, as the protocol allows
    except ValueError as error:  # ragged nesting
        raise ProtocolError(
            "input 'input' data is not a rectangular array: every row must have the same length"
        ) from error
    if values.dtype.kind not in "iuf":  # strings and booleans are not pixels
        raise ProtocolError("input 'input' data must be numbers")
    if values.size != size:
        raise ProtocolError(
            f"input 'input' of shape {shape} needs {size} values, got {values.size}"
        )
    return values.ravel()


def _read_images(tensor: dict[str, Any], chunk: bytes | None, max_images: int) -> list[bytes]:
    _check_datatype(tensor, "BYTES")
    shape = _shape(tensor)
    if len(shape) not in (1, 2) or shape[1:] not in ([], [1]):
        raise ProtocolError(f"input 'image' must have shape [N] (one image file each), got {shape}")
    count = shape[0]
    _check_count(count, max_images)
    if chunk is not None:
        return decode_bytes_tensor(chunk, count, shape)
    items = _flatten(tensor.get("data"), shape)
    if len(items) != count:  # before any decoding
        raise ProtocolError(
            f"input 'image' of shape {shape} needs {count} images, got {len(items)}"
        )
    return [_from_base64(item) for item in items]


def _flatten(data: object, shape: list[int]) -> list[object]:
    """The elements of JSON data, flat or nested as the shape is; nothing deeper is walked, so a
    body nested hundreds of levels is refused, not recursed into."""
    if not isinstance(data, list):
        raise ProtocolError("input 'image' has no 'data' (nor binary_data_size)")
    level: list[object] = data
    for _ in range(len(shape) - 1):
        level = [leaf for item in level for leaf in (item if isinstance(item, list) else [item])]
    if any(isinstance(item, list) for item in level):
        raise ProtocolError(
            f"input 'image' data is nested deeper than its shape {shape}; send a flat list "
            "of base64 strings"
        )
    return level


def _from_base64(item: object) -> bytes:
    if not isinstance(item, str):
        raise ProtocolError("input 'image' data must be base64 strings of image files")
    try:
        return base64_file(item)
    except (binascii.Error, ValueError) as error:
        raise ProtocolError(
            f"input 'image' holds a string that is not base64 ({error}); in JSON "
            "each element is an image file, base64-encoded"
        ) from error


def decode_bytes_tensor(chunk: bytes, count: int, shape: list[int]) -> list[bytes]:
    """Triton's binary BYTES layout: each element is its length (little-endian uint32), then it.
    Exactly `count` elements (the declared shape's) are read: data left over after them is refused
    at once, however many more elements it would hold, so the work never grows with the body."""
    items: list[bytes] = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(chunk):
            raise ProtocolError(
                f"input 'image' binary data ends after {len(items)} of the {count} elements "
                f"its shape {shape} declares"
            )
        (length,) = struct.unpack_from("<I", chunk, offset)
        offset += 4
        if offset + length > len(chunk):
            raise ProtocolError("input 'image' binary data is shorter than an element says it is")
        items.append(chunk[offset : offset + length])
        offset += length
    if offset != len(chunk):
        raise ProtocolError(
            f"input 'image' binary data holds more elements than the {count} its shape {shape} "
            f"declares ({len(chunk) - offset:,} bytes left over)"
        )
    return items


def _requested_outputs(payload: dict[str, Any]) -> dict[str, bool]:
    parameters = payload.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ProtocolError("'parameters' must be an object")
    all_binary = parameters.get("binary_data_output") is True
    requested = payload.get("outputs") or []
    if not isinstance(requested, list) or not all(isinstance(o, dict) for o in requested):
        raise ProtocolError('\'outputs\' must be a list of objects like {"name": "digit"}')
    if not requested:  # none named: all of them
        return dict.fromkeys(OUTPUTS, all_binary)
    outputs: dict[str, bool] = {}
    for output in requested:
        name, options = output.get("name"), output.get("parameters") or {}
        if name not in OUTPUTS:
            raise ProtocolError(f"unknown output {name!r}; {MODEL_NAME} has {list(OUTPUTS)}")
        if not isinstance(options, dict):
            raise ProtocolError(f"output {name!r}: 'parameters' must be an object")
        if options.get("classification"):
            raise ProtocolError(
                "the classification extension is not supported; read 'digit' and "
                "'probabilities' instead"
            )
        if "shared_memory_region" in options:
            raise ProtocolError("shared-memory outputs are not supported")
        outputs[name] = options.get("binary_data", all_binary) is True
    return outputs


def model_metadata(versions: list[int]) -> dict[str, Any]:
    """The model metadata answer, listing `versions` (the protocol spells them as strings)."""
    return {"name": MODEL_NAME, "versions": [str(v) for v in versions]} | MODEL_METADATA


def encode_bytes_tensor(items: list[bytes]) -> bytes:
    """Triton's binary BYTES layout (the inverse of decode_bytes_tensor)."""
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def encode_response(
    request: InferRequest,
    probabilities: np.ndarray,
    digits: list[int],
    verdicts: Sequence[str],
    model_version: int,
) -> tuple[bytes, bytes]:
    """The response's JSON header and the binary data that follows it (empty when none asked):
    one version's answers, named by `model_version`."""
    tensors: dict[str, np.ndarray | list[str]] = {
        "probabilities": probabilities.astype("<f4", copy=False),
        "digit": np.asarray(digits, dtype="<i8"),
        "verdict": list(verdicts),
    }
    outputs, binary = [], []
    for name, as_binary in request.outputs.items():
        tensor = tensors[name]
        shape = list(tensor.shape) if isinstance(tensor, np.ndarray) else [len(tensor)]
        output: dict[str, Any] = {"name": name, "datatype": OUTPUTS[name], "shape": shape}
        if as_binary:
            data = (
                tensor.tobytes()
                if isinstance(tensor, np.ndarray)
                else encode_bytes_tensor([item.encode() for item in tensor])
            )
            output["parameters"] = {"binary_data_size": len(data)}
            binary.append(data)
        else:
            output["data"] = tensor.ravel() if isinstance(tensor, np.ndarray) else tensor
        outputs.append(output)
    response: dict[str, Any] = {"model_name": MODEL_NAME, "model_version": str(model_version)}
    if request.id is not None:
        response["id"] = request.id
    response["outputs"] = outputs
    return orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY), b"".join(binary)
