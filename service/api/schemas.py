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


class Prediction(TypedDict):
    digit: Annotated[int, Field(ge=0, le=9, examples=[7])]
    confidence: Annotated[float, Field(ge=0, le=1, description="probability of `digit`")]
    probabilities: Annotated[
        list[float],
        Field(min_length=10, max_length=10, description="probability of each digit 0-9; sums to 1"),
    ]
    verdict: Annotated[
        Literal["digit", "several_digits"],
        Field(
            description="several_digits: the image holds more than one digit; `digit` is then "
            "the best single-digit guess, and POST /read reads them all"
        ),
    ]
    hint: NotRequired[Annotated[str, Field(examples=[SEVERAL_DIGITS_HINT])]]
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


class BatchPrediction(TypedDict):
    predictions: list[Prediction]


class PieceBox(TypedDict):
    """Where a digit is, in pixels of the image as sent (after its EXIF orientation)."""

    x: Annotated[int, Field(ge=0, description="left edge")]
    y: Annotated[int, Field(ge=0, description="top edge")]
    width: Annotated[int, Field(ge=1)]
    height: Annotated[int, Field(ge=1)]


class ReadDigit(TypedDict):
    digit: Annotated[int, Field(ge=0, le=9)]
    confidence: Annotated[float, Field(ge=0, le=1, description="probability of `digit`")]
    probabilities: Annotated[
        list[float],
        Field(min_length=10, max_length=10, description="probability of each digit 0-9; sums to 1"),
    ]
    verdict: Annotated[
        Literal["digit", "unsure", "not_a_digit"],
        Field(description="not_a_digit pieces are written `?` in `text`"),
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
    device: Annotated[str, Field(examples=["cpu"])]
    latency_ms: Annotated[float, Field(description="time spent in the server for this request")]


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


# What /read answers for EXAMPLE_NUMBER (probabilities to 3 significant digits).
READ_EXAMPLE: dict[str, object] = {
    "text": "2024",
    "digits": [
        {
            "digit": 2,
            "confidence": 1.0,
            "probabilities": [
                3.22e-11,
                1.11e-08,
                1.0,
                5.54e-10,
                1.84e-13,
                1.68e-15,
                2.28e-08,
                1.41e-09,
                1.96e-10,
                1.11e-24,
            ],
            "verdict": "digit",
            "box": {"x": 3, "y": 12, "width": 17, "height": 18},
        },
        {
            "digit": 0,
            "confidence": 1.0,
            "probabilities": [
                1.0,
                1.6e-14,
                6.74e-13,
                4.5e-13,
                1.1e-13,
                3.54e-12,
                8.8e-08,
                2.57e-14,
                3.99e-10,
                1.43e-12,
            ],
            "verdict": "digit",
            "box": {"x": 22, "y": 6, "width": 18, "height": 23},
        },
        {
            "digit": 2,
            "confidence": 1.0,
            "probabilities": [
                8.42e-12,
                2.1e-09,
                1.0,
                9.27e-10,
                1.34e-15,
                4.02e-18,
                3.2e-27,
                8.59e-08,
                3.41e-13,
                6.32e-14,
            ],
            "verdict": "digit",
            "box": {"x": 42, "y": 5, "width": 22, "height": 22},
        },
        {
            "digit": 4,
            "confidence": 1.0,
            "probabilities": [
                1.78e-30,
                6.83e-16,
                5.05e-20,
                9.28e-27,
                1.0,
                1.66e-22,
                2.68e-16,
                7.76e-11,
                8.05e-15,
                4.15e-10,
            ],
            "verdict": "digit",
            "box": {"x": 67, "y": 5, "width": 15, "height": 21},
        },
    ],
    "model": "mnist-cnn",
    "device": "cpu",
    "latency_ms": 37.4,
}
