"""Access control: the optional API key (X-API-Key) and the optional per-client-IP rate limit."""

from __future__ import annotations

import hmac
import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.errors import rate_limited, send_refusal, unauthorized

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
            await send_refusal(scope, send, unauthorized())
            return
        if self.limiter and self.rate:
            client = (scope.get("client") or ("unknown", 0))[0]
            if not self.limiter.hit(self.rate, client):
                reset_at = self.limiter.get_window_stats(self.rate, client).reset_time
                retry_after = max(1, math.ceil(reset_at - time.time()))
                await send_refusal(scope, send, rate_limited(str(self.rate), retry_after))
                return
        await self.app(scope, receive, send)

    def _key_matches(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == API_KEY_HEADER:
                # Constant time, so the key cannot be guessed byte by byte from response times.
                return hmac.compare_digest(value, self.api_key or b"")
        return False
