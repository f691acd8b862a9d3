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
from service.api.schemas import (
    PREDICTION_EXAMPLES,
    SEVERAL_DIGITS_HINT,
    Alternative,
    BatchJSON,
    BatchPrediction,
    Prediction,
    PredictJSON,
)
from service.imaging.normalise import Digits, RawImage, to_png
from service.inference.runtime import ModelRuntime, ServedModel
from service.inference.verdict import Readings

router = APIRouter(tags=["predict"])


def alternatives(readings: Readings, index: int) -> list[Alternative]:
    """The runners-up of one image or piece, as every answer lists them."""
    return [
        Alternative(digit=a.digit, probability=a.probability) for a in readings.alternatives[index]
    ]


def _answers(
    runtime: ModelRuntime,
    model: ServedModel,
    digits: Digits,
    readings: Readings,
    started: float,
    include_input: bool,
) -> list[Prediction]:
    metrics.count_predictions(readings.digits, readings.verdicts)
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    answers = []
    for index, image in enumerate(digits):
        answer = Prediction(
            digit=readings.digits[index],
            confidence=readings.confidence[index],
            probabilities=readings.probabilities[index].tolist(),
            alternatives=alternatives(readings, index),
            verdict=readings.verdicts[index],
            model=model.info.name,
            model_version=model.version,
            device=runtime.device_name,
            latency_ms=latency_ms,
        )
        if answer["verdict"] == "several_digits":
            answer["hint"] = SEVERAL_DIGITS_HINT
        if include_input:
            answer["input_image"] = base64.b64encode(to_png(image)).decode()
        answers.append(answer)
    return answers


async def _predict(
    runtime: ModelRuntime, images: list[RawImage], started: float, include_input: bool
) -> list[Prediction]:
    """Preprocess off the event loop, predict through the shared batcher, build the answers.
    The model is taken once, at the start: a reload meanwhile does not change who answers, and
    the verdict, confidence and model_version all come from that one version."""
    model = runtime.require_ready()
    prepared, readings = await runtime.answer(images, model)
    return _answers(runtime, model, prepared.digits, readings, started, include_input)


IncludeInput = Annotated[
    bool, Query(description="also return the 28×28 image the model saw (base64 PNG)")
]


@router.post(
    "/predict",
    summary="Read the digit in one image",
    response_model=Prediction,
    responses={
        200: {"content": {"application/json": {"examples": PREDICTION_EXAMPLES}}},
        **error_responses(413, 415, 422, 503),
    },
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
