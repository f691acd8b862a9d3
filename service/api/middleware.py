"""Pure-ASGI middleware on every request: request id, access log, metrics, body-size limit.

Pure ASGI (not BaseHTTPMiddleware) because these run on the hot path and must not buffer bodies.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import metrics
from service.api.errors import (
    ApiError,
    bad_content_length,
    body_too_large,
    internal_error,
    send_refusal,
)

logger = logging.getLogger("service.access")
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CLIENT_CLOSED_REQUEST = 499  # nginx's status for "the client went away first"
# Where the connection (service/api/transport.py) notes the status it answered itself, when it
# cut off a request the app was still reading: the access log then names that status, not 499.
ANSWERED_BY_CONNECTION = "answered_by_connection"


class RequestContextMiddleware:
    """Tag each request with an id (X-Request-ID), log one JSON line, and count it in the metrics."""

    def __init__(self, app: ASGIApp, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client hung up before its body arrived: nobody to answer and nothing broken.
            # Counted as nginx's 499, not as a 500, so it raises no alarm and logs no error;
            # unless the connection cut a too-slow body off and answered 408 itself.
            status = scope["state"].get(ANSWERED_BY_CONNECTION, CLIENT_CLOSED_REQUEST)
        except Exception as error:
            # A bug, not the client's fault: one log line (the trace only at debug level), a 500
            # that names the request id, and the server carries on.
            logger.error(
                "unhandled %s: %s",
                type(error).__name__,
                error,
                extra={"request_id": request_id},
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )
            if not response_started:
                await send_refusal(scope, send_with_id, internal_error(request_id))
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            method = scope["method"]
            metrics.REQUESTS.labels(path, method, status).inc()
            metrics.REQUEST_LATENCY.labels(path, method, status).observe(elapsed)
            if self.log_requests:
                logger.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": method,
                        "path": scope["path"],
                        "route": path,
                        "status": status,
                        "latency_ms": round(elapsed * 1000, 3),
                        "client": (scope.get("client") or ("", 0))[0],
                    },
                )


class BodyLimitMiddleware:
    """413 for bodies over the limit: at once from Content-Length, or as soon as a chunked body
    passes it, so an oversized upload is never read whole into memory."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():  # a malformed header is the client's mistake, not a size
                    refusal = bad_content_length(value.decode("latin-1"))
                    await send_refusal(scope, send, refusal, close_connection=True)
                    return
                if int(value) > limit:
                    await send_refusal(scope, send, body_too_large(limit), close_connection=True)
                    return
                break
        received = 0
        over_limit = False

        async def counting_receive() -> Message:
            nonlocal received, over_limit
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over_limit = True
                    raise ApiError.of(body_too_large(limit))
            return message

        async def closing_send(message: Message) -> None:
            # After a chunked body went over the limit, close the connection with the 413;
            # otherwise the server would go on reading (and discarding) the rest of the upload.
            if over_limit and message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        await self.app(scope, counting_receive, closing_send)


# Request ids only need to be unique, not secret: a random per-process prefix and a counter cost
# far less than a uuid4 per request.
_ID_PREFIX = secrets.token_hex(6)
_ID_COUNTER = itertools.count(1)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _CLIENT_REQUEST_ID.match(candidate):
                return candidate
            break
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"
