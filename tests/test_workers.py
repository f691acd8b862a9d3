"""`python -m service` with two workers: the supervisor listens and hands each connection to the
worker holding the fewest, a worker that dies is replaced, and SIGTERM stops them all with exit 0."""

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


def tcp_table(port: int) -> list[tuple[str, int, str]]:
    """(state, remote port, inode) of the IPv4 TCP sockets on local `port`, from /proc/net/tcp."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            rows.append((fields[3], int(fields[2].split(":")[1], 16), fields[9]))
    return rows


def tcp_sockets(port: int, state: str) -> set[str]:
    """Inodes of the sockets on local `port` in `state` (0A listening, 01 established)."""
    return {inode for found, _, inode in tcp_table(port) if found == state}


def port_of(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def ready_workers(server: LiveServer) -> int:
    return server.log().count('"message":"worker ready"')


def held_by_each(workers: list[int], port: int) -> list[int]:
    """How many of the port's established connections each worker process holds."""
    established = tcp_sockets(port, "01")
    return [len(socket_inodes(pid) & established) for pid in workers]


def open_connections(port: int, count: int) -> list[socket.socket]:
    connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    for connection in connections:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert connection.recv(64).startswith(b"HTTP/1.1 200")
    return connections


def connection_inode(connection: socket.socket, port: int) -> str | None:
    """The server side's socket inode of a client connection."""
    client_port = connection.getsockname()[1]
    return next((inode for _, remote, inode in tcp_table(port) if remote == client_port), None)


def test_the_supervisor_listens_and_hands_each_connection_to_the_least_loaded_worker() -> None:
    with start_api(env={"WORKERS": "2"}) as server:
        port = port_of(server)
        workers = children(server.process.pid)
        assert len(workers) == 2
        assert wait_for(lambda: ready_workers(server) == 2, 60)
        # One listening socket, the supervisor's; the workers take connections from it.
        listening = tcp_sockets(port, "0A")
        assert len(listening) == 1
        assert socket_inodes(server.process.pid) & listening == listening
        assert not any(socket_inodes(pid) & listening for pid in workers)
        # The supervisor never imports the app: no model, no torch (a worker holds ~600 MB).
        assert rss_bytes(server.process.pid) < 150 * 2**20

        first, second = open_connections(port, 32), []
        try:
            # Exactly even: the kernel's hash or an accept race splits them unevenly (37/27 of 64).
            assert wait_for(lambda: held_by_each(workers, port) == [16, 16], 10)
            first_workers = socket_inodes(workers[0]) & tcp_sockets(port, "01")
            # Close the 16 connections of the first worker: the next 8 all go to it.
            for connection in first:
                if connection_inode(connection, port) in first_workers:
                    connection.close()
            assert wait_for(lambda: held_by_each(workers, port) == [0, 16], 10)
            second = open_connections(port, 8)
            assert wait_for(lambda: held_by_each(workers, port) == [8, 16], 10)
        finally:
            for connection in [*first, *second]:
                connection.close()


def test_dead_workers_are_replaced_clients_wait_for_them_and_sigterm_stops_all() -> None:
    with start_api(env={"WORKERS": "2"}) as server:
        assert wait_for(lambda: ready_workers(server) == 2, 60)
        first, second = children(server.process.pid)
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: ready_workers(server) == 3, 60)
        assert len(set(children(server.process.pid)) - {first, second}) == 1
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
        assert '"message":"worker died; restarting it"' in server.log()

        # With no worker alive, a client waits in the backlog and is served once one is back,
        # rather than refused.
        second_pair = children(server.process.pid)
        for pid in second_pair:
            os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: server.log().count("worker died; restarting it") == 3, 30)
        assert httpx.get(f"{server.url}/health", timeout=60).status_code == 200
        assert wait_for(lambda: ready_workers(server) == 5, 60)
        survivors = children(server.process.pid)
        assert len(survivors) == 2 and not set(survivors) & set(second_pair)

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
        for pid in survivors:
            assert (
                not Path(f"/proc/{pid}").exists()
                or "zombie" in Path(f"/proc/{pid}/status").read_text()
            )
