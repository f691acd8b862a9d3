"""Start the real servers (uvicorn, Streamlit) as processes on free loopback ports, for tests and bench."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """A process's resident memory, from /proc (Linux): how the tests watch for leaks.
    `field="VmHWM"`: its peak since it started, or since `reset_peak_rss`."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for process {pid}")


def reset_peak_rss(pid: int) -> None:
    """Start VmHWM afresh from the current resident size, so a load's own peak can be read."""
    with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def wait_for(
    condition: Callable[[], object], timeout: float = 30.0, interval: float = 0.05
) -> bool:
    """Poll until `condition()` is true or `timeout` passes: tests wait on conditions, not on
    fixed sleeps, so a loaded machine makes them slower, never wrong."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_until_up(
    url: str,
    process: subprocess.Popen[bytes],
    timeout: float = 60.0,
    expect_status: int | None = 200,
) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(url, timeout=2)
            if expect_status is None or response.status_code == expect_status:
                return response
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


@contextlib.contextmanager
def run_server(
    command: list[str],
    health_url: str,
    env: dict[str, str] | None = None,
    log_name: str = "server",
    expect_status: int | None = 200,
    timeout: float = 60.0,
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log_dir = ROOT / "test-artifacts" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{log_name}-{os.getpid()}-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            wait_until_up(health_url, process, timeout, expect_status)
            yield process, log_path
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextlib.contextmanager
def start_api(
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
    port: int | None = None,
    expect_status: int | None = 200,
) -> Iterator[LiveServer]:
    """The service on 127.0.0.1, started the way users start it (`python -m service`: uvicorn with
    the connection limits), serving the committed model unless env says otherwise."""
    port = port or free_port()
    command = command or [
        sys.executable,
        "-m",
        "service",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    settings = {"DEVICE": "cpu", "LOG_REQUESTS": "false", "WORKERS": "1", **(env or {})}
    url = f"http://127.0.0.1:{port}"
    with run_server(command, f"{url}/health", settings, "api", expect_status) as (process, log):
        yield LiveServer(url, process, log)
