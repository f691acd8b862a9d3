"""`python -m service` with two workers: each listens on its own socket of the port (SO_REUSEPORT),
connections reach both, a worker that dies is replaced, and SIGTERM stops them all with exit 0."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx

from devtools.servers import LiveServer, rss_bytes, start_api, wait_for


def children(pid: int) -> list[int]:
    """The worker processes of a supervisor (not multiprocessing's resource tracker)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in command:
            found.append(int(child))
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def tcp_sockets(port: int, state: str) -> set[str]:
    """Inodes of the IPv4 TCP sockets on local `port` in `state` (0A listening, 01 established)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            found.add(fields[9])
    return found


def port_of(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def test_two_workers_each_listen_and_share_the_connections() -> None:
    with start_api(env={"WORKERS": "2"}) as server:
        port = port_of(server)
        workers = children(server.process.pid)
        assert len(workers) == 2
        # /health answered from the first worker up; the second may still be loading its model.
        assert wait_for(lambda: len(tcp_sockets(port, "0A")) == 2, 60)
        listening = tcp_sockets(port, "0A")
        # One listening socket in each worker, none in the supervisor.
        assert all(len(socket_inodes(pid) & listening) == 1 for pid in workers)
        assert not socket_inodes(server.process.pid) & listening
        # The supervisor never imports the app: no model, no torch (a worker holds ~600 MB).
        assert rss_bytes(server.process.pid) < 150 * 2**20

        connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        try:
            for connection in connections:
                connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                # Answered (200, or 503 from a worker still loading its model): accepted.
                assert connection.recv(64).startswith(b"HTTP/1.1 ")
            established = tcp_sockets(port, "01")
            per_worker = [len(socket_inodes(pid) & established) for pid in workers]
        finally:
            for connection in connections:
                connection.close()
        # The kernel hashes each connection to a socket: both get some (all 32 on one: 2⁻³¹).
        assert sum(per_worker) == 32 and min(per_worker) > 0, per_worker


def test_a_dead_worker_is_replaced_and_sigterm_stops_all_with_exit_0() -> None:
    with start_api(env={"WORKERS": "2"}) as server:
        first, second = children(server.process.pid)
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: len(set(children(server.process.pid)) - {second}) == 1, 30)
        replacement = (set(children(server.process.pid)) - {second}).pop()
        assert wait_for(lambda: len(tcp_sockets(port_of(server), "0A")) == 2, 60)
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
        assert '"message":"worker died; restarting it"' in server.log()

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
        for pid in (second, replacement):
            assert (
                not Path(f"/proc/{pid}").exists()
                or "zombie" in Path(f"/proc/{pid}/status").read_text()
            )
