"""POST /read: every digit of a number in one image, left to right, with where each one is."""

from __future__ import annotations

import base64
import time

from fastapi import APIRouter, Request

from service import metrics
from service.api.dependencies import Runtime
from service.api.inputs import read_image
from service.api.openapi import error_responses, image_request_body
from service.api.responses import FastJSONResponse
from service.api.routes.predict import IncludeInput, alternatives
from service.api.schemas import READ_EXAMPLE, PieceBox, ReadDigit, Reading, ReadJSON
from service.imaging.normalise import to_png

router = APIRouter(tags=["read"])


@router.post(
    "/read",
    summary="Read a number: all the digits in one image, left to right",
    response_model=Reading,
    responses={
        200: {"content": {"application/json": {"example": READ_EXAMPLE}}},
        **error_responses(413, 415, 422, 503),
    },
    openapi_extra=image_request_body("file", ReadJSON, many=False),
)
async def read(
    request: Request, runtime: Runtime, include_input: IncludeInput = False
) -> FastJSONResponse:
    """One image of a number ("2024", a phone number, a score) in any form /predict takes: a
    multipart upload (field `file`), the raw body, or JSON `{"image": "<base64>"}` /
    `{"pixels": [[...]]}`. Each digit comes with its confidence, probabilities and box in the
    image's pixels; all the pieces, cut candidates included, are scored in one forward pass."""
    started = time.perf_counter()
    runtime.require_ready()
    image = await read_image(request, runtime.settings.max_body_bytes)
    model = runtime.require_ready()  # one version reads every piece and names itself
    reading = await runtime.read(image, model)
    readings = reading.readings
    metrics.count_predictions(readings.digits, readings.verdicts)
    digits = []
    for index, candidate in enumerate(reading.chosen):
        verdict = readings.verdicts[index]
        assert verdict != "several_digits"  # a piece is never marked so (runtime.read)
        box = reading.pieces.candidates[candidate].box
        answer = ReadDigit(
            digit=readings.digits[index],
            confidence=readings.confidence[index],
            probabilities=readings.probabilities[index].tolist(),
            alternatives=alternatives(readings, index),
            verdict=verdict,
            box=PieceBox(x=box.x, y=box.y, width=box.width, height=box.height),
        )
        if include_input:
            pixels = reading.pieces.digits[candidate]
            answer["input_image"] = base64.b64encode(to_png(pixels)).decode()
        digits.append(answer)
    text = "".join("?" if d["verdict"] == "not_a_digit" else str(d["digit"]) for d in digits)
    return FastJSONResponse(
        Reading(
            text=text,
            digits=digits,
            model=model.info.name,
            model_version=model.version,
            device=runtime.device_name,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        )
    )
