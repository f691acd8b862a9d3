"""`python -m bench`: the service against its baselines, in one run, on loopback.

Starts each server exactly as users do (`python -m service` on a free 127.0.0.1 port), drives it
with realistic canvas PNGs (MNIST test digits drawn on 280×280 RGBA canvases) at each concurrency,
and prints one table. Baselines measured in the same run give the figures meaning on a shared,
noisy machine: the service with batching off (MAX_BATCH_SIZE=1), with verdicts off (VERDICTS=false:
no not-a-digit detector), on one worker, on two workers sharing one socket as uvicorn's own
`--workers 2` does, TorchServe when it is installed (bench/torchserve.py), a naive
one-image-per-forward server, and a trivial FastAPI endpoint under the same uvicorn (the floor).
Two more targets price the number reader: /predict with its several-digits check switched off
(SEVERAL_DIGITS_CHECK=false), and POST /read driven with 4-digit numbers (MNIST test digits with
gaps on wide RGBA canvases, devtools/numbers.py).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

from bench import torchserve
from bench.loadgen import run_load, uses_wrk
from devtools.drawn_digits import draw, to_png
from devtools.numbers import compose, mnist_source
from devtools.servers import free_port, run_server

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MNIST = Path(os.environ.get("MNIST_DATA_DIR", ROOT.parent / "shared" / "data" / "mnist"))


def service(extra_env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, "-m", "service"], {"DEVICE": "cpu", **extra_env}


def plain_app(
    module: str, http: str = "httptools", workers: int = 1
) -> tuple[list[str], dict[str, str]]:
    """An app under the same uvicorn settings as the service, started by uvicorn's own CLI."""
    uvicorn = ["-m", "uvicorn", f"{module}:app", "--host", "127.0.0.1", "--no-access-log"]
    options = ["--loop", "uvloop", "--http", http, "--workers", str(workers)]
    return [sys.executable, *uvicorn, *options], {}


TORCHSERVE = "TorchServe 0.12, batch 16 / 5 ms, 2 workers"


READ_TARGET = "service: POST /read, 4-digit drawings"
TARGETS = {
    # WORKERS defaults to one per core: two workers behind the supervisor, on a 2-core host.
    "service (batching)": service({}),
    "service, several-digits check off": service({"SEVERAL_DIGITS_CHECK": "false"}),
    READ_TARGET: service({}),
    "service, batching off": service({"MAX_BATCH_SIZE": "1"}),
    # The verdict's cost: the not-a-digit detector runs in the same forward pass as the classifier.
    "service, verdicts off": service({"VERDICTS": "false"}),
    "service, 1 worker": service({"WORKERS": "1"}),
    # uvicorn's own multi-worker mode: both workers accept from one shared socket.
    "service, 2 workers on one shared socket": (
        plain_app("service.app", "service.api.transport:GuardedHttpToolsProtocol", workers=2)[0],
        {"DEVICE": "cpu", "WORKERS": "2"},
    ),
    TORCHSERVE: ([], {}),  # started by bench/torchserve.py
    "naive one-image-per-forward": plain_app("bench.naive"),
    "framework floor": plain_app("bench.floor"),
    # The floor under the service's own protocol (head-size and deadline checks): their cost.
    "floor, edge limits": plain_app(
        "bench.floor", "service.api.transport:GuardedHttpToolsProtocol"
    ),
}


def canvases(folder: Path, count: int = 64) -> list[Path]:
    with gzip.open(MNIST / "t10k-images-idx3-ubyte.gz") as file:
        images = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        path = folder / f"{index}.png"
        path.write_bytes(to_png(draw(images[index], rng, "rgba-transparent")))
        paths.append(path)
    return paths


def numbers(folder: Path, count: int = 16) -> list[Path]:
    """4-digit numbers with gaps, as a drawing canvas sends them (RGBA, transparent background)."""
    source = mnist_source(MNIST)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        picks = [int(i) for i in rng.choice(len(source.images), size=4, replace=False)]
        path = folder / f"number-{index}.png"
        path.write_bytes(compose(source, picks, "gaps", "rgba-transparent", rng).png)
        paths.append(path)
    return paths


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn's workers), in MB."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{candidate}/status").read_text()
        except FileNotFoundError:
            continue
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
    return total / 1024


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found += [child, *_children(child)]
    return found


@contextlib.contextmanager
def started(name: str) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """The target running: its process, its base URL and the path that predicts."""
    if name == TORCHSERVE:
        with torchserve.running() as (process, url):
            yield process, url, "/predictions/mnist"
        return
    command, env = TARGETS[name]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with run_server(
        [*command, "--port", str(port)],
        f"{url}/health",
        {**env, "HOST": "127.0.0.1"},
        "bench",
    ) as (process, _):
        yield process, url, "/read" if name == READ_TARGET else "/predict"


def measure(name: str, bodies: list[Path], levels: list[int], seconds: float) -> dict:
    start = time.perf_counter()
    with started(name) as (process, url, path):
        startup = time.perf_counter() - start
        run_load(url, bodies, 8, 2, path)  # warm-up: thread pools, allocator, branch caches
        results = [run_load(url, bodies, level, seconds, path) for level in levels]
        memory = rss_mb(process.pid)
    return {
        "name": name,
        "startup_s": startup,
        "rss_mb": memory,
        "results": [asdict(r) | {"rps": r.rps} for r in results],
    }


def table(runs: list[dict]) -> str:
    lines = [
        "| server | clients | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        for r in run["results"]:
            lines.append(
                f"| {run['name']} | {r['concurrency']} | {r['rps']:,.0f} | "
                f"{r['p50_ms']:.2f} | {r['p99_ms']:.1f} | {r['errors']} |"
            )
    return "\n".join(lines)


def ratios(runs: list[dict]) -> str:
    """Each configuration of the service against each baseline, at each concurrency."""
    by_name = {run["name"]: {r["concurrency"]: r for r in run["results"]} for run in runs}
    lines = []
    for name in ("service (batching)", "service, 1 worker"):
        for level, result in by_name.get(name, {}).items():
            baselines = (
                "service, batching off",
                "service, verdicts off",
                "service, 2 workers on one shared socket",
                TORCHSERVE,
                "naive one-image-per-forward",
            )
            for baseline in baselines:
                other = by_name.get(baseline, {}).get(level)
                if other and other["rps"]:
                    lines.append(
                        f"- {level} clients: '{name}' is {result['rps'] / other['rps']:.2f}× "
                        f"the throughput of '{baseline}', its p99 "
                        f"{result['p99_ms'] / other['p99_ms']:.2f}× (p99/p50 "
                        f"{result['p99_ms'] / result['p50_ms']:.2f} vs "
                        f"{other['p99_ms'] / other['p50_ms']:.2f})"
                    )
    checked = by_name.get("service (batching)", {})
    for level, result in by_name.get("service, several-digits check off", {}).items():
        if level in checked:
            on, off = checked[level], result
            lines.append(
                f"- {level} clients: the several-digits check costs "
                f"{on['p50_ms'] - off['p50_ms']:+.2f} ms at p50 ({on['p50_ms']:.2f} on, "
                f"{off['p50_ms']:.2f} off) and {1 - on['rps'] / off['rps']:+.1%} of the throughput"
            )
    for level, result in by_name.get(READ_TARGET, {}).items():
        if level in checked:
            lines.append(
                f"- {level} clients: /read of a 4-digit drawing p50 {result['p50_ms']:.2f} ms, "
                f"{result['p50_ms'] / checked[level]['p50_ms']:.1f}× /predict's"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=10, help="per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the targets this many times, in reverse order every other round, and print "
        "each round's table and ratios: this machine's speed drifts within a run, and the first "
        "target of a run is often low, so compare within rounds and across orders",
    )
    args = parser.parse_args()
    if not uses_wrk():
        # Measured on a 2-core host: the Python client drove the framework floor to 280 req/s at
        # 64 clients, where wrk drives it to 15,000: the client, not the server, was measured.
        print(
            "Load generator: a Python client, since wrk is not installed (apt-get install wrk); "
            "at high concurrency on a small host it limits every figure below."
        )
    if TORCHSERVE in args.targets and (reason := torchserve.missing()):
        print(f"Not comparing with TorchServe: {reason}.")
        args.targets.remove(TORCHSERVE)

    with tempfile.TemporaryDirectory() as folder:
        bodies = canvases(Path(folder))
        drawn_numbers = numbers(Path(folder))
        size = sum(p.stat().st_size for p in bodies) / len(bodies)
        number_size = sum(p.stat().st_size for p in drawn_numbers) / len(drawn_numbers)
        print(
            f"{len(bodies)} canvas PNGs (280×280 RGBA, {size / 1024:.1f} KB on average), "
            f"{len(drawn_numbers)} 4-digit numbers for /read ({number_size / 1024:.1f} KB); "
            f"{args.seconds:g} s per level; {os.cpu_count()} cores; {platform.platform()}"
        )
        runs = []
        for round_ in range(args.rounds):
            order = args.targets if round_ % 2 == 0 else args.targets[::-1]
            if args.rounds > 1:
                print(f"\nround {round_ + 1} of {args.rounds}", flush=True)
            measured = []
            for name in order:
                sent = drawn_numbers if name == READ_TARGET else bodies
                run = measure(name, sent, args.concurrency, args.seconds) | {"round": round_ + 1}
                print(
                    f"{name}: up in {run['startup_s']:.2f} s, "
                    f"RSS after the run {run['rss_mb']:.0f} MB",
                    flush=True,
                )
                measured.append(run)
            print()
            print(table(measured))
            print()
            print(ratios(measured))
            runs += measured
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / time.strftime("bench-%Y%m%d-%H%M%S.json")
    out.write_text(
        json.dumps(
            {"machine": platform.platform(), "cores": os.cpu_count(), "runs": runs}, indent=2
        )
    )
    print(f"\nraw results: {out}")


if __name__ == "__main__":
    main()
