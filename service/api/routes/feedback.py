"""POST /feedback (a correction: the image and the right answer), DELETE /feedback/{id} (undo it),
GET /feedback/stats. The server reads the image itself: what the model said is never taken from
the client. A 201 is sent only once the row is committed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from feedback.store import FeedbackStore, NewFeedback
from feedback.tables import NOT_A_DIGIT
from service import metrics
from service.api.dependencies import Runtime, get_store
from service.api.errors import ApiError
from service.api.inputs import read_labelled_image
from service.api.openapi import error_responses, image_request_body
from service.api.responses import FastJSONResponse
from service.api.schemas import FeedbackJSON, FeedbackStats, FeedbackStored

router = APIRouter(prefix="/feedback", tags=["feedback"])
Store = Annotated[FeedbackStore, Depends(get_store)]
LabelQuery = Annotated[
    str | None,
    Query(description='with an image as the body: the right answer, 0-9 or "not_a_digit"'),
]


@router.post(
    "",
    summary="Correct the model: store an image with its right answer",
    status_code=201,
    response_model=FeedbackStored,
    responses=error_responses(413, 415, 422, 503),
    openapi_extra=image_request_body("file", FeedbackJSON, many=False, fields=("label",)),
)
async def send_feedback(
    request: Request, runtime: Runtime, store: Store, label: LabelQuery = None
) -> FastJSONResponse:
    """The image in any form /predict takes, with `label`: multipart fields `file` and `label`;
    JSON `{"image": "<base64>", "label": 4}`; or the image as the body with `?label=4`. The
    drawing, the 28×28 image the model read and its answer are kept to improve the model."""
    model = runtime.require_ready()
    image, right_answer = await read_labelled_image(request, runtime.settings.max_body_bytes)
    prepared, readings = await runtime.answer([image], model)  # what /predict would answer
    predicted, verdict = readings.digits[0], readings.verdicts[0]
    keep_original = runtime.settings.feedback_keep_original
    row = NewFeedback(
        label=right_answer,
        predicted=predicted,
        probabilities=readings.probabilities[0].tolist(),
        verdict=verdict,
        model_version=model.version,
        digit=prepared.digits[0],
        original=image if keep_original and isinstance(image, bytes) else None,  # not pixels
    )
    new_id = await store.run(store.add, row)
    metrics.count_feedback(right_answer, predicted)
    stored = FeedbackStored(
        id=new_id,
        label=NOT_A_DIGIT if right_answer == NOT_A_DIGIT else int(right_answer),
        predicted=predicted,
        verdict=verdict,
        model_version=model.version,
    )
    return FastJSONResponse(stored, status_code=201, headers={"Location": f"/feedback/{new_id}"})


@router.delete(
    "/{feedback_id}",
    summary="Undo a correction",
    status_code=204,
    response_class=Response,
    responses=error_responses(404, 422, 503),
)
async def undo_feedback(
    feedback_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="the id POST returned")],
    store: Store,
) -> Response:
    if not await store.run(store.delete, feedback_id):
        raise ApiError(404, f"there is no correction {feedback_id}: it was undone, or never stored")
    metrics.FEEDBACK_UNDONE.inc()
    return Response(status_code=204)


@router.get(
    "/stats",
    summary="How many corrections were collected, and how often the model had been right",
    response_model=FeedbackStats,
    responses=error_responses(503),
)
async def feedback_stats(store: Store) -> FastJSONResponse:
    stats = await store.run(store.stats)
    return FastJSONResponse(
        FeedbackStats(
            total=stats.total,
            by_label=stats.by_label,
            model_right=stats.model_right,
            since=stats.since.isoformat() if stats.since else None,
        )
    )
