"""The API's JSON shapes: what clients send and get back (also the source of the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    """JSON rendered by orjson, which also turns numpy floats into numbers directly.

    A JSONResponse (only `render` differs) because FastAPI documents a route's response_model in
    the OpenAPI document only for JSONResponse classes; otherwise every 200 reads "a string".
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


# A drawn 7 as a 28×28 PNG: the documented examples really predict ("Try it out" answers 7).
EXAMPLE_IMAGE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAATUlEQVR42s3QMQ4AIAhDUcr"
    "974wTiQXKjJPx52HU7NhCbmI49ZHEFlHGEtvGpnB1n5KQ8X+SL7BF+gtfYI0Eu4SMDJuEjAVWCRnDrq8HgOgKI18J0GgAAAAASUVORK5CYII="
)


class PredictJSON(BaseModel):
    """One image, as a base64-encoded image file or as a 28×28 grid of pixel values."""

    image: str | None = Field(
        None,
        description="base64 of a PNG/JPEG/... file; a data-URL prefix is allowed",
        examples=[EXAMPLE_IMAGE],
    )
    pixels: list[list[float]] | None = Field(
        None,
        description="28 rows of 28 numbers 0-255, white digit on black (MNIST's format)",
    )


class BatchJSON(BaseModel):
    """Several images; each item is a base64 image string or an object like /predict's body."""

    images: list[str | PredictJSON] = Field(..., min_length=1, examples=[[EXAMPLE_IMAGE]])


class Prediction(BaseModel):
    digit: int = Field(..., ge=0, le=9, examples=[7])
    confidence: float = Field(
        ..., ge=0, le=1, description="probability of `digit`", examples=[0.998]
    )
    probabilities: list[float] = Field(
        ..., min_length=10, max_length=10, description="probability of each digit 0-9; sums to 1"
    )
    model: str = Field(..., examples=["mnist-cnn"])
    device: str = Field(..., examples=["cpu"])
    latency_ms: float = Field(..., description="time spent in the server for this request")
    input_image: str | None = Field(
        None, description="with ?include_input=true: the 28×28 image the model saw, base64 PNG"
    )


class BatchPrediction(BaseModel):
    predictions: list[Prediction]


class ModelSummary(BaseModel):
    name: str
    sha256: str
    parameters: int
    test_accuracy: float | None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    model_loaded: bool
    device: str | None
    model: ModelSummary | None = None
    reason: str | None = Field(None, description="why the service cannot predict, when it cannot")


class ErrorDetail(BaseModel):
    detail: str = Field(..., examples=["no digit found: the image is blank or too faint; ..."])
