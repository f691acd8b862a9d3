"""POST /predict and /predict/batch: read the image(s), preprocess, predict as one batch, answer."""

from __future__ import annotations

import base64
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request

from service import metrics
from service.api.dependencies import Runtime
from service.api.inputs import read_image, read_images
from service.api.openapi import error_responses, image_request_body
from service.api.responses import FastJSONResponse
from service.api.schemas import BatchJSON, BatchPrediction, Prediction, PredictJSON
from service.imaging.normalise import Digits, RawImage, to_png
from service.inference.predictor import Probabilities
from service.inference.runtime import ModelRuntime, ServedModel

router = APIRouter(tags=["predict"])


def _answers(
    runtime: ModelRuntime,
    model: ServedModel,
    digits: Digits,
    probabilities: Probabilities,
    started: float,
    include_input: bool,
) -> list[Prediction]:
    best = probabilities.argmax(axis=1).tolist()
    metrics.count_predictions(best)
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    answers = []
    for digit, row, image in zip(best, probabilities, digits, strict=True):
        answer = Prediction(
            digit=digit,
            confidence=float(row[digit]),
            probabilities=row.tolist(),
            model=model.info.name,
            model_version=model.version,
            device=runtime.device_name,
            latency_ms=latency_ms,
        )
        if include_input:
            answer["input_image"] = base64.b64encode(to_png(image)).decode()
        answers.append(answer)
    return answers


async def _predict(
    runtime: ModelRuntime, images: list[RawImage], started: float, include_input: bool
) -> list[Prediction]:
    """Preprocess off the event loop, predict through the shared batcher, build the answers.
    The model is taken once, at the start: a reload meanwhile does not change who answers."""
    model = runtime.require_ready()
    digits = await runtime.preprocess(images)
    probabilities = await runtime.predict(digits, model)
    return _answers(runtime, model, digits, probabilities, started, include_input)


IncludeInput = Annotated[
    bool, Query(description="also return the 28×28 image the model saw (base64 PNG)")
]


@router.post(
    "/predict",
    summary="Read the digit in one image",
    response_model=Prediction,
    responses=error_responses(413, 415, 422, 503),
    openapi_extra=image_request_body("file", PredictJSON, many=False),
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
    responses=error_responses(413, 415, 422, 503),
    openapi_extra=image_request_body("files", BatchJSON, many=True),
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
    return FastJSONResponse(BatchPrediction(predictions=answers))
