"""The wire contract: the JSON shapes clients send and get back, defined once.

Responses are TypedDicts: the routes build exactly these (mypy checks every field), and FastAPI
writes the same classes into the OpenAPI document. Request bodies come in several forms (multipart,
raw image, JSON), read by service/api/inputs.py, whose error texts say what to send; the JSON forms
are documented by the models below.
"""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

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


class Prediction(TypedDict):
    digit: Annotated[int, Field(ge=0, le=9, examples=[7])]
    confidence: Annotated[float, Field(ge=0, le=1, description="probability of `digit`")]
    probabilities: Annotated[
        list[float],
        Field(min_length=10, max_length=10, description="probability of each digit 0-9; sums to 1"),
    ]
    model: Annotated[str, Field(examples=["mnist-cnn"])]
    model_version: Annotated[int, Field(ge=1, description="the model version that answered")]
    device: Annotated[str, Field(examples=["cpu"])]
    latency_ms: Annotated[float, Field(description="time spent in the server for this request")]
    input_image: NotRequired[
        Annotated[
            str,
            Field(
                description="with ?include_input=true: the 28×28 image the model saw, base64 PNG"
            ),
        ]
    ]


class BatchPrediction(TypedDict):
    predictions: list[Prediction]


class ModelSummary(TypedDict):
    name: str
    model_version: Annotated[
        int, Field(ge=1, description="the version served (POST /admin/reload)")
    ]
    sha256: str
    parameters: int
    test_accuracy: float | None


class Health(TypedDict):
    status: Literal["ok", "unavailable"]
    model_loaded: bool
    device: str | None
    model: ModelSummary | None
    reason: NotRequired[
        Annotated[str | None, Field(description="why the service cannot predict, when it cannot")]
    ]


Label = Annotated[
    int | Literal["not_a_digit"],
    Field(description='the right answer: a digit 0-9, or "not_a_digit"', examples=[4]),
]


class FeedbackJSON(PredictJSON):
    """One image, as /predict takes it, and the right answer."""

    label: Label


class FeedbackStored(TypedDict):
    id: Annotated[int, Field(description="DELETE /feedback/{id} undoes it", examples=[17])]
    label: Label
    predicted: Annotated[int, Field(ge=0, le=9, description="what the model read", examples=[9])]
    verdict: Annotated[
        str, Field(description="the model's verdict on the image", examples=["digit"])
    ]
    model_version: Annotated[int, Field(ge=1, description="the model version that read it")]


class FeedbackStats(TypedDict):
    total: int
    by_label: Annotated[
        dict[str, int], Field(description='count per label, "0" to "9" and "not_a_digit"')
    ]
    model_right: Annotated[
        float | None,
        Field(description="share of the digit corrections the model had right; null before any"),
    ]
    since: Annotated[str | None, Field(description="ISO 8601 time of the oldest correction")]


class ReloadJSON(BaseModel):
    """Which version to serve; without one (or without a body), the newest."""

    version: int | None = Field(None, ge=1, examples=[2])


class Reloaded(TypedDict):
    model_version: Annotated[int, Field(description="the version served from now on")]
    previous: Annotated[int | None, Field(description="the version served before")]
    versions: Annotated[list[int], Field(description="every version there is")]


class ErrorDetail(BaseModel):
    detail: str = Field(..., examples=["no digit found: the image is blank or too faint; ..."])
