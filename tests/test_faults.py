"""Faults against real uvicorn processes: overload, clients that vanish, broken model files at
start-up, and SIGTERM with requests in flight.

The documented choice for start-up faults: the process stays up, /health answers 503 with a
`reason` naming the file and the problem, every prediction route answers 503 with Retry-After, and
one log line says the same. Orchestrators see "not ready" and the reason is one curl away.
"""

from __future__ import annotations

import io
import itertools
import json
import shutil
import signal
import socket
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import torch
from PIL import Image, ImageDraw
from pydantic import ValidationError

from devtools.servers import LiveServer, free_port, start_api, wait_for
from service.settings import Settings
from tests.test_error_details import assert_plain

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "mnist_cnn_model.pth"
METADATA = MODEL.with_suffix(".json")


def seven_png() -> bytes:
    image = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(image).line([(8, 6), (20, 6), (12, 22)], fill=255, width=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


SEVEN = seven_png()


def post_seven(url: str, timeout: float = 30) -> tuple[int, int, dict[str, str]]:
    """Status, the order in which the answer arrived (0 first, across threads), headers."""
    response = httpx.post(
        f"{url}/predict", content=SEVEN, headers={"Content-Type": "image/png"}, timeout=timeout
    )
    return response.status_code, next(_ARRIVALS), dict(response.headers)


_ARRIVALS = itertools.count()


def queue_depth(url: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("queue_depth "):
            return float(line.split()[1])
    raise AssertionError("no queue_depth in /metrics")


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if '"level":"error"' in line or "Traceback" in line]


# --- Overload ----------------------------------------------------------------------------------


def test_overload_sheds_excess_requests_with_a_fast_503() -> None:
    # The batcher waits up to 3 s to fill a batch of 64, so with MAX_QUEUE=4 the first four
    # requests sit in the queue and every other one must be refused at once, not queued.
    env = {"MAX_QUEUE": "4", "MAX_IMAGES_PER_REQUEST": "4", "MAX_BATCH_WAIT_MS": "3000"}
    with start_api(env=env) as server, ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: post_seven(server.url), range(16)))
        ok = [r for r in results if r[0] == 200]
        shed = [r for r in results if r[0] == 503]
        assert len(ok) == 4 and len(shed) == 12, [r[0] for r in results]
        assert all(headers["retry-after"] == "1" for _, _, headers in shed)
        # Refused at once, not queued behind the batch: every 503 arrived before the first 200.
        assert max(order for _, order, _ in shed) < min(order for _, order, _ in ok)
        assert queue_depth(server.url) == 0
        # Once the queue drained, the service takes work again: no lasting overload state.
        assert post_seven(server.url)[0] == 200


def test_the_queue_cap_is_a_setting() -> None:
    env = {"MAX_QUEUE": "1", "MAX_IMAGES_PER_REQUEST": "1", "MAX_BATCH_WAIT_MS": "2000"}
    with start_api(env=env) as server, ThreadPoolExecutor(4) as pool:
        statuses = sorted(r[0] for r in pool.map(lambda _: post_seven(server.url), range(4)))
        assert statuses == [200, 503, 503, 503]


def test_a_batch_limit_over_the_queue_cap_is_refused_at_start_up() -> None:
    # Such a batch could never be queued: "503, retry" forever. The configuration is the mistake.
    with pytest.raises(ValidationError, match="MAX_IMAGES_PER_REQUEST \\(64\\) is over MAX_QUEUE"):
        Settings(_env_file=None, max_queue=4)
    assert Settings(_env_file=None, max_queue=4, max_images_per_request=4).max_queue == 4


# --- Clients that go away ----------------------------------------------------------------------


def raw_send(server: LiveServer, data: bytes, until: Callable[[], bool] | None = None) -> None:
    """Send raw bytes, wait for `until` (if given) with the connection open, then hang up."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        if until is not None:
            assert wait_for(until)


def test_clients_that_hang_up_leave_no_error_and_no_work_behind() -> None:
    # A batch window long enough for the test to see a request sitting in the queue.
    env = {"MAX_BATCH_WAIT_MS": "1000", "LOG_REQUESTS": "true"}
    with start_api(env=env) as server:
        head = b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
        for _ in range(5):
            # Half a body, then gone.
            raw_send(server, head + b"Content-Length: 10000\r\n\r\n" + SEVEN[:50])
            # Half a multipart form, then gone.
            raw_send(
                server,
                b"POST /predict/batch HTTP/1.1\r\nHost: t\r\nContent-Length: 10000\r\n"
                b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n"
                b'Content-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n'
                + SEVEN[:50],
            )
            # A whole request, gone while it waits in the batcher's queue.
            raw_send(
                server,
                head + b"Content-Length: %d\r\n\r\n" % len(SEVEN) + SEVEN,
                until=lambda: queue_depth(server.url) > 0,
            )
            # Headers only, then gone.
            raw_send(server, head + b"Content-Length: 10000\r\n")
        assert wait_for(lambda: queue_depth(server.url) == 0)
        status, _, _ = post_seven(server.url)
        assert status == 200
        last = httpx.get(f"{server.url}/health", headers={"X-Request-ID": "last"}, timeout=10)
        assert last.status_code == 200
        assert wait_for(lambda: '"request_id":"last"' in server.log())  # the last access line
        log = server.log()
        assert error_lines(log) == []
        # The hang-ups are counted as 499 (client closed), never as a 500.
        statuses = [
            json.loads(line)["status"] for line in log.splitlines() if '"message":"request"' in line
        ]
        assert 500 not in statuses and statuses.count(499) >= 10


# --- Start-up faults ---------------------------------------------------------------------------


def missing(tmp: Path) -> Path:
    return tmp / "nowhere" / "model.pth"


def truncated(tmp: Path) -> Path:
    path = tmp / "truncated.pth"
    path.write_bytes(MODEL.read_bytes()[: MODEL.stat().st_size // 2])
    return path


def checksum_mismatch(tmp: Path) -> Path:
    # A weights file whose bytes changed after training: its metadata's sha256 no longer matches.
    path = tmp / "model.pth"
    shutil.copy(METADATA, path.with_suffix(".json"))
    state = torch.load(MODEL, weights_only=True)
    name = next(reversed(state))  # the last layer's bias: same shapes, different bytes
    state[name] = state[name] + 1.0
    torch.save(state, path)
    return path


def wrong_shapes(tmp: Path) -> Path:
    path = tmp / "wrong_shapes.pth"
    state = torch.load(MODEL, weights_only=True)
    name = next(iter(state))
    state[name] = torch.zeros(*(d + 1 for d in state[name].shape))
    torch.save(state, path)
    return path


class RunsCode:
    """Unpickling this runs `code`: what a malicious checkpoint would do."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (self.code,)


def marker_for(model: Path) -> Path:
    return model.parent / "code-ran.marker"


def code_running_pickle(tmp: Path) -> Path:
    path = tmp / "evil.pth"
    code = f"open({str(marker_for(path))!r}, 'w').close()"
    torch.save({"conv1.weight": RunsCode(code)}, path)
    return path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (missing, "does not exist"),
        (truncated, "not a loadable state_dict"),
        (checksum_mismatch, "its metadata says"),
        (wrong_shapes, "does not fit the mnist-cnn network"),
        (code_running_pickle, "not a loadable state_dict"),
    ],
    ids=["missing", "truncated", "sha256-mismatch", "wrong-shapes", "code-running-pickle"],
)
def test_a_broken_model_file_is_reported_not_run(
    tmp_path: Path, make: Callable[[Path], Path], problem: str
) -> None:
    model = make(tmp_path)
    env = {"MODEL_PATH": str(model)}
    with start_api(env=env, expect_status=503) as server:
        health = httpx.get(f"{server.url}/health", timeout=10)
        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "unavailable" and body["model_loaded"] is False
        assert str(model) in body["reason"] and problem in body["reason"]
        assert_plain(body["reason"])  # torch's own message names Python types: not for clients
        predict = httpx.post(
            f"{server.url}/predict", content=SEVEN, headers={"Content-Type": "image/png"}
        )
        assert predict.status_code == 503 and predict.headers["retry-after"] == "1"
        assert problem in predict.json()["detail"]
        ready = httpx.get(f"{server.url}/v2/health/ready", timeout=10)
        assert ready.status_code == 503
        lines = [line for line in server.log().splitlines() if "model not loaded" in line]
        assert len(lines) == 1  # written at start-up, before the server answered anything
        entry = json.loads(lines[0])
        assert entry["level"] == "error" and str(model) in entry["message"]
        assert problem in entry["message"]
    assert not marker_for(model).exists()


def test_the_code_running_pickle_really_would_run_code(tmp_path: Path) -> None:
    # Without weights_only the file above does run its code: the test above guards a real threat.
    model = code_running_pickle(tmp_path)
    torch.load(model, weights_only=False)
    assert marker_for(model).exists()


# --- Graceful shutdown -------------------------------------------------------------------------


def test_sigterm_lets_in_flight_requests_finish_then_exits_0() -> None:
    # `python -m service` is what the container runs. Requests wait 2 s in the batcher, so they
    # are in flight when SIGTERM arrives.
    port = free_port()
    env = {"PORT": str(port), "MAX_BATCH_WAIT_MS": "2000", "LOG_REQUESTS": "true"}
    command = [sys.executable, "-m", "service"]
    with start_api(env=env, command=command, port=port) as server, ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(post_seven, server.url) for _ in range(6)]
        assert wait_for(lambda: queue_depth(server.url) == 6, timeout=10)
        server.process.send_signal(signal.SIGTERM)
        results = [future.result() for future in futures]
        assert [status for status, _, _ in results] == [200] * 6
        assert server.process.wait(timeout=30) == 0
        # Once it has stopped, nothing answers on the port.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/health", timeout=2)
        log = server.log()
        assert "Application shutdown complete" in log
        assert error_lines(log) == []
