"""The wire contract: the JSON shapes clients send and get back, defined once.

Responses are TypedDicts: the routes build exactly these (mypy checks every field), and FastAPI
writes the same classes into the OpenAPI document. Request bodies come in several forms (multipart,
raw image, JSON), read by service/api/inputs.py, whose error texts say what to send; the JSON forms
are documented by the models below.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from service.inference.verdict import Verdict

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


class Alternative(TypedDict):
    digit: Annotated[int, Field(ge=0, le=9, examples=[9])]
    probability: Annotated[float, Field(gt=0.05, le=1, examples=[0.31])]


VerdictField = Annotated[
    Verdict,
    Field(
        description=(
            "`digit`: one digit, read with calibrated confidence; `unsure`: looks like one digit "
            "but the model is not sure (see `alternatives`); `not_a_digit`: letters, shapes, "
            "scribbles, pictures; `several_digits`: more than one digit (POST /read reads them)"
        ),
        examples=["digit"],
    ),
]


class Prediction(TypedDict):
    digit: Annotated[int, Field(ge=0, le=9, examples=[7], description="the best guess")]
    confidence: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            examples=[0.998],
            description="calibrated probability that `digit` is right: of answers given 0.9, "
            "about 9 in 10 are right",
        ),
    ]
    probabilities: Annotated[
        list[float],
        Field(
            min_length=10,
            max_length=10,
            description="calibrated probability of each digit 0-9; sums to 1",
        ),
    ]
    verdict: VerdictField
    alternatives: Annotated[
        list[Alternative],
        Field(
            max_length=2,
            description="the next most likely digits, most likely first: up to two, those above "
            "5 %; empty when there are none",
            examples=[[{"digit": 9, "probability": 0.31}]],
        ),
    ]
    model: Annotated[str, Field(examples=["mnist-cnn"])]
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


def _example(
    verdict: str, digit: int, confidence: float, alternatives: list[Any]
) -> dict[str, Any]:
    probabilities = [0.0] * 10
    probabilities[digit] = confidence
    for alternative in alternatives:
        probabilities[alternative["digit"]] = alternative["probability"]
    return {
        "digit": digit,
        "confidence": confidence,
        "probabilities": probabilities,
        "verdict": verdict,
        "alternatives": alternatives,
        "model": "mnist-cnn",
        "device": "cpu",
        "latency_ms": 2.4,
    }


# What each verdict looks like, for the OpenAPI document (probabilities rounded for reading).
PREDICTION_EXAMPLES = {
    "digit": {
        "summary": "a clear 7",
        "value": _example("digit", 7, 0.998, []),
    },
    "unsure": {
        "summary": "a 4 that could be a 9",
        "value": _example("unsure", 4, 0.62, [{"digit": 9, "probability": 0.31}]),
    },
    "not_a_digit": {
        "summary": "a drawn X: the best guess is still given, the verdict says to ignore it",
        "value": _example("not_a_digit", 8, 0.71, [{"digit": 4, "probability": 0.12}]),
    },
}


class BatchPrediction(TypedDict):
    predictions: list[Prediction]


class ModelSummary(TypedDict):
    name: str
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


class ErrorDetail(BaseModel):
    detail: str = Field(..., examples=["no digit found: the image is blank or too faint; ..."])
