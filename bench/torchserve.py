"""TorchServe 0.12 as the peer baseline, when it is installed: the same preprocessing and classifier
(bench/torchserve_handler.py) behind its dynamic batching, batch 16 / 5 ms, 2 workers.

Installing it: `pip install torchserve torch-model-archiver` and Java 17
(`apt-get install openjdk-17-jre-headless`). Its model store and logs live in a temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from devtools.servers import free_port, run_server, wait_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKERS, BATCH_SIZE, BATCH_DELAY_MS = 2, 16, 5


def missing() -> str | None:
    """Why TorchServe cannot run here, or None when it can."""
    for tool in ("torchserve", "torch-model-archiver"):
        if not (BIN / tool).exists():
            return f"{tool} is not installed (pip install torchserve torch-model-archiver)"
    if not shutil.which("java"):
        return "TorchServe needs Java 17 (apt-get install openjdk-17-jre-headless)"
    return None


@contextlib.contextmanager
def running() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """TorchServe serving the committed model; yields the process and the prediction URL."""
    with tempfile.TemporaryDirectory(prefix="torchserve-") as folder:
        store = Path(folder)
        subprocess.run(
            [
                str(BIN / "torch-model-archiver"),
                *("--model-name", "mnist", "--version", "1.0", "--export-path", str(store)),
                *("--serialized-file", str(ROOT / "models" / "mnist_cnn_model.pth")),
                *("--handler", str(ROOT / "bench" / "torchserve_handler.py")),
            ],
            check=True,
        )
        port, management = free_port(), free_port()
        model = {
            "minWorkers": WORKERS,
            "maxWorkers": WORKERS,
            "batchSize": BATCH_SIZE,
            "maxBatchDelay": BATCH_DELAY_MS,
            "marName": "mnist.mar",
            "defaultVersion": True,
        }
        config = store / "config.properties"
        config.write_text(
            f"inference_address=http://127.0.0.1:{port}\n"
            f"management_address=http://127.0.0.1:{management}\n"
            f"metrics_address=http://127.0.0.1:{free_port()}\n"
            "disable_token_authorization=true\nenable_envvars_config=false\n"
            f"install_py_dep_per_model=false\nmodel_store={store}\nload_models=mnist.mar\n"
            f"models={json.dumps({'mnist': {'1.0': model}})}\n"
        )
        command = [str(BIN / "torchserve"), "--foreground", "--ncs", "--ts-config", str(config)]
        # The handler imports the service's preprocessing from this checkout.
        env = {"PYTHONPATH": str(ROOT), "LOG_LOCATION": str(store), "METRICS_LOCATION": str(store)}
        with run_server(command, f"http://127.0.0.1:{port}/ping", env, "torchserve") as (
            process,
            _,
        ):
            ready = f"http://127.0.0.1:{management}/models/mnist"
            if not wait_for(lambda: _workers_ready(ready) == WORKERS, timeout=120, interval=0.5):
                raise RuntimeError("TorchServe's workers did not become ready in 120 s")
            try:
                yield process, f"http://127.0.0.1:{port}"
            finally:
                subprocess.run([str(BIN / "torchserve"), "--stop"], capture_output=True, timeout=60)


def _workers_ready(url: str) -> int:
    try:
        workers = httpx.get(url, timeout=5).json()[0]["workers"]
    except (httpx.HTTPError, ValueError, KeyError, IndexError):
        return 0
    return sum(worker["status"] == "READY" for worker in workers)
