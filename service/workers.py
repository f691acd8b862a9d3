"""Several worker processes behind one listening socket: the supervisor accepts each connection and
hands it to the worker that holds the fewest open ones.

Why: with uvicorn's `workers=N` (one shared socket; whichever event loop wakes first accepts) and
with one SO_REUSEPORT socket per worker (the kernel hashes each connection to a socket), 64
keep-alive connections split unevenly between two workers (37/27 … 42/22), and since each worker's
latency is its connection count over its throughput, latency was bimodal. Here the count is exact:
the supervisor knows how many connections it handed to each worker, and each worker counts the ones
it closed in shared memory. The hand-off (the file descriptor sent with SCM_RIGHTS over a Unix
socket pair) costs one hop per connection and none per request on a kept-alive connection; the
client's address stays the connection's own.

The supervisor (the process that ran `python -m service`) binds and listens before any worker loads
its model, so a port in use fails at once and port 0 resolves to one port for all. Connections wait
in the backlog until a worker is ready (it says so on its socket pair once its model is loaded). The
supervisor never imports the app (or torch); it restarts a worker that dies and, on SIGTERM or
SIGINT, stops accepting, stops the workers gracefully and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import selectors
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("service.workers")

RESTART_DELAY_S = 1.0  # a worker that dies at once (bad settings) is not restarted in a hot loop
STOP_TIMEOUT_S = 40.0  # uvicorn's graceful shutdown (30 s) plus the model's release
HAND_OFF_TIMEOUT_S = 1.0  # a worker that cannot take a connection this long does not get it
READY = b"r"  # what a worker sends on its socket pair once it serves


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    channel: socket.socket  # the supervisor's end of the socket pair
    ready: bool = False
    handed: int = 0  # connections handed to this process


class Supervisor:
    """Accepts, hands each connection to the least-loaded ready worker, restarts dead workers."""

    def __init__(self, config: dict[str, Any], count: int) -> None:
        self.listener = listening_socket(
            config["host"], config["port"], config.get("backlog", 2048)
        )
        self.config = {**config, "port": self.listener.getsockname()[1]}
        self.context = multiprocessing.get_context("spawn")  # no torch state inherited across fork
        self.closed = self.context.RawArray("q", count)  # connections each worker has closed
        self.selector = selectors.DefaultSelector()
        self.stopping = threading.Event()
        self.listening = False
        self.restarts: dict[int, float] = {}  # worker index → when to start it again
        self.waiting: deque[socket.socket] = deque()  # accepted, not yet handed to a worker
        self.workers = [self._start(index) for index in range(count)]

    def run(self) -> None:
        while not self.stopping.is_set():
            for key, _ in self.selector.select(timeout=0.5):
                handler: Callable[[], None] = key.data
                try:
                    handler()
                except Exception:  # the workers depend on this loop: log, never die of one event
                    log.exception("supervisor event failed")
            now = time.monotonic()
            for index, when in list(self.restarts.items()):
                if now >= when and not self.stopping.is_set():
                    del self.restarts[index]
                    self.workers[index] = self._start(index)
        self._stop_all()

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping.set()

    def _start(self, index: int) -> _Worker:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.closed[index] = 0
        process = self.context.Process(
            target=_worker, args=(self.config, theirs, self.closed, index), name=f"worker-{index}"
        )
        process.start()
        theirs.close()
        ours.settimeout(HAND_OFF_TIMEOUT_S)
        worker = _Worker(index, process, ours)
        self.selector.register(ours, selectors.EVENT_READ, lambda: self._heard_from(worker))
        self.selector.register(process.sentinel, selectors.EVENT_READ, lambda: self._died(worker))
        log.info(
            "worker started",
            extra={"worker": index, "pid": process.pid, "port": self.config["port"]},
        )
        return worker

    def _heard_from(self, worker: _Worker) -> None:
        if worker.channel.fileno() == -1:  # its death was handled earlier in the same round
            return
        try:
            message = worker.channel.recv(16)
        except OSError:
            message = b""
        if message == READY:
            worker.ready = True
            log.info("worker ready", extra={"worker": worker.index, "pid": worker.process.pid})
            self._hand_off_waiting()  # which also starts listening
        else:  # the worker closed its end: it is exiting, and its sentinel says when it is gone
            worker.ready = False
            self.selector.unregister(worker.channel)
            self._listen_while_a_worker_is_ready()

    def _died(self, worker: _Worker) -> None:
        self.selector.unregister(worker.process.sentinel)
        with contextlib.suppress(KeyError):  # not when its end of the pair closed first
            self.selector.unregister(worker.channel)
        worker.ready = False
        worker.channel.close()
        self._listen_while_a_worker_is_ready()
        if self.stopping.is_set():
            return
        log.error(
            "worker died; restarting it",
            extra={
                "worker": worker.index,
                "pid": worker.process.pid,
                "exit_code": worker.process.exitcode,
            },
        )
        self.restarts[worker.index] = time.monotonic() + RESTART_DELAY_S

    def _listen_while_a_worker_is_ready(self) -> None:
        """Accept only while some worker can take the connection; otherwise clients wait in the
        backlog (during start-up, or while the only worker restarts)."""
        wanted = any(worker.ready for worker in self.workers)
        if wanted and not self.listening:
            self.selector.register(self.listener, selectors.EVENT_READ, self._accept)
        elif self.listening and not wanted:
            self.selector.unregister(self.listener)
        self.listening = wanted

    def _open_connections(self, worker: _Worker) -> int:
        return worker.handed - int(self.closed[worker.index])

    def _accept(self) -> None:
        """Take the connections waiting in the backlog and hand them on, one at a time: while one
        waits for a worker, the rest stay in the backlog."""
        self._hand_off_waiting()
        while not self.waiting:
            try:
                connection, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            self.waiting.append(connection)
            self._hand_off_waiting()

    def _hand_off_waiting(self) -> None:
        """Hand the accepted connections to the least-loaded ready worker each. One that no worker
        can take now (they died a moment ago, unnoticed yet) waits for the next that is ready."""
        stalled = []  # alive but not reading: left out of this round only
        while self.waiting:
            candidates = [worker for worker in self.workers if worker.ready]
            if not candidates:
                break
            connection = self.waiting[0]
            worker = min(candidates, key=self._open_connections)
            try:
                socket.send_fds(worker.channel, [b"c"], [connection.fileno()])
            except TimeoutError:
                log.warning("a worker did not take a connection", extra={"worker": worker.index})
                worker.ready = False
                stalled.append(worker)
                continue
            except OSError as error:  # its end is closed: it is exiting or gone
                log.warning(
                    "could not hand a connection to a worker: %s",
                    error,
                    extra={"worker": worker.index},
                )
                worker.ready = False
                continue
            worker.handed += 1
            self.waiting.popleft().close()  # the worker holds its own copy now
        for worker in stalled:  # it may take the next connections
            worker.ready = True
        self._listen_while_a_worker_is_ready()

    def _stop_all(self) -> None:
        self.listener.close()
        for connection in self.waiting:
            connection.close()
        for worker in self.workers:
            process = worker.process
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for worker in self.workers:
            worker.process.join(STOP_TIMEOUT_S)
            if worker.process.is_alive():
                worker.process.kill()
            worker.channel.close()


def serve(config: dict[str, Any], workers: int) -> None:
    """Run `workers` uvicorn servers of `config` (uvicorn.Config's keyword arguments) behind one
    listening socket until a signal stops them."""
    supervisor = Supervisor(config, workers)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    supervisor.run()


class HandedOffServer(uvicorn.Server):
    """A uvicorn server with no listening socket: it serves the connections the supervisor sends
    over `channel`, and counts in `closed[index]` those it has closed."""

    def __init__(
        self, config: uvicorn.Config, channel: socket.socket, closed: Any, index: int
    ) -> None:
        super().__init__(config)
        self.channel = channel
        self.closed = closed
        self.index = index
        self.protocol_class: type[asyncio.Protocol] | None = None  # once the config is loaded
        self.adopting: set[asyncio.Task[Any]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app's lifespan (the model loads); no listener
        self.protocol_class = _counting(self.config.http_protocol_class, self.closed, self.index)
        loop = asyncio.get_running_loop()
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._take_connections, loop)
        self.channel.send(READY)

    def _take_connections(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self.channel, 16, 1)
            except (BlockingIOError, InterruptedError):
                return
            if not message:  # the supervisor is gone: nobody will send connections any more
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                connection = socket.socket(fileno=fd)
                task = loop.create_task(loop.connect_accepted_socket(self._protocol, connection))
                self.adopting.add(task)  # a task nothing refers to may be collected mid-way
                task.add_done_callback(functools.partial(self._adopted, connection))

    def _adopted(self, connection: socket.socket, task: asyncio.Task[Any]) -> None:
        self.adopting.discard(task)
        if task.cancelled() or task.exception() is not None:
            # Never served (the client left before it was taken in): closed, and counted as such
            # so the supervisor does not think this worker holds it.
            connection.close()
            self.closed[self.index] += 1

    def _protocol(self) -> asyncio.Protocol:
        assert self.protocol_class is not None
        return self.protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.channel.fileno() != -1:
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
            self.channel.close()  # the supervisor sees this worker leave and hands it nothing more
        await super().shutdown(sockets=sockets)


def _counting(
    protocol_class: type[asyncio.Protocol], closed: Any, index: int
) -> type[asyncio.Protocol]:
    """`protocol_class` that also counts its closed connections in `closed[index]`, which the
    supervisor reads to know how many this worker holds."""

    class Counting(protocol_class):  # type: ignore[valid-type,misc]
        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            closed[index] += 1

    return Counting


def _worker(config: dict[str, Any], channel: socket.socket, closed: Any, index: int) -> None:
    signal.signal(signal.SIGTERM, exit_cleanly)
    HandedOffServer(uvicorn.Config(**config), channel, closed, index).run()


def exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # uvicorn shuts down gracefully on SIGTERM (in-flight requests finish), then re-raises the
    # signal with the handler it found; with the default one the process would die "killed by
    # SIGTERM" (143) after an orderly shutdown. This handler makes that re-raise an exit 0.
    sys.exit(0)
