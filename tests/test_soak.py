"""A bounded soak: thousands of requests at concurrency 32 against a real uvicorn on loopback, a mix of
drawn digits in every input form and the bad inputs of the hardening tests.

It must end with no 5xx, no connection error, every valid request answered with the digit a lone
reference request got for the same image, every bad one with its 4xx, and the server's resident
memory no more than 50 MB above what it was after the first SOAK_WARMUP requests (no leak).
The run is bounded twice: by a request count and by a wall-clock budget.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import httpx
import numpy as np
import orjson
import pytest
from PIL import Image

from devtools.drawn_digits import drawn_digits, encode
from devtools.servers import rss_bytes, start_api
from tests.test_hardening import png_declaring

# The 20,000 requests take about 50 s here (2 cores shared by client and server). If the
# machine is busier, the budget stops the loop early; the test then still needs MIN_REQUESTS, enough
# for the leak check to mean something. SOAK_REQUESTS / SOAK_BUDGET_S change both for longer runs.
REQUESTS = int(os.environ.get("SOAK_REQUESTS", "20000"))
MIN_REQUESTS = min(REQUESTS, 10_000)
WARMUP = 2000  # RSS is measured from here to the end: start-up allocations are not a leak
CONCURRENCY = 32
BUDGET_S = float(os.environ.get("SOAK_BUDGET_S", "90"))
MAX_RSS_GROWTH = 50 * 1024 * 1024


@dataclass
class Request:
    method: str
    path: str
    kwargs: dict
    expect_status: int
    expect_digits: list[int] | None = None  # per image, for the valid ones

    def encode(self) -> tuple[bytes, dict[str, str]]:
        """The body and Content-Type, encoded once by httpx (multipart, JSON) for the load loop."""
        request = httpx.Request(self.method, f"http://soak{self.path}", **self.kwargs)
        body = request.read()
        kind = request.headers.get("content-type")
        return body, {"Content-Type": kind} if kind else {}

    def answer_ok(self, status: int, body: bytes) -> bool:
        if status != self.expect_status:
            return False
        answer = orjson.loads(body)
        if self.expect_digits is None:
            return "detail" in answer
        predictions = answer.get("predictions", [answer])
        return [p["digit"] for p in predictions] == self.expect_digits


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    done: int = 0
    rss_after_warmup: int | None = None


def bad_requests(drawing: bytes) -> list[Request]:
    blank = encode(Image.new("L", (280, 280), 255))
    truncated = drawing[: len(drawing) // 2]
    bomb = png_declaring(100_000, 100_000, zlib.compress(b"\0" * 1000))
    raw = {"Content-Type": "image/png"}
    return [
        Request("POST", "/predict", {"content": b"junk", "headers": raw}, 422),
        Request("POST", "/predict", {"content": truncated, "headers": raw}, 422),
        Request("POST", "/predict", {"content": bomb, "headers": raw}, 413),
        Request("POST", "/predict", {"content": blank, "headers": raw}, 422),
        Request("POST", "/predict", {"content": b"", "headers": raw}, 422),
        Request(
            "POST", "/predict", {"content": b"x", "headers": {"Content-Type": "text/plain"}}, 415
        ),
        Request("POST", "/predict", {"json": {"pixels": [[-1, 2], [3, 4]]}}, 422),
        Request("POST", "/predict", {"json": {"image": "not base64!"}}, 422),
        Request(
            "POST",
            "/predict/batch",
            {"content": b"[" * 10_000, "headers": {"Content-Type": "application/json"}},
            422,
        ),
        Request("GET", "/predict", {}, 405),
        Request("GET", "/nowhere", {}, 404),
    ]


def valid_requests(pngs: list[bytes], digits: list[int]) -> list[Request]:
    """Each drawing in one of the input forms; every fifth a batch of four drawings."""
    requests = []
    for index, (data, digit) in enumerate(zip(pngs, digits, strict=True)):
        form = index % 5
        if form == 0:
            kwargs: dict = {"content": data, "headers": {"Content-Type": "image/png"}}
        elif form == 1:
            kwargs = {"files": {"file": ("d.png", data, "image/png")}}
        elif form == 2:
            kwargs = {"json": {"image": base64.b64encode(data).decode()}}
        elif form == 3:
            kwargs = {"content": data, "headers": {"Content-Type": "application/octet-stream"}}
        else:
            picks = [(index + k) % len(pngs) for k in range(4)]
            files = [("files", (f"{k}.png", pngs[k], "image/png")) for k in picks]
            requests.append(
                Request("POST", "/predict/batch", {"files": files}, 200, [digits[k] for k in picks])
            )
            continue
        requests.append(Request("POST", "/predict", kwargs, 200, [digit]))
    return requests


async def soak(url: str, pid: int, plan: list[Request], total: int, tally: Tally) -> None:
    # aiohttp, not httpx, for the load: it costs the client a third of the CPU per request, and
    # client and server share two cores here.
    encoded = [request.encode() for request in plan]
    deadline = time.monotonic() + BUDGET_S
    next_index = 0

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal next_index
        while next_index < total and time.monotonic() < deadline:
            index = next_index % len(plan)
            next_index += 1
            request, (body, headers) = plan[index], encoded[index]
            try:
                async with http.request(
                    request.method, url + request.path, data=body or None, headers=headers
                ) as response:
                    status, answer = response.status, await response.read()
            except (aiohttp.ClientError, TimeoutError) as error:
                tally.transport_errors.append(f"{request.path}: {error!r}")
                continue
            finally:
                tally.done += 1
                if tally.done == WARMUP:
                    tally.rss_after_warmup = rss_bytes(pid)
            tally.statuses[status] += 1
            if not request.answer_ok(status, answer):
                tally.wrong.append(f"{request.path} {status} {answer[:200]!r}")

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))


@pytest.mark.slow
def test_soak_no_errors_no_wrong_answers_no_leak(mnist_test: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = mnist_test
    drawings = drawn_digits(images, labels, 40, seed=7)
    pngs = [d.png for d in drawings]
    with start_api() as server, httpx.Client(base_url=server.url, timeout=30) as http:
        # The reference: each drawing alone, before any load.
        reference = []
        for data in pngs:
            response = http.post("/predict", content=data, headers={"Content-Type": "image/png"})
            assert response.status_code == 200, response.text
            reference.append(response.json()["digit"])
        # The model reads these drawings well; a broken reference would make the soak vacuous.
        assert sum(r == d.label for r, d in zip(reference, drawings, strict=True)) >= 36

        valid, bad = valid_requests(pngs, reference), bad_requests(pngs[0])
        # Three valid requests to one bad one, interleaved.
        plan = []
        for index in range(3 * len(valid)):
            plan.append(valid[index % len(valid)])
            if index % 3 == 2:
                plan.append(bad[(index // 3) % len(bad)])

        tally = Tally()
        started = time.monotonic()
        asyncio.run(soak(server.url, server.process.pid, plan, REQUESTS, tally))
        elapsed = time.monotonic() - started
        rss_end = rss_bytes(server.process.pid)
        assert http.get("/health").status_code == 200
        metrics = http.get("/metrics").text

    print(
        f"soak: {tally.done} requests in {elapsed:.1f}s ({tally.done / elapsed:.0f}/s), "
        f"statuses {dict(tally.statuses)}, RSS {tally.rss_after_warmup} → {rss_end}"
    )
    assert tally.done >= MIN_REQUESTS, f"only {tally.done} requests in {BUDGET_S:.0f}s"
    assert tally.transport_errors == []
    assert not [s for s in tally.statuses if s >= 500], tally.statuses
    assert tally.wrong == []
    assert tally.statuses[200] > tally.statuses[422] > 0
    assert tally.rss_after_warmup is not None
    assert rss_end - tally.rss_after_warmup < MAX_RSS_GROWTH
    assert "queue_depth 0.0" in metrics
