"""The one table from failures to HTTP answers, for every route and middleware of the app.

Whatever refuses a request (a client's mistake, a busy or unready server, a middleware limit)
becomes a `Refusal`: a status, a text that says what was wrong and what to send instead, and
headers. REST paths answer `{"detail": text}`; the Open Inference Protocol's paths (/v2...) answer
`{"error": text}`, the shape V2 clients such as tritonclient read. Middleware refusals made before
any route runs go through the same rendering, so a /v2 client gets its protocol's shape from those
too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope, Send

from feedback.errors import FeedbackUnavailableError
from service.imaging.errors import ImageTooLargeError, InputError, TooManyPiecesError
from service.inference.errors import (
    BatcherStoppedError,
    ModelUnavailableError,
    QueueFullError,
    ReloadError,
    UnknownVersionError,
    VersionLoadError,
)
from service.v2_codec import ProtocolError

RETRY_AFTER_SECONDS = "1"
_RETRY = {"Retry-After": RETRY_AFTER_SECONDS}
# A database that is down or locked rarely recovers within a second; corrections can wait.
_RETRY_DATABASE = {"Retry-After": "5"}


@dataclass(frozen=True)
class Refusal:
    status: int
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """A client error found while reading a request; answered with its refusal as is."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.refusal = Refusal(status, detail, headers or {})

    @classmethod
    def of(cls, refusal: Refusal) -> ApiError:
        return cls(refusal.status, refusal.text, refusal.headers)


# Refusals made by middleware, before any route runs.


def body_too_large(limit: int) -> Refusal:
    return Refusal(
        413,
        f"the request body is over the limit of {limit:,} bytes; send a "
        "smaller image (a drawn digit PNG is ~10 KB)",
    )


def bad_content_length(value: str) -> Refusal:
    return Refusal(400, f"Content-Length {value!r} is not a number of bytes")


def unauthorized() -> Refusal:
    return Refusal(
        401,
        "missing or wrong API key; send it in the X-API-Key header",
        {"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
    )


def rate_limited(rate: str, retry_after: int) -> Refusal:
    return Refusal(
        429,
        f"rate limit of {rate} per client exceeded; retry in {retry_after} s",
        {"Retry-After": str(retry_after)},
    )


def server_busy(in_flight: int, budget: int) -> Refusal:
    return Refusal(
        503,
        f"the server is at capacity ({in_flight:,} bytes of requests are being read and decoded; "
        f"the budget is {budget:,}); retry in a second",
        _RETRY,
    )


# Refusals made by the connection (service/api/transport.py), before the request reaches the app.


_SEND_LESS = "send fewer or shorter headers (the API needs only Content-Type, and X-API-Key when a key is set)"


def head_too_large(limit: int) -> Refusal:
    return Refusal(431, f"the request line and headers are over {limit:,} bytes; {_SEND_LESS}")


def header_line_too_long(limit: int) -> Refusal:
    return Refusal(431, f"a header (or the request line) is over {limit:,} bytes; {_SEND_LESS}")


def too_many_headers(limit: int) -> Refusal:
    return Refusal(431, f"the request has more than {limit:,} header lines; {_SEND_LESS}")


def headers_too_slow(seconds: float) -> Refusal:
    return Refusal(
        408,
        f"the request's headers did not all arrive within {seconds:g} s; send the whole "
        "request at once",
    )


def body_too_slow(grace_seconds: float, min_rate: int) -> Refusal:
    return Refusal(
        408,
        f"the request body arrived slower than {min_rate:,} bytes a second (after "
        f"{grace_seconds:g} s of grace); send it at once",
    )


def internal_error(request_id: str) -> Refusal:
    return Refusal(500, f"internal server error (request id {request_id})")


def refusal_for(error: Exception, v2: bool) -> Refusal:
    """The table: what each failure answers. `v2`: the request came on an Open Inference path."""
    match error:
        case ApiError():
            return error.refusal
        case ProtocolError():
            return Refusal(error.status, str(error))
        case InputError():
            too_large = isinstance(error, ImageTooLargeError | TooManyPiecesError)
            status = 413 if too_large else 422
            return Refusal(status, f"input 'image': {error}" if v2 else str(error))
        case QueueFullError():
            return Refusal(503, f"the server is at capacity ({error}); retry in a second", _RETRY)
        case BatcherStoppedError():
            return Refusal(503, str(error), _RETRY)
        case ModelUnavailableError():
            return Refusal(503, f"the model is not loaded: {error.reason}", _RETRY)
        case FeedbackUnavailableError():
            text = f"{error.reason}; the correction was not stored, send it again later"
            return Refusal(503, text, _RETRY_DATABASE)
        case UnknownVersionError():
            versions = ", ".join(map(str, error.available))
            return Refusal(404, f"{error}; the versions are {versions}")
        case VersionLoadError():
            return Refusal(422, f"{error.reason}; the previous version is still served")
        case ReloadError():
            return Refusal(503, f"{error.reason}; the previous version is still served")
        case RequestValidationError():
            problems = "; ".join(
                f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
                for problem in error.errors()
            )
            return Refusal(400 if v2 else 422, f"invalid request: {problems}")
        case HTTPException():  # Starlette's own: unknown route (404), wrong method (405), ...
            return Refusal(error.status_code, str(error.detail), error.headers or {})
    raise TypeError(f"{type(error).__name__} is not a refusal")  # a bug: the middleware answers 500


HANDLED = (
    ApiError,
    ProtocolError,
    InputError,
    QueueFullError,
    BatcherStoppedError,
    ModelUnavailableError,
    FeedbackUnavailableError,
    UnknownVersionError,
    VersionLoadError,
    ReloadError,
    RequestValidationError,
    HTTPException,
)


def is_v2(scope: Scope) -> bool:
    return is_v2_path(scope["path"])


def is_v2_path(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def _body(refusal: Refusal, v2: bool) -> bytes:
    return orjson.dumps({"error" if v2 else "detail": refusal.text})


def refusal_response(refusal: Refusal, scope: Scope) -> Response:
    return Response(
        _body(refusal, is_v2(scope)),
        status_code=refusal.status,
        headers=dict(refusal.headers),
        media_type="application/json",
    )


async def send_refusal(
    scope: Scope, send: Send, refusal: Refusal, close_connection: bool = False
) -> None:
    """Answer straight from ASGI middleware, before any route runs."""
    body = _body(refusal, is_v2(scope))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in refusal.headers.items()),
    ]
    if close_connection:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def raw_response(refusal: Refusal, v2: bool) -> bytes:
    """A whole HTTP/1.1 response that closes the connection, for refusals made below ASGI (the
    connection's own limits), where there is no app to answer."""
    body = _body(refusal, v2)
    phrase = HTTPStatus(refusal.status).phrase
    head = [
        f"HTTP/1.1 {refusal.status} {phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *(f"{name.lower()}: {value}" for name, value in refusal.headers.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def install_error_handlers(app: FastAPI) -> None:
    async def refuse(request: Request, error: Exception) -> Response:
        return refusal_response(refusal_for(error, is_v2(request.scope)), request.scope)

    for error_type in HANDLED:
        app.add_exception_handler(error_type, refuse)
