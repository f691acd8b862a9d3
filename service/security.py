"""Access control: the optional API key (X-API-Key) and the optional per-client-IP rate limit."""

from __future__ import annotations

import hmac
import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import send_error

API_KEY_HEADER = b"x-api-key"


class AccessMiddleware:
    """401 without the right X-API-Key (when a key is set), 429 over the rate limit (when one is set)."""

    def __init__(
        self,
        app: ASGIApp,
        api_key: str | None,
        public_paths: frozenset[str],
        rate_limit: str | None = None,
    ) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.public_paths = public_paths
        self.rate = parse(rate_limit) if rate_limit else None
        self.limiter = MovingWindowRateLimiter(MemoryStorage()) if self.rate else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        if self.api_key is not None and not self._key_matches(scope):
            await send_error(
                send,
                401,
                "missing or wrong API key; send it in the X-API-Key header",
                [(b"www-authenticate", b'ApiKey header="X-API-Key"')],
            )
            return
        if self.limiter and self.rate:
            client = (scope.get("client") or ("unknown", 0))[0]
            if not self.limiter.hit(self.rate, client):
                reset_at = self.limiter.get_window_stats(self.rate, client).reset_time
                retry_after = max(1, math.ceil(reset_at - time.time()))
                await send_error(
                    send,
                    429,
                    f"rate limit of {self.rate} per client exceeded; retry in {retry_after} s",
                    [(b"retry-after", str(retry_after).encode())],
                )
                return
        await self.app(scope, receive, send)

    def _key_matches(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == API_KEY_HEADER:
                # Constant time, so the key cannot be guessed byte by byte from response times.
                return hmac.compare_digest(value, self.api_key or b"")
        return False
