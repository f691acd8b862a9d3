"""A small typed HTTP client for the inference service: one function per endpoint, one error type.

The page never talks HTTP itself; it calls `get_health`, `predict`, `read` and the feedback calls
(`send_feedback`, `undo_feedback`, `feedback_stats`), which return dataclasses
or raise `ApiError`, whose `message` is fit to show a person as is and whose `retryable` says
whether trying the same request again could help.

A new endpoint is a dataclass for its answer and a function that calls `_send` and builds the
dataclass through `_parsed` (which turns a malformed answer into an ApiError); see `predict`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

import httpx

DEFAULT_API_URL = "http://localhost:8000"
# Connect fails fast (the service is either there or not); the read allows a cold model or a busy
# batcher, but not so long that the page looks frozen.
TIMEOUT = httpx.Timeout(10.0, connect=2.0)
START_HINT = "start it with `make run` (or `python -m service`), or point API_URL at it"
# Statuses where the same request may succeed later: rate limited, or the server's own trouble.
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))

Transport = httpx.BaseTransport | None
T = TypeVar("T")

# What the service makes of an image (POST /predict's `verdict`): one digit it is sure of, one it
# is not sure of, no digit at all, or several digits.
Verdict = Literal["digit", "unsure", "not_a_digit", "several_digits"]
VERDICTS: frozenset[str] = frozenset(get_args(Verdict))
# A service from before verdicts names no alternatives; the page names those above this, as the
# service does.
ALTERNATIVE_ABOVE = 0.05
ALTERNATIVES = 2


class ApiError(Exception):
    """Any failure talking to the service, with a message written for the person using the page.

    `status_code` is the HTTP status when the service answered (None when it could not be asked);
    `detail` is the service's own `detail` text when it gave one; `retryable` is True when the same
    request could succeed later (a timeout, an unreachable or busy service, a 5xx), False when the
    request itself was refused (a 4xx: the input or the key is wrong).
    """

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        detail: str | None = None,
        *,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail
        self.retryable = (
            retryable
            if retryable is not None
            else status_code is None or status_code in RETRYABLE_STATUSES
        )

    @property
    def unreachable(self) -> bool:
        """The service did not answer at all (down, wrong address, timed out)."""
        return self.status_code is None


@dataclass(frozen=True)
class ApiConfig:
    """Where the service is and how to authenticate; read from the environment by default."""

    url: str = DEFAULT_API_URL
    api_key: str | None = None

    @classmethod
    def from_env(cls) -> ApiConfig:
        url = os.environ.get("API_URL", "").strip() or DEFAULT_API_URL
        return cls(url=url.rstrip("/"), api_key=os.environ.get("API_KEY") or None)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    sha256: str
    parameters: int
    test_accuracy: float | None


@dataclass(frozen=True)
class Health:
    """GET /health: `ok` is True when the service can predict; otherwise `reason` says why not."""

    ok: bool
    device: str | None
    model: ModelInfo | None
    reason: str | None = None


@dataclass(frozen=True)
class Alternative:
    """A runner-up: another digit the image could be, and its (calibrated) probability."""

    digit: int
    probability: float


@dataclass(frozen=True)
class Prediction:
    """POST /predict: the verdict, the best guess and its calibrated probability, the runners-up,
    all ten probabilities, and what the model saw.

    `digit` and `confidence` are the best guess whatever the verdict: only a `digit` verdict
    means the service stands by it. `hint` is the service's advice for some verdicts (several
    digits: how to read them).
    """

    digit: int
    confidence: float
    probabilities: tuple[float, ...]
    model: str
    device: str
    latency_ms: float
    input_png: bytes | None = None
    verdict: Verdict = "digit"
    alternatives: tuple[Alternative, ...] = ()
    hint: str | None = None

    def top(self, k: int = 2) -> list[tuple[int, float]]:
        """The k most likely digits with their probabilities, most likely first."""
        ranked = sorted(enumerate(self.probabilities), key=lambda pair: pair[1], reverse=True)
        return ranked[:k]


@dataclass(frozen=True)
class Box:
    """Where a digit is, in the pixels of the image as sent."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class ReadDigit:
    """One digit of POST /read's answer: judged as /predict judges an image, and where it is."""

    digit: int
    confidence: float
    probabilities: tuple[float, ...]
    verdict: Verdict
    alternatives: tuple[Alternative, ...]
    box: Box

    @property
    def char(self) -> str:
        """How the service writes it in `text`: a piece that is no digit is "?"."""
        return "?" if self.verdict == "not_a_digit" else str(self.digit)


@dataclass(frozen=True)
class Reading:
    """POST /read: the number as text ("?" for a piece that is no digit), its digits left to
    right, and who answered how fast."""

    text: str
    digits: tuple[ReadDigit, ...]
    model: str
    device: str
    latency_ms: float


# The right answer a person gives for an image: a digit, or "not a digit".
NOT_A_DIGIT = "not_a_digit"
Label = int | Literal["not_a_digit"]


@dataclass(frozen=True)
class FeedbackStored:
    """POST /feedback: the stored correction's `id` (what undo needs) and what the service made of
    the image itself (it does not take the page's word for what was predicted)."""

    id: int
    label: Label
    predicted: int
    verdict: str
    model_version: int | None


@dataclass(frozen=True)
class FeedbackStats:
    """GET /feedback/stats: how many corrections are stored, by label, since when."""

    total: int
    by_label: dict[str, int]
    model_right: float | None
    since: str | None


# --- the one place that speaks HTTP ----------------------------------------------------------


def _headers(config: ApiConfig, content_type: str | None = None) -> dict[str, str]:
    headers = {"X-API-Key": config.api_key} if config.api_key else {}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def _request(
    config: ApiConfig,
    method: str,
    path: str,
    *,
    transport: Transport = None,
    content_type: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One request, with every transport failure turned into an ApiError a person can act on."""
    try:
        with httpx.Client(base_url=config.url, timeout=TIMEOUT, transport=transport) as client:
            return client.request(method, path, headers=_headers(config, content_type), **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout) as error:
        raise ApiError(
            f"cannot reach the prediction service at {config.url}; {START_HINT}."
        ) from error
    except httpx.TimeoutException as error:
        raise ApiError(
            f"the prediction service at {config.url} did not answer within "
            f"{TIMEOUT.read:.0f} s; it may be overloaded, try again in a moment."
        ) from error
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
        raise ApiError(
            f"API_URL {config.url!r} is not a usable address ({error}); set it to the service's "
            "URL, e.g. http://localhost:8000.",
            retryable=False,
        ) from error
    except httpx.HTTPError as error:
        # Unknown hosts and dropped connections alike: the next try may go through.
        raise ApiError(
            f"cannot talk to the prediction service at {config.url} ({error}); check API_URL."
        ) from error


def _json(response: httpx.Response, config: ApiConfig) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(
            f"{config.url} answered HTTP {response.status_code} with something that is not the "
            "prediction service's JSON; is API_URL pointing at the right server?",
            status_code=response.status_code,
        )
    return body


def _raise_for_error(response: httpx.Response, config: ApiConfig) -> None:
    if response.is_success:
        return
    body = _json(response, config)
    detail = str(body.get("detail") or f"HTTP {response.status_code}")
    if response.status_code == 401:
        message = f"the service refused the API key: {detail} (set API_KEY for the UI)"
    elif response.status_code == 503:
        message = f"the prediction service is not ready: {detail}"
    else:
        message = detail
    raise ApiError(message, status_code=response.status_code, detail=detail)


def _send(
    config: ApiConfig,
    method: str,
    path: str,
    *,
    answers: Callable[[int], bool] = lambda status: 200 <= status < 300,
    **kwargs: Any,
) -> dict[str, Any]:
    """One call to an endpoint → its JSON body. A status that `answers` does not accept raises
    the service's refusal as an ApiError."""
    response = _request(config, method, path, **kwargs)
    if not answers(response.status_code):
        _raise_for_error(response, config)
    return _json(response, config)


def _parsed(config: ApiConfig, path: str, build: Callable[[], T]) -> T:
    """`build()`, the answer's dataclass: a missing or mistyped field is the service's fault."""
    try:
        return build()
    # binascii.Error (bad base64) is a ValueError too.
    except (KeyError, TypeError, ValueError) as error:
        raise ApiError(f"{config.url}{path} answered in an unexpected shape ({error}).") from error


# --- the endpoints ---------------------------------------------------------------------------


def get_health(config: ApiConfig, *, transport: Transport = None) -> Health:
    """GET /health. A 503 is an answer (the service is up but cannot predict), not an error."""
    body = _send(
        config,
        "GET",
        "/health",
        answers=lambda status: status == 503 or 200 <= status < 300,
        transport=transport,
    )
    model = body.get("model")
    return _parsed(
        config,
        "/health",
        lambda: Health(
            ok=body.get("status") == "ok",
            device=body.get("device"),
            model=ModelInfo(
                name=str(model["name"]),
                sha256=str(model["sha256"]),
                parameters=int(model["parameters"]),
                test_accuracy=model.get("test_accuracy"),
            )
            if model
            else None,
            reason=body.get("reason"),
        ),
    )


def predict(
    config: ApiConfig,
    image: bytes,
    content_type: str = "image/png",
    *,
    transport: Transport = None,
) -> Prediction:
    """POST /predict?include_input=true with the image file as the raw body."""
    body = _send(
        config,
        "POST",
        "/predict",
        params={"include_input": "true"},
        content=image,
        content_type=content_type,
        transport=transport,
    )
    return _parsed(config, "/predict", lambda: _prediction(body))


def read(
    config: ApiConfig,
    image: bytes,
    content_type: str = "image/png",
    *,
    transport: Transport = None,
) -> Reading:
    """POST /read with the image of a number as the raw body."""
    body = _send(
        config, "POST", "/read", content=image, content_type=content_type, transport=transport
    )
    return _parsed(config, "/read", lambda: _reading(body))


def _reading(body: dict[str, Any]) -> Reading:
    digits = tuple(_read_digit(item) for item in body["digits"])
    return Reading(
        text=str(body["text"]),
        digits=digits,
        model=str(body.get("model", "")),
        device=str(body.get("device", "")),
        latency_ms=float(body.get("latency_ms", 0.0)),
    )


def _read_digit(item: dict[str, Any]) -> ReadDigit:
    # As for /predict: a verdict this page does not know reads as `unsure`, never as sure; a
    # piece is never `several_digits`, so that one would be as unknown here.
    verdict = item.get("verdict", "digit")
    box = item["box"]
    return ReadDigit(
        digit=int(item["digit"]),
        confidence=float(item["confidence"]),
        probabilities=tuple(float(p) for p in item["probabilities"]),
        verdict=verdict if verdict in VERDICTS and verdict != "several_digits" else "unsure",
        alternatives=tuple(
            Alternative(int(a["digit"]), float(a["probability"]))
            for a in item.get("alternatives", ())
        ),
        box=Box(int(box["x"]), int(box["y"]), int(box["width"]), int(box["height"])),
    )


def _prediction(body: dict[str, Any]) -> Prediction:
    """One answer of /predict (or one item of /predict/batch) as a Prediction.

    A service from before verdicts sends neither `verdict` nor `alternatives`: its answers read as
    `digit`, with the runners-up taken from the probabilities, so it still displays. A verdict this
    page does not know yet (a newer service) reads as `unsure`: never a confident answer by mistake.
    """
    encoded = body.get("input_image")
    probabilities = tuple(float(p) for p in body["probabilities"])
    digit = int(body["digit"])
    verdict = body.get("verdict", "digit")
    if "alternatives" in body:
        alternatives = tuple(
            Alternative(int(item["digit"]), float(item["probability"]))
            for item in body["alternatives"]
        )
    else:
        ranked = sorted(enumerate(probabilities), key=lambda pair: pair[1], reverse=True)
        alternatives = tuple(
            Alternative(d, p) for d, p in ranked[1 : 1 + ALTERNATIVES] if p > ALTERNATIVE_ABOVE
        )
    hint = body.get("hint")
    return Prediction(
        digit=digit,
        confidence=float(body["confidence"]),
        probabilities=probabilities,
        model=str(body.get("model", "")),
        device=str(body.get("device", "")),
        latency_ms=float(body.get("latency_ms", 0.0)),
        input_png=base64.b64decode(encoded, validate=True) if encoded else None,
        verdict=verdict if verdict in VERDICTS else "unsure",
        alternatives=alternatives,
        hint=str(hint) if hint else None,
    )


def send_feedback(
    config: ApiConfig,
    image: bytes,
    content_type: str,
    label: Label,
    *,
    transport: Transport = None,
) -> FeedbackStored:
    """POST /feedback?label=… with the image as the raw body (as /predict was sent it)."""
    body = _send(
        config,
        "POST",
        "/feedback",
        params={"label": str(label)},
        content=image,
        content_type=content_type,
        transport=transport,
    )
    return _parsed(config, "/feedback", lambda: _stored(body))


def _stored(body: dict[str, Any]) -> FeedbackStored:
    label = body["label"]
    version = body.get("model_version")
    return FeedbackStored(
        id=int(body["id"]),
        label=NOT_A_DIGIT if label == NOT_A_DIGIT else int(label),
        predicted=int(body["predicted"]),
        verdict=str(body.get("verdict", "")),
        model_version=None if version is None else int(version),
    )


def undo_feedback(config: ApiConfig, feedback_id: int, *, transport: Transport = None) -> None:
    """DELETE /feedback/{id}. The 204 has no body, so this skips `_send`'s JSON step."""
    response = _request(config, "DELETE", f"/feedback/{feedback_id}", transport=transport)
    _raise_for_error(response, config)


def feedback_stats(config: ApiConfig, *, transport: Transport = None) -> FeedbackStats:
    """GET /feedback/stats."""
    body = _send(config, "GET", "/feedback/stats", transport=transport)
    return _parsed(
        config,
        "/feedback/stats",
        lambda: FeedbackStats(
            total=int(body["total"]),
            by_label={str(k): int(v) for k, v in dict(body.get("by_label") or {}).items()},
            model_right=None if body.get("model_right") is None else float(body["model_right"]),
            since=None if body.get("since") is None else str(body["since"]),
        ),
    )
