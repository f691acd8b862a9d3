"""The connection limits of service/api/transport.py, case by case, against a real uvicorn with the
service's protocol, run in this process (so its lines count in the coverage) on a loopback port,
serving a small ASGI app, with small limits and short deadlines so that every case is quick.

tests/test_edge_limits.py checks the same limits at their defaults against `python -m service`
with the model, under load; this file covers the states a connection can be in: a head cut off
whole or after a pipelined request, deadlines between keep-alive requests, a body the app is slow to
read (the server's wait, not the client's), and a body still trickling after the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from devtools.servers import free_port
from service import heap
from service.api.transport import ConnectionLimits, GuardedHttpToolsProtocol

LIMITS = ConnectionLimits(
    max_header_bytes=8192,
    max_header_line_bytes=2048,
    max_headers=20,
    header_timeout_s=0.5,
    body_timeout_s=0.5,
    body_min_rate=2000,
)
Scope = dict[str, Any]


async def echo(scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """Reads the whole body and answers how long it was (after `?wait=s`, the app's own delay)."""
    if scope["query_string"].startswith(b"wait="):
        await asyncio.sleep(float(scope["query_string"][5:]))  # the server is slow, not the client
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await answer(send, {"bytes": size, "path": scope["path"]})


async def answer_first(scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """Answers before reading the body, as a 401 or an admission 503 does."""
    await answer(send, {"early": True})


async def answer(send: Callable[..., Any], payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class SmallLimitsProtocol(GuardedHttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = LIMITS


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@contextlib.contextmanager
def serving(app: Callable[..., Any]) -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=SmallLimitsProtocol,
        ws="none",
        loop="uvloop",
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: server.started), "uvicorn did not start"
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    with serving(echo) as port:
        yield port


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def read_all(sock: socket.socket) -> bytes:
    received = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data


def responses(raw: bytes) -> list[tuple[int, dict[str, Any]]]:
    """(status, JSON body) of each HTTP response in `raw`, in order."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next(
            int(v) for n, _, v in (h.partition(": ") for h in lines) if n == "content-length"
        )
        found.append((int(lines[0].split()[1]), json.loads(rest[:length])))
        raw = rest[length:]
    return found


def exchange(port: int, data: bytes) -> list[tuple[int, dict[str, Any]]]:
    with connect(port) as sock:
        sock.sendall(data)
        return responses(read_all(sock))


GET = b"GET /x HTTP/1.1\r\nHost: t\r\n"
CLOSE = b"Connection: close\r\n\r\n"


def test_heads_within_the_limits_are_served(echo_port: int) -> None:
    headers = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 300) for i in range(17))
    assert exchange(echo_port, GET + headers + CLOSE) == [(200, {"bytes": 0, "path": "/x"})]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (b"X-Long: " + b"a" * 2100 + b"\r\n", "a header (or the request line) is over 2,048 bytes"),
        (b"".join(b"X-%d: v\r\n" % i for i in range(21)), "more than 20 header lines"),
        (b"".join(b"X-%d: %s\r\n" % (i, b"v" * 2000) for i in range(5)), "over 8,192 bytes"),
    ],
    ids=["line", "count", "total"],
)
def test_heads_over_a_limit_get_431(echo_port: int, extra: bytes, says: str) -> None:
    [(status, body)] = exchange(echo_port, GET + extra + b"\r\n")
    assert status == 431 and says in body["detail"]
    [(status, body)] = exchange(
        echo_port, b"GET /v2/models HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n"
    )
    assert status == 431 and says in body["error"]  # the Open Inference Protocol's shape


def test_an_endless_head_is_cut_off_while_it_arrives(echo_port: int) -> None:
    with connect(echo_port) as sock:
        sent = 0
        with contextlib.suppress(OSError):  # the server closes while we are still sending
            sock.sendall(GET)
            while sent < 8 * 1024 * 1024:
                sock.sendall(b"X-F: " + b"a" * 1000 + b"\r\n")
                sent += 1007
        raw = read_all(sock)
    assert sent < 8 * 1024 * 1024  # cut off, not read to the end
    if raw:  # a reset may overtake the answer
        [(status, body)] = responses(raw)
        assert status == 431 and "over 8,192 bytes" in body["detail"]


def test_a_head_after_a_pipelined_request_is_measured_too(echo_port: int) -> None:
    # The second head starts in the middle of a read, so its size must be measured, not assumed.
    second = GET + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 2000) for i in range(5)) + b"\r\n"
    assert [status for status, _ in exchange(echo_port, GET + b"\r\n" + second)] == [200, 431]
    assert (
        exchange(echo_port, GET + b"\r\n" + GET + CLOSE) == [(200, {"bytes": 0, "path": "/x"})] * 2
    )


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(echo_port: int) -> None:
    with connect(echo_port) as sock:
        assert read_all(sock) == b""


def test_a_head_that_stops_halfway_gets_408(echo_port: int) -> None:
    [(status, body)] = exchange(echo_port, GET + b"X-Half: ")
    assert status == 408 and "did not all arrive within 0.5 s" in body["detail"]


def test_the_next_head_on_a_kept_alive_connection_has_its_own_deadline(echo_port: int) -> None:
    with connect(echo_port) as sock:
        sock.sendall(GET + b"\r\n")
        first = sock.recv(65536)
        sock.sendall(GET + b"X-Half")
        raw = first + read_all(sock)
    assert [status for status, _ in responses(raw)] == [200, 408]


def post(length: int, path: bytes = b"/x", close: bool = True) -> bytes:
    head = b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n" % (path, length)
    return head + (CLOSE if close else b"\r\n")


def test_a_trickled_body_gets_408_and_the_app_a_disconnect(echo_port: int) -> None:
    with connect(echo_port) as sock:
        sock.sendall(post(10_000) + b"abc")
        raw = read_all(sock)
    [(status, body)] = responses(raw)
    assert status == 408 and "slower than 2,000 bytes a second" in body["detail"]


def test_a_body_at_a_steady_pace_is_served_past_the_grace(echo_port: int) -> None:
    with connect(echo_port) as sock:
        sock.sendall(post(4000))
        for _ in range(10):  # 400 B every 0.1 s: 4,000 B/s, twice the minimum, for 1 s in all
            sock.sendall(b"b" * 400)
            time.sleep(0.1)  # the client's pace, not a wait for the server
        raw = read_all(sock)
    assert responses(raw) == [(200, {"bytes": 4000, "path": "/x"})]


def test_time_the_app_takes_before_reading_is_not_charged_to_the_client(echo_port: int) -> None:
    # 1 MB at once, far past what uvicorn buffers before it stops reading; the app waits three
    # deadlines before it reads. The client did its part at once: it must be served.
    body = b"c" * (1024 * 1024)
    answered = exchange(echo_port, post(len(body), b"/x?wait=1.5") + body)
    assert answered == [(200, {"bytes": len(body), "path": "/x"})]


def test_a_body_still_trickling_after_the_answer_is_cut_off_without_a_second_answer() -> None:
    with serving(answer_first) as port, connect(port) as sock:
        # Kept alive, so the server would wait for the rest of the body before the next request.
        sock.sendall(post(10_000, close=False) + b"abc")
        raw = read_all(sock)  # the server closes once the trickle falls behind
    assert responses(raw) == [(200, {"early": True})]


def test_free_memory_is_released_without_error() -> None:
    heap.release_free_memory()  # glibc here; elsewhere it does nothing
