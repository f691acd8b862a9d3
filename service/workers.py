"""Several worker processes, each with its own listening socket on the same port (SO_REUSEPORT).

uvicorn's `workers=N` shares one listening socket: whichever worker's event loop wakes first
accepts, so 64 keep-alive connections split unevenly (37/27 … 42/22 on two workers) and latency
is bimodal. Here each worker binds its own socket with SO_REUSEPORT and the kernel spreads new
connections across the group by a hash of their addresses. Linux lets only processes of the same
user join a port's group, so another user cannot steal a share of the connections.

The supervisor (the process that ran `python -m service`) holds a bound, non-listening socket of
the group: the port is checked and reserved before any worker loads a model, and port 0 resolves
to one port for all workers. It restarts a worker that dies and, on SIGTERM or SIGINT, stops them
all gracefully and exits 0.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("service.workers")

RESTART_DELAY_S = 1.0  # a worker that dies at once (bad settings) is not restarted in a hot loop
STOP_TIMEOUT_S = 40.0  # uvicorn's graceful shutdown (30 s) plus the model's release


def reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def serve(config: dict[str, Any], workers: int) -> None:
    """Run `workers` uvicorn servers of `config` (uvicorn.Config's keyword arguments) until a
    signal stops them."""
    reserved = reuse_port_socket(config["host"], config["port"])
    port = reserved.getsockname()[1]
    context = multiprocessing.get_context("spawn")  # no torch state inherited across fork
    stopping = threading.Event()

    def start(index: int) -> BaseProcess:
        process = context.Process(
            target=_worker, args=({**config, "port": port},), name=f"worker-{index}"
        )
        process.start()
        log.info("worker started", extra={"worker": index, "pid": process.pid, "port": port})
        return process

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    processes = [start(index) for index in range(workers)]
    while not stopping.is_set():
        multiprocessing.connection.wait([p.sentinel for p in processes], timeout=0.5)
        for index, process in enumerate(processes):
            if process.exitcode is not None and not stopping.is_set():
                log.error(
                    "worker died; restarting it",
                    extra={"worker": index, "pid": process.pid, "exit_code": process.exitcode},
                )
                time.sleep(RESTART_DELAY_S)
                processes[index] = start(index)
    for process in processes:
        if process.is_alive() and process.pid is not None:
            process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
    for process in processes:
        process.join(STOP_TIMEOUT_S)
        if process.is_alive():
            process.kill()
    reserved.close()


def _worker(config: dict[str, Any]) -> None:
    signal.signal(signal.SIGTERM, exit_cleanly)
    sock = reuse_port_socket(config["host"], config["port"])
    uvicorn.Server(uvicorn.Config(**config)).run(sockets=[sock])


def exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # uvicorn shuts down gracefully on SIGTERM (in-flight requests finish), then re-raises the
    # signal with the handler it found; with the default one the process would die "killed by
    # SIGTERM" (143) after an orderly shutdown. This handler makes that re-raise an exit 0.
    sys.exit(0)
