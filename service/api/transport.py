"""The connection's own limits, below the request: how much head a client may send, and how slowly.

uvicorn's httptools protocol buffers request headers without bound and never times out a client
that trickles them (or its body) a byte at a time. `GuardedHttpToolsProtocol` is that protocol with
three checks added, none of which costs a request that behaves more than a few attribute lookups:

- the head (request line and headers): over `MAX_HEADER_BYTES` in all, one line over
  `MAX_HEADER_LINE_BYTES`, or more than `MAX_HEADERS` lines → 431 and the connection closed. Bytes
  are counted as they arrive, so an endless header is cut off after about the limit plus one read,
  not buffered whole.
- the head must be complete `HEADER_TIMEOUT_S` after its first byte (or after the connection
  opened) → 408 and closed (a connection that sent nothing is closed without an answer).
- the body gets `BODY_TIMEOUT_S` of grace, extended by one second for every `BODY_MIN_RATE` bytes
  that arrive (Apache's mod_reqtimeout rule), so a large upload at a real client's pace passes and a
  trickle does not → 408 and closed. Time the app spends not reading (the server's fault, not the
  client's) does not count.

`python -m service` runs uvicorn with this protocol; the refusals' texts are in service/api/errors.py.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from service.api.errors import (
    Refusal,
    body_too_slow,
    head_too_large,
    header_line_too_long,
    headers_too_slow,
    is_v2_path,
    raw_response,
    too_many_headers,
)
from service.api.middleware import ANSWERED_BY_CONNECTION
from service.settings import get_settings

logger = logging.getLogger("service.transport")


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int
    max_header_line_bytes: int
    max_headers: int
    header_timeout_s: float
    body_timeout_s: float
    body_min_rate: int

    @property
    def small_head_bytes(self) -> int:
        """A head no bigger than this is within both size limits."""
        return min(self.max_header_bytes, self.max_header_line_bytes)


@lru_cache
def connection_limits() -> ConnectionLimits:
    settings = get_settings()
    return ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        max_header_line_bytes=settings.max_header_line_bytes,
        max_headers=settings.max_headers,
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        body_min_rate=settings.body_min_rate,
    )


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with limits on the head's size and on the time a request takes
    to arrive. One instance per connection."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = connection_limits()
        self._reading_head = True  # between one message's end and the next one's headers
        self._head_bytes = 0  # bytes received since this head began (at least the head's size)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_since = 0.0  # when the body's current grace began
        self._body_bytes = 0  # body bytes received since then
        self._refusal: Refusal | None = None
        self._refusal_detail = ""

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
        else:
            self._body_bytes += len(data)
        HttpToolsProtocol.data_received(self, data)
        if self._reading_head and self._refusal is None:
            if self._head_bytes > self.limits.max_header_bytes:  # an endless head: cut it off
                self._refuse(head_too_large(self.limits.max_header_bytes))
            elif self._head_bytes and self._head_timer is None:
                # Part of a head came and the rest did not: from now on the clock runs. (A head
                # that comes whole, as from any real client, never needs a timer.)
                self._head_timer = self.loop.call_later(
                    self.limits.header_timeout_s, self._head_too_slow
                )
        if self._refusal is not None:
            self._send_refusal()
        elif (
            self._body_timer is None
            and not self._reading_head
            and self.cycle is not None
            and self.cycle.more_body
        ):
            # The body did not come with its head: from now on it must keep pace.
            self._body_since = self.loop.time()
            self._body_bytes = 0
            self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_check)

    # httptools parser callbacks

    def on_headers_complete(self) -> None:
        if self._refusal is not None:
            return
        self._reading_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        refusal = self._head_refusal()
        if refusal is not None:
            self._refuse(refusal)
            return
        HttpToolsProtocol.on_headers_complete(self)

    def on_body(self, body: bytes) -> None:
        if self._refusal is None:
            HttpToolsProtocol.on_body(self, body)

    def on_message_complete(self) -> None:
        if self._refusal is not None:
            return
        self._reading_head = True
        self._head_bytes = 0
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        HttpToolsProtocol.on_message_complete(self)

    # The checks

    def _head_refusal(self) -> Refusal | None:
        limits = self.limits
        if len(self.headers) > limits.max_headers:
            return too_many_headers(limits.max_headers)
        if 0 < self._head_bytes <= limits.small_head_bytes:
            # Everything received since this head began fits under both size limits, so the head
            # does too: the usual case, and no need to measure it. (0: the head began in the middle
            # of a read, after a pipelined request, so its size is not known.)
            return None
        longest = len(self.url)
        total = longest
        for name, value in self.headers:
            size = len(name) + len(value)
            total += size
            longest = max(longest, size)
        if longest > limits.max_header_line_bytes:
            return header_line_too_long(limits.max_header_line_bytes)
        if total > limits.max_header_bytes:
            return head_too_large(limits.max_header_bytes)
        return None

    def _refuse(self, refusal: Refusal) -> None:
        """Stop parsing this connection: the rest of what it sent is ignored, then it is closed."""
        self._refusal = refusal
        self._refusal_detail = f"after {self._head_bytes:,} bytes of head"

    def _send_refusal(self) -> None:
        assert self._refusal is not None
        if self.pipeline or (self.cycle is not None and not self.cycle.response_complete):
            # Requests before the refused head are still being answered: read nothing more, and
            # refuse once they are (on_response_complete), so that their answers come first.
            self.flow.pause_reading()
            return
        self._answer_and_close(self._refusal, self._refusal_detail)

    def on_response_complete(self) -> None:
        HttpToolsProtocol.on_response_complete(self)
        if self._refusal is not None:
            self._send_refusal()

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head arriving while the previous answer is still being made: let that
            # answer finish, then close.
            self.cycle.keep_alive = False
            return
        if self._head_bytes == 0:  # an idle connection, not a request: nothing to answer
            self.transport.close()
            return
        refusal = headers_too_slow(self.limits.header_timeout_s)
        self._answer_and_close(refusal, f"headers too slow ({self._head_bytes:,} bytes came)")

    def _body_check(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self._reading_head:
            return
        now = self.loop.time()
        limits = self.limits
        if self.flow.read_paused:
            # The app has not taken what came already: the wait is ours, not the client's.
            self._body_since, self._body_bytes = now, 0
            deadline = now + limits.body_timeout_s
        else:
            deadline = self._body_since + limits.body_timeout_s
            deadline += self._body_bytes / limits.body_min_rate
        if now < deadline:
            self._body_timer = self.loop.call_at(deadline, self._body_check)
            return
        refusal = body_too_slow(limits.body_timeout_s, limits.body_min_rate)
        detail = f"body too slow: {self._body_bytes:,} bytes in {now - self._body_since:.1f} s"
        if self.cycle.response_started:
            logger.info("closed a connection: %s", detail)
            self.transport.close()
            return
        # The app is waiting for the body: it sees a disconnect, the client gets the 408.
        self.cycle.scope.setdefault("state", {})[ANSWERED_BY_CONNECTION] = refusal.status
        self.cycle.disconnected = True
        self.cycle.message_event.set()
        self._answer_and_close(refusal, detail)

    def _answer_and_close(self, refusal: Refusal, detail: str) -> None:
        if self.transport.is_closing():
            return
        url: bytes = getattr(self, "url", b"")  # set when the first byte of a request arrives
        path = url.split(b"?", 1)[0].decode("latin-1")
        logger.info(
            "answered %d and closed the connection: %s",
            refusal.status,
            detail,
            extra={"client": (self.client or ("", 0))[0], "path": path[:200]},
        )
        self.transport.write(raw_response(refusal, is_v2_path(path)))
        self.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
