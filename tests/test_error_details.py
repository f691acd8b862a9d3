"""Every refusal is plain words: no Python type names, object addresses or library internals.

A client (and the drawing page, which shows the API's `detail` as is) must be told what was wrong
and what to send. Each request below is a different way to get it wrong, on every route; the
answers are collected and each one is checked for what a person should never have to read.
"""

from __future__ import annotations

import base64
import gzip
import io
import re

import pytest
from fastapi.testclient import TestClient
from PIL import Image

READABLE = "PNG, JPEG, GIF, BMP, WebP or TIFF"
NOT_AN_IMAGE = f"the file is not an image this service reads: send {READABLE}"

# What leaks when an exception's text is passed through: type names, reprs, numpy and torch.
LEAKS = re.compile(
    r"[A-Z]\w*(?:Error|Exception|Warning)\b"  # ValueError, UnidentifiedImageError, ...
    r"|<[\w.]+ object at 0x[0-9a-fA-F]+>|\b0x[0-9a-fA-F]{6,}\b"  # reprs and addresses
    r"|\bTraceback\b|File \"|\b(?:_io|_pickle|builtins|numpy|torch)\.\w"
    r"|\bdtype\b|\bNoneType\b|<[USfiu]\d+\b|\b(?:float|u?int)(?:16|32|64)\b"
)


def assert_plain(text: str) -> None:
    """The text says nothing a person would have to be a Python programmer to read."""
    assert text, "an empty refusal tells nobody anything"
    leak = LEAKS.search(text)
    assert leak is None, f"{leak.group(0)!r} in {text!r}"


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


NOISE = Image.effect_noise((64, 64), 80)  # no run of pixels compresses away
SEVEN = encode(Image.new("L", (28, 28), 0), "PNG")
NOT_IMAGES = {
    "text": b"just some notes, not a picture",
    "html": b"<!doctype html><html><body>hello</body></html>",
    "pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n",
    "zip": b"PK\x03\x04" + b"\0" * 40,
    "eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
    "psd": b"8BPS\0\x01" + b"\0" * 40,
    "ico": b"\0\0\x01\0\x01\0\x10\x10\0\0\x01\0 \0" + b"\0" * 40,
}
# Real images of each kind, cut in half: the header says what they are, the pixels are missing.
DAMAGED = {
    f"{fmt.lower()}-cut-short": encode(NOISE, fmt)[: len(encode(NOISE, fmt)) // 2]
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
} | {"png-signature-then-junk": b"\x89PNG\r\n\x1a\n" + b"junk" * 20}
RAW = {"Content-Type": "image/png"}
JSON = {"Content-Type": "application/json"}


def refusals(client: TestClient) -> dict[str, tuple[int, str]]:
    """(status, text) of each bad request, named for the failure message if one goes wrong."""
    requests: dict[str, dict[str, object]] = {}
    for name, data in {**NOT_IMAGES, **DAMAGED}.items():
        requests[f"raw {name}"] = {"url": "/predict", "content": data, "headers": RAW}
        b64 = base64.b64encode(data).decode()
        requests[f"json {name}"] = {"url": "/predict", "json": {"image": b64}}
        requests[f"batch {name}"] = {"url": "/predict/batch", "json": {"images": [b64]}}
        requests[f"form {name}"] = {"url": "/predict", "files": {"file": ("d.png", data)}}
        requests[f"v2 {name}"] = {
            "url": "/v2/models/mnist-cnn/infer",
            "json": {
                "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": [b64]}]
            },
        }
    bodies = {
        "empty": b"",
        "not json": b"{nope",
        "nan": b'{"pixels": [[NaN]]}',
        "deep": b'{"pixels": ' + b"[" * 900 + b"]" * 900 + b"}",
        "text pixels": b'{"pixels": [["a", "b"], ["c", "d"]]}',
        "null pixels": b'{"pixels": [[null, 1], [1, 1]]}',
        "object pixels": b'{"pixels": [[{"a": 1}, 1], [1, 1]]}',
        "ragged": b'{"pixels": [[1, 2], [3]]}',
        "flat": b'{"pixels": [1, 2, 3]}',
        "bool image": b'{"image": true}',
        "number image": b'{"image": 5}',
        "bad base64": b'{"image": "@@@@"}',
        "odd base64": b'{"image": "abcde"}',
        "array body": b"[1, 2, 3]",
        "no images": b'{"images": []}',
        "image list": b'{"images": "x"}',
    }
    for name, body in bodies.items():
        for url in ("/predict", "/predict/batch"):
            requests[f"{url} {name}"] = {"url": url, "content": body, "headers": JSON}
    v2_bodies = {
        "not json": b"{nope",
        "no inputs": b"{}",
        "bad id": b'{"id": 5, "inputs": [{}]}',
        "unknown input": b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}',
        "wrong datatype": b'{"inputs": [{"name": "input", "datatype": "INT8", "shape": [1, 784]}]}',
        "ragged data": b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 784],'
        b' "data": [[1, 2], [3]]}]}',
        "text data": b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 784],'
        b' "data": ["a"]}]}',
        "bad base64": b'{"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],'
        b' "data": ["@@"]}]}',
        "bad outputs": b'{"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],'
        b' "data": ["AA=="]}], "outputs": [{"name": "nope"}]}',
    }
    for name, body in v2_bodies.items():
        requests[f"v2 {name}"] = {
            "url": "/v2/models/mnist-cnn/infer",
            "content": body,
            "headers": JSON,
        }
    requests["v2 bad gzip"] = {
        "url": "/v2/models/mnist-cnn/infer",
        "content": b"not gzip at all",
        "headers": {**JSON, "Content-Encoding": "gzip"},
    }
    requests["v2 cut gzip"] = {
        "url": "/v2/models/mnist-cnn/infer",
        "content": gzip.compress(b'{"inputs": []}')[:12],
        "headers": {**JSON, "Content-Encoding": "gzip"},
    }
    requests["v2 header length"] = {
        "url": "/v2/models/mnist-cnn/infer",
        "content": b"{}",
        "headers": {**JSON, "Inference-Header-Content-Length": "lots"},
    }
    requests["unknown model"] = {"url": "/v2/models/other/infer", "content": b"{}"}
    requests["text/plain"] = {
        "url": "/predict",
        "content": b"hi",
        "headers": {"Content-Type": "text/plain"},
    }
    requests["no content type"] = {
        "url": "/predict",
        "content": b"hi",
        "headers": {"Content-Type": ""},
    }
    requests["bad query"] = {
        "url": "/predict?include_input=perhaps",
        "content": SEVEN,
        "headers": RAW,
    }
    requests["form without file"] = {
        "url": "/predict",
        "data": {"other": "x"},
        "files": {"x": ("a", b"1")},
    }
    requests["broken multipart"] = {
        "url": "/predict",
        "content": b"--zzz\r\nContent-Disposition: form-data\r\n\r\n",
        "headers": {"Content-Type": "multipart/form-data; boundary=yyy"},
    }
    requests["bad length"] = {
        "url": "/predict",
        "content": SEVEN,
        "headers": {**RAW, "Content-Length": "x"},
    }

    answers: dict[str, tuple[int, str]] = {}
    for name, request in requests.items():
        url = request.pop("url")
        response = client.post(str(url), **request)  # type: ignore[arg-type]
        body = response.json()
        answers[name] = (response.status_code, str(body.get("detail") or body.get("error")))
    for name, method, url in [
        ("unknown route", "GET", "/nowhere"),
        ("wrong method", "DELETE", "/predict"),
        ("v2 unknown path", "GET", "/v2/nothing"),
        ("v2 unknown version", "GET", "/v2/models/mnist-cnn/versions/9"),
    ]:
        response = client.request(method, url)
        body = response.json()
        answers[name] = (response.status_code, str(body.get("detail") or body.get("error")))
    return answers


@pytest.fixture(scope="module")
def answers(client: TestClient) -> dict[str, tuple[int, str]]:
    return refusals(client)


def test_every_refusal_is_a_4xx_in_plain_words(answers: dict[str, tuple[int, str]]) -> None:
    assert len(answers) > 80
    for name, (status, text) in answers.items():
        assert 400 <= status < 500, (name, status, text)
        try:
            assert_plain(text)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None


@pytest.mark.parametrize("name", sorted(NOT_IMAGES))
def test_a_file_that_is_no_image_says_which_formats_to_send(
    answers: dict[str, tuple[int, str]], name: str
) -> None:
    for form in ("raw", "json", "form"):
        assert answers[f"{form} {name}"] == (422, NOT_AN_IMAGE)
    assert answers[f"batch {name}"][1].endswith(NOT_AN_IMAGE)
    assert answers[f"v2 {name}"][1] == f"input 'image': {NOT_AN_IMAGE}"


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_image_says_so(answers: dict[str, tuple[int, str]], name: str) -> None:
    status, text = answers[f"raw {name}"]
    assert status == 422
    assert "damaged or cut short" in text and READABLE in text
