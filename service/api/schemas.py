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

# "2024" drawn in dark ink on white paper, 85×36 (MNIST test digits): /read's documented example.
EXAMPLE_NUMBER = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAFUAAAAkAgMAAACF5Z6tAAAADFBMVEX///+qqqpVVVUAAAAB"
    "M1s0AAABSElEQVR42s3SIXLbUBDG8f9beSwg8AKMHOCeIO4JOjpCQV0SEIOQTGY6vYDHOoIP0AMkRYUFzTwdwaj4lQcICE"
    "i2rC9AtmeaCyTL9ge+3dlZeONaLGBcuPwMoQAupYgvLGKDuvwzcAuToT/yGMCK3XLEB3TOmKuFTJu0YZ1bPPFagnlL0tCT"
    "nFlSSdiQNNaRRYyr38OEC/gOHR0jgNBBqj7U3EFWWc1sC7b7Bpnq2QFgVllkXmLubwD4UQGwjEMcLl9BdiDtAafc2q+hAP"
    "gDWU0iIOkxSQVgNfhI1gO+w0kCwz0DMBHwsUb3PwHwJfhIOMBUJUDIgVkOPpoasqBiAgSAT4D/d62KILWrEz8Bfi9tTZLa"
    "I7sG8JLKRLpRBQiw6sh5qnasAmiGtd1DKjUk2rA4XdokHZy0/f8HnLT7wvTxlbJg/4v3Wy+JEZeXLLJUDgAAAABJRU5Erk"
    "Jggg=="
)
SEVERAL_DIGITS_HINT = "several digits: POST /read reads them"


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


class ReadJSON(BaseModel):
    """One image of a number, as a base64-encoded image file or as a grid of pixel values."""

    image: str | None = Field(
        None,
        description="base64 of a PNG/JPEG/... file; a data-URL prefix is allowed",
        examples=[EXAMPLE_NUMBER],
    )
    pixels: list[list[float]] | None = Field(
        None, description="rows of numbers 0-255 (any size), white digits on black"
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


class DigitAnswer(TypedDict):
    """What /predict and each piece of /read say about one digit."""

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
    alternatives: Annotated[
        list[Alternative],
        Field(
            max_length=2,
            description="the next most likely digits, most likely first: up to two, those above "
            "5 %; empty when there are none",
            examples=[[{"digit": 9, "probability": 0.31}]],
        ),
    ]


class Prediction(DigitAnswer):
    verdict: VerdictField
    hint: NotRequired[
        Annotated[
            str,
            Field(
                description="with verdict several_digits: where to send the image instead",
                examples=[SEVERAL_DIGITS_HINT],
            ),
        ]
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
        "model_version": 1,
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
    "several_digits": {
        "summary": "a drawn 12: the best single-digit guess, and where to read the number",
        "value": {
            **_example("several_digits", 1, 0.55, [{"digit": 2, "probability": 0.3}]),
            "hint": SEVERAL_DIGITS_HINT,
        },
    },
}


class BatchPrediction(TypedDict):
    predictions: list[Prediction]


class PieceBox(TypedDict):
    """Where a digit is, in pixels of the image as sent (after its EXIF orientation)."""

    x: Annotated[int, Field(ge=0, description="left edge")]
    y: Annotated[int, Field(ge=0, description="top edge")]
    width: Annotated[int, Field(ge=1)]
    height: Annotated[int, Field(ge=1)]


class ReadDigit(DigitAnswer):
    verdict: Annotated[
        Literal["digit", "unsure", "not_a_digit"],
        Field(
            description="as on /predict, for this piece: `not_a_digit` pieces are written `?` in "
            "`text`",
            examples=["digit"],
        ),
    ]
    box: PieceBox
    input_image: NotRequired[
        Annotated[
            str,
            Field(description="with ?include_input=true: this piece's 28×28 input, base64 PNG"),
        ]
    ]


class Reading(TypedDict):
    text: Annotated[
        str,
        Field(
            pattern=r"^[0-9?]+$",
            examples=["2024"],
            description="the digits left to right; `?` for a piece that is not a digit",
        ),
    ]
    digits: Annotated[list[ReadDigit], Field(min_length=1, description="left to right")]
    model: Annotated[str, Field(examples=["mnist-cnn"])]
    model_version: Annotated[int, Field(ge=1, description="the model version that read it")]
    device: Annotated[str, Field(examples=["cpu"])]
    latency_ms: Annotated[float, Field(description="time spent in the server for this request")]


class ModelSummary(TypedDict):
    name: str
    model_version: Annotated[
        int, Field(ge=1, description="the version served (POST /admin/reload)")
    ]
    sha256: str
    parameters: int
    test_accuracy: float | None
    engine: Annotated[
        str,
        Field(
            description="what runs the forward pass: ONNX Runtime on the CPU, else torch",
            examples=["onnxruntime 1.32.0"],
        ),
    ]


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
        Verdict, Field(description="the model's verdict on the image, as /predict answers it")
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


# What /read answers for EXAMPLE_NUMBER (calibrated probabilities to 3 significant digits).
READ_EXAMPLE: dict[str, object] = {
    "text": "2024",
    "digits": [
        {
            "digit": 2,
            "confidence": 1.0,
            "probabilities": [
                6.9e-06,
                0.000122,
                1.0,
                2.8e-05,
                5.44e-07,
                5.4e-08,
                0.000174,
                4.43e-05,
                1.68e-05,
                1.65e-12,
            ],
            "alternatives": [],
            "verdict": "digit",
            "box": {"x": 3, "y": 12, "width": 17, "height": 18},
        },
        {
            "digit": 0,
            "confidence": 1.0,
            "probabilities": [
                1.0,
                1.64e-07,
                1.03e-06,
                8.44e-07,
                4.23e-07,
                2.33e-06,
                0.000338,
                2.07e-07,
                2.38e-05,
                1.49e-06,
            ],
            "alternatives": [],
            "verdict": "digit",
            "box": {"x": 22, "y": 6, "width": 18, "height": 23},
        },
        {
            "digit": 2,
            "confidence": 1.0,
            "probabilities": [
                3.57e-06,
                5.39e-05,
                1.0,
                3.6e-05,
                4.82e-08,
                2.77e-09,
                9.27e-14,
                0.000334,
                7.37e-07,
                3.22e-07,
            ],
            "alternatives": [],
            "verdict": "digit",
            "box": {"x": 42, "y": 5, "width": 22, "height": 22},
        },
        {
            "digit": 4,
            "confidence": 1.0,
            "probabilities": [
                2.33e-15,
                3.47e-08,
                3.22e-10,
                1.57e-13,
                1.0,
                1.93e-11,
                2.19e-08,
                1.06e-05,
                1.17e-07,
                2.43e-05,
            ],
            "alternatives": [],
            "verdict": "digit",
            "box": {"x": 67, "y": 5, "width": 15, "height": 21},
        },
    ],
    "model": "mnist-cnn",
    "model_version": 1,
    "device": "cpu",
    "latency_ms": 37.4,
}
