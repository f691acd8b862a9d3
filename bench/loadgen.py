"""Drive POST /predict (or /read) with canvas PNGs at a fixed concurrency, for a fixed time; report req/s,
p50, p99 and errors. Uses wrk (Debian's package) when installed: it costs the shared CPU far less
than a Python client would. Otherwise a bounded asyncio + httpx loop."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

WRK_SCRIPT = Path(__file__).with_name("predict.lua")


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def uses_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_load(
    url: str, bodies: list[Path], concurrency: int, seconds: float, path: str = "/predict"
) -> LoadResult:
    if uses_wrk():
        return _run_wrk(url + path, bodies, concurrency, seconds)
    data = [p.read_bytes() for p in bodies]
    return asyncio.run(_run_python(url, path, data, concurrency, seconds))


def _run_wrk(url: str, bodies: list[Path], concurrency: int, seconds: float) -> LoadResult:
    # One wrk thread drives up to 64 connections easily and leaves the cores to the server.
    command = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        *map(str, bodies),
    ]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK_JSON "))
    stats = json.loads(line.removeprefix("WRK_JSON "))
    errors = sum(
        stats[key]
        for key in ("connect_errors", "read_errors", "write_errors", "timeouts", "status_errors")
    )
    return LoadResult(
        concurrency,
        stats["requests"],
        stats["duration_us"] / 1e6,
        stats["p50_us"] / 1000,
        stats["p99_us"] / 1000,
        errors,
    )


async def _run_python(
    url: str, path: str, bodies: list[bytes], concurrency: int, seconds: float
) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:

        async def worker(offset: int) -> None:
            nonlocal errors
            count = offset
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.post(
                        path,
                        content=bodies[count % len(bodies)],
                        headers={"Content-Type": "image/png"},
                    )
                    if response.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - started)
                count += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000 if latencies else (0.0, 0.0)
    return LoadResult(concurrency, len(latencies), elapsed, float(p50), float(p99), errors)
