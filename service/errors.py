"""Every failure a client can cause, mapped to a status code and a `detail` saying what to send instead."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from service.batcher import BatcherStoppedError, QueueFullError
from service.preprocessing import ImageTooLargeError, InputError
from service.schemas import FastJSONResponse

RETRY_AFTER_SECONDS = "1"


class ApiError(HTTPException):
    """A client error raised while reading a request; `detail` is shown to the client as is."""

    def __init__(
        self, status_code: int, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)


class BodyTooLargeError(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body is over the limit of {limit:,} bytes; send a "
            "smaller image (a drawn digit PNG is ~10 KB)",
        )


class ModelUnavailableError(ApiError):
    def __init__(self, reason: str) -> None:
        super().__init__(
            503, f"the model is not loaded: {reason}", headers={"Retry-After": RETRY_AFTER_SECONDS}
        )


def input_error_status(error: InputError) -> int:
    return 413 if isinstance(error, ImageTooLargeError) else 422


async def send_error(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with `{"detail": ...}` straight from ASGI middleware, before any route runs."""
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _error(
    status_code: int, detail: object, headers: dict[str, str] | None = None
) -> FastJSONResponse:
    return FastJSONResponse({"detail": detail}, status_code=status_code, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InputError)
    async def bad_input(request: Request, error: InputError) -> FastJSONResponse:
        return _error(input_error_status(error), str(error))

    @app.exception_handler(QueueFullError)
    async def overloaded(request: Request, error: QueueFullError) -> FastJSONResponse:
        return _error(
            503,
            f"the server is at capacity ({error}); retry in a second",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    @app.exception_handler(BatcherStoppedError)
    async def stopping(request: Request, error: BatcherStoppedError) -> FastJSONResponse:
        return _error(503, str(error), headers={"Retry-After": RETRY_AFTER_SECONDS})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> FastJSONResponse:
        return _error(error.status_code, error.detail, headers=getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> FastJSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        return _error(422, f"invalid request: {problems}")
