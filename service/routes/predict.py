"""POST /predict and /predict/batch: read the image(s), preprocess, predict as one batch, answer."""

from __future__ import annotations

import base64
import time
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from service import metrics
from service.inputs import RawImage, read_image, read_images
from service.preprocessing import to_png
from service.runtime import ModelRuntime, Runtime
from service.schemas import (
    BatchJSON,
    BatchPrediction,
    ErrorDetail,
    FastJSONResponse,
    Prediction,
    PredictJSON,
)

router = APIRouter(tags=["predict"])

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_IMAGE_BODIES = {
    kind: _BINARY
    for kind in ("image/png", "image/jpeg", "image/bmp", "image/gif", "image/webp", "image/tiff")
}


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its nested models written in place: a body schema here is not
    registered under components, so a $ref to one (or to a local $defs) would not resolve."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


def _request_body(field: str, json_model: type[PredictJSON] | type[BatchJSON], many: bool) -> dict:
    file_schema: dict[str, Any] = {"type": "string", "format": "binary"}
    if many:
        file_schema = {"type": "array", "items": file_schema}
    content: dict[str, Any] = {
        "multipart/form-data": {
            # Only the file field: /predict refuses any other part (413, "too many fields").
            "schema": {
                "type": "object",
                "required": [field],
                "properties": {field: file_schema},
                "additionalProperties": False,
            }
        },
        "application/json": {"schema": _inline_schema(json_model)},
    }
    if not many:
        content.update(_IMAGE_BODIES)
    return {"requestBody": {"required": True, "content": content}}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        413: "body, image or batch over its limit",
        415: "unsupported content type",
        422: "not an image, no digit found, bad pixels, or a missing field",
        503: "model not loaded, or the server is at capacity (see Retry-After)",
    }
    return {code: {"model": ErrorDetail, "description": meaning[code]} for code in codes}


def _answers(
    runtime: ModelRuntime,
    digits: np.ndarray,
    probabilities: np.ndarray,
    started: float,
    include_input: bool,
) -> list[dict[str, Any]]:
    best = probabilities.argmax(axis=1).tolist()
    metrics.count_predictions(best)
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    answers = []
    for digit, row, image in zip(best, probabilities, digits, strict=True):
        answer = {
            "digit": digit,
            "confidence": float(row[digit]),
            "probabilities": row.tolist(),
            "model": runtime.info.name if runtime.info else "",
            "device": runtime.device_name,
            "latency_ms": latency_ms,
        }
        if include_input:
            answer["input_image"] = base64.b64encode(to_png(image)).decode()
        answers.append(answer)
    return answers


async def _predict(
    runtime: ModelRuntime, images: list[RawImage], started: float, include_input: bool
) -> list[dict[str, Any]]:
    """Preprocess off the event loop, predict through the shared batcher, build the answers."""
    digits = await runtime.preprocess(images)
    probabilities = await runtime.predict(digits)
    return _answers(runtime, digits, probabilities, started, include_input)


IncludeInput = Annotated[
    bool, Query(description="also return the 28×28 image the model saw (base64 PNG)")
]


@router.post(
    "/predict",
    summary="Read the digit in one image",
    response_model=Prediction,
    responses=_errors(413, 415, 422, 503),
    openapi_extra=_request_body("file", PredictJSON, many=False),
)
async def predict(
    request: Request,
    runtime: Runtime,
    include_input: IncludeInput = False,
) -> FastJSONResponse:
    """One image as a multipart upload (field `file`), as the raw body (`Content-Type: image/png`,
    jpeg, bmp, gif, webp, tiff), or as JSON `{"image": "<base64>"}` / `{"pixels": [[...]]}`."""
    started = time.perf_counter()
    runtime.require_ready()
    image = await read_image(request, runtime.settings.max_body_bytes)
    answers = await _predict(runtime, [image], started, include_input)
    return FastJSONResponse(answers[0])


@router.post(
    "/predict/batch",
    summary="Read the digits in several images, as one batched forward pass",
    response_model=BatchPrediction,
    responses=_errors(413, 415, 422, 503),
    openapi_extra=_request_body("files", BatchJSON, many=True),
)
async def predict_batch(
    request: Request,
    runtime: Runtime,
    include_input: IncludeInput = False,
) -> FastJSONResponse:
    """Several images as repeated multipart fields `files`, or JSON `{"images": [...]}`; the
    predictions come back in the same order."""
    started = time.perf_counter()
    runtime.require_ready()
    settings = runtime.settings
    images = await read_images(request, settings.max_images_per_request, settings.max_body_bytes)
    answers = await _predict(runtime, images, started, include_input)
    return FastJSONResponse({"predictions": answers})
