"""Read the image(s) out of a request, whichever of the accepted forms the client used.

A request body becomes raw image bytes or a pixel grid; decoding and normalising them is the
preprocessing's job. Nothing here touches the model.
"""

from __future__ import annotations

import binascii
import re
from typing import Any

import orjson
from fastapi import Request
from python_multipart.exceptions import FormParserError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from feedback.tables import LABELS
from service.api.errors import ApiError
from service.imaging.decode import base64_file
from service.imaging.normalise import RawImage

IMAGE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/jpg",
        "image/bmp",
        "image/x-ms-bmp",
        "image/gif",
        "image/webp",
        "image/tiff",
        "application/octet-stream",
    }
)
ACCEPTED = (
    "send one of: multipart/form-data with the image in field '{field}'{label_field}; the image file "
    "itself as the body with Content-Type image/png (or image/jpeg, image/bmp, image/gif, "
    "image/webp, image/tiff){label_query}; or JSON {json}"
)
SINGLE_JSON = '{"image": "<base64>"} or {"pixels": [[28 rows of 28 numbers 0-255]]}'
BATCH_JSON = '{"images": ["<base64>", {"pixels": [[...]]}, ...]}'
MULTIPART_HINT = (
    "send each file as a part with a short filename and a few headers (Content-Disposition, "
    "Content-Type), under a boundary of at most 256 characters, as curl -F and browsers do"
)
_NON_FINITE = re.compile(rb"[\[,:]\s*-?(?:NaN|Infinity)\b")


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _unsupported(request: Request, field: str, json_shape: str, label: bool = False) -> ApiError:
    given = media_type(request) or "no Content-Type"
    accepted = ACCEPTED.format(
        field=field,
        json=json_shape,
        label_field=" and the right answer in field 'label'" if label else "",
        label_query=" and ?label=" if label else "",
    )
    return ApiError(415, f"unsupported content type {given!r}; {accepted}")


def decode_base64(text: str) -> bytes:
    try:
        data = base64_file(text)
    except (binascii.Error, ValueError) as error:
        raise ApiError(
            422,
            f"'image' is not valid base64 ({error}); send the image file's "
            "bytes base64-encoded, optionally with a data:image/png;base64, prefix",
        ) from error
    if not data:
        raise ApiError(422, "'image' is empty; send a base64-encoded image file")
    return data


def _from_json_item(item: Any, where: str) -> RawImage:
    if isinstance(item, str):
        return decode_base64(item)
    if isinstance(item, dict):
        if isinstance(item.get("image"), str):
            return decode_base64(item["image"])
        if isinstance(pixels := item.get("pixels"), list):
            return pixels
    raise ApiError(422, f"{where} holds no image; use {SINGLE_JSON}")


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if not body:
        raise ApiError(422, f"the JSON body is empty; send {SINGLE_JSON}")
    try:
        # orjson refuses nesting deeper than 1024 levels, so a deeply nested body is a 422, not a crash.
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        hint = ""
        if _NON_FINITE.search(body):  # what Python's json.dumps writes for float('nan') / inf
            hint = "; NaN and Infinity are not JSON numbers (nor pixels): send numbers 0-255"
        raise ApiError(422, f"the body is not valid JSON ({error}){hint}") from error


async def _form_files(
    request: Request, field: str, max_files: int, max_bytes: int, text_fields: tuple[str, ...] = ()
) -> tuple[list[bytes], dict[str, str]]:
    """The files in `field`, and the values of the named text fields that were sent."""
    try:
        form = await request.form(
            max_files=max_files, max_fields=max_files + len(text_fields), max_part_size=max_bytes
        )
    except FormParserError as error:
        # python-multipart's own limits, which Starlette lets through: a part header over ~4 KB
        # (a 5,000-character filename), more than 8 header lines in a part, a boundary over 256
        # characters.
        raise ApiError(
            413 if "exceeded" in str(error) else 422,
            f"could not read the multipart form ({error}); {MULTIPART_HINT}",
        ) from error
    except (MultiPartException, HTTPException) as error:
        # Inside an app, Starlette re-raises the parser's MultiPartException as a bare 400.
        if isinstance(error, HTTPException) and error.status_code != 400:
            raise
        message = str(error.detail if isinstance(error, HTTPException) else error)
        raise ApiError(
            413 if "Too many" in message or "exceeded" in message else 422,
            f"could not read the multipart form: {message}",
        ) from error
    uploads = [value for value in form.getlist(field) if isinstance(value, UploadFile)]
    if not uploads:
        raise ApiError(
            422, f"the form has no file in field '{field}'; e.g. curl -F {field}=@digit.png ..."
        )
    files = [await upload.read() for upload in uploads]
    texts = {name: value for name in text_fields if isinstance(value := form.get(name), str)}
    await form.close()
    if not all(files):
        raise ApiError(422, f"an uploaded file in field '{field}' is empty (0 bytes)")
    return files, texts


async def read_image(request: Request, max_bytes: int) -> RawImage:
    """The one image of a /predict request."""
    kind = media_type(request)
    if kind in IMAGE_TYPES:
        body = await request.body()
        if not body:
            raise ApiError(422, "the request body is empty; send the image file as the body")
        return body
    if kind == "application/json":
        payload = await _json_body(request)
        if not isinstance(payload, dict):
            raise ApiError(422, f"the JSON body must be an object: {SINGLE_JSON}")
        return _from_json_item(payload, "the JSON body")
    if kind == "multipart/form-data":
        return (await _form_files(request, "file", max_files=1, max_bytes=max_bytes))[0][0]
    raise _unsupported(request, "file", SINGLE_JSON)


async def read_images(request: Request, max_images: int, max_bytes: int) -> list[RawImage]:
    """The images of a /predict/batch request, in order."""
    kind = media_type(request)
    if kind == "application/json":
        payload = await _json_body(request)
        items = payload.get("images") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            raise ApiError(422, f"the JSON body must hold a non-empty 'images' list: {BATCH_JSON}")
        images = items
    elif kind == "multipart/form-data":
        images, _ = await _form_files(request, "files", max_images, max_bytes)
    else:
        raise _unsupported(request, "files", BATCH_JSON)
    if len(images) > max_images:
        raise ApiError(413, f"{len(images)} images in one request; send at most {max_images}")
    if kind == "application/json":
        return [_from_json_item(item, f"images[{i}]") for i, item in enumerate(images)]
    return images


LABEL_HELP = 'a digit 0-9 or "not_a_digit"'


async def read_labelled_image(request: Request, max_bytes: int) -> tuple[RawImage, str]:
    """The image and the right answer of a /feedback request: multipart `file` + `label`, JSON
    `{"image" or "pixels", "label"}`, or the image as the body with `?label=`. The label comes back
    as stored: "0" to "9" or "not_a_digit"."""
    kind = media_type(request)
    label: object = None
    if kind == "multipart/form-data":
        files, texts = await _form_files(request, "file", 1, max_bytes, text_fields=("label",))
        image: RawImage = files[0]
        label = texts.get("label")
    elif kind == "application/json":
        payload = await _json_body(request)
        if not isinstance(payload, dict):
            raise ApiError(422, f"the JSON body must be an object: {FEEDBACK_JSON}")
        image = _from_json_item(payload, "the JSON body")
        label = payload.get("label")
    elif kind in IMAGE_TYPES:
        image = await read_image(request, max_bytes)
    else:
        raise _unsupported(request, "file", FEEDBACK_JSON, label=True)
    if label is None:
        label = request.query_params.get("label")
    return image, parse_label(label)


FEEDBACK_JSON = '{"image": "<base64>", "label": 4} (or "pixels" instead of "image")'


def parse_label(value: object) -> str:
    if value is None:
        raise ApiError(
            422,
            f"the right answer is missing: send 'label', {LABEL_HELP}: a form field beside "
            "'file', a key of the JSON body, or ?label= with an image body",
        )
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9:
        return str(value)
    if isinstance(value, str) and value.strip() in LABELS:
        return value.strip()
    shown = orjson.dumps(value).decode()
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    raise ApiError(422, f"'label' must be {LABEL_HELP}, not {shown}")
