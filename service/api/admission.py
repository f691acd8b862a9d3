"""Admission control: a budget of request-body bytes being read, decoded and predicted at once.

Without it, a burst of large requests is all taken in: 150 batches of 64 images (4 MB each) piled
their bodies and decoded images up in front of the two decoding threads (+650 MB of memory), and
every one of them waited seconds. With it, a request whose body would take the work in flight past
`MAX_INFLIGHT_BYTES` is answered 503 with Retry-After at once, before its body is read; what is
admitted is served at full speed. A request is charged its Content-Length (a chunked one, the
largest body allowed) from its head until its answer is sent. One request is always admitted, so a
budget smaller than one body cannot starve the server.

When a burst of at least `TRIM_AFTER_BYTES` in flight is over, the memory it freed is handed back
to the operating system (service/heap.py), so the process returns near its resting size.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from service import metrics
from service.api.errors import send_refusal, server_busy
from service.heap import release_free_memory

TRIM_AFTER_BYTES = 16 * 1024 * 1024


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, max_inflight_bytes: int, max_body_bytes: int) -> None:
        self.app = app
        self.budget = max_inflight_bytes
        self.max_body_bytes = max_body_bytes
        self.in_flight = 0  # one event loop per process: no lock needed
        self.peak = 0  # the most in flight since memory was last released
        metrics.bind_admission(lambda: self.in_flight)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = self._declared_size(scope)
        if size == 0:  # no body (GET /health, ...): nothing to read or decode
            await self.app(scope, receive, send)
            return
        if self.in_flight and self.in_flight + size > self.budget:
            await send_refusal(scope, send, server_busy(self.in_flight, self.budget))
            return
        self.in_flight += size
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= size
            if self.in_flight == 0 and self.peak >= TRIM_AFTER_BYTES:
                self.peak = 0
                asyncio.get_running_loop().run_in_executor(None, release_free_memory)

    def _declared_size(self, scope: Scope) -> int:
        # BodyLimitMiddleware, outside this one, has refused malformed and oversized lengths.
        for name, value in scope["headers"]:
            if name == b"content-length":
                return int(value)
            if name == b"transfer-encoding":
                return self.max_body_bytes
        return 0
