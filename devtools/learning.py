"""Learning from corrections, end to end on real processes, as an operator would run it:

1. `python -m service` on loopback serving the MNIST-only base (models/base; its own DATA_DIR,
   MODEL_DIR and admin key; two workers)
2. read Semeion's lines 1,001-1,593 through /predict/batch: the "before" figure
3. send lines 1..N as corrections through POST /feedback, in all three input forms
4. `python -m training --recipe finetune --feedback DATABASE_URL --base ... --output ...`
5. `python -m training.publish`, then POST /admin/reload
6. read lines 1,001-1,593 again, once every answer comes from the new version: the "after" figure

`python -m bench.corrections` runs it with all 1,000 fitting lines; tests/test_learning.py runs a
smaller one. Lines 1,001-1,593 are only ever measured, never sent as corrections.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from devtools import semeion
from devtools.servers import ROOT, free_port, run_server, wait_for

ADMIN_KEY = "corrections-demo"
# The MNIST-only model (the served one is this one fine-tuned on Semeion lines 1-1,000).
BASE_MODEL = ROOT / "models" / "base" / "mnist_cnn_model.pth"
BATCH = 64  # the service's MAX_IMAGES_PER_REQUEST


@dataclass(frozen=True)
class LearningRun:
    corrections: int
    semeion_before: (
        float  # lines 1,001-1,593, through the service (the digit, whatever the verdict)
    )
    semeion_after: float
    # The same answers' verdicts: the share answered "digit" (neither unsure nor not_a_digit), and
    # how often those were right. The new version answers with its own refitted verdict numbers.
    answered_digit_before: float
    answered_digit_after: float
    right_when_digit_before: float
    right_when_digit_after: float
    mnist_before: float  # MNIST test, from the fine-tune's own check
    mnist_after: float
    heldout_before: float | None  # the fine-tune's held-out corrections
    heldout_after: float | None
    finetune_seconds: float  # the whole command: reading, training, both checks, writing
    version: int
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Measure:
    accuracy: float
    versions: set[int]  # the model versions that answered
    answered_digit: float  # share with verdict "digit"
    right_when_digit: float


def _measure(url: str, pngs: list[bytes], labels: np.ndarray) -> Measure:
    """Accuracy over the images, the verdicts, and the model versions that answered."""
    right, versions, digit, right_digit = 0, set(), 0, 0
    with httpx.Client(base_url=url, timeout=120) as client:
        for start in range(0, len(pngs), BATCH):
            files = [
                ("files", (f"{i}.png", png, "image/png"))
                for i, png in enumerate(pngs[start : start + BATCH])
            ]
            answer = client.post("/predict/batch", files=files)
            answer.raise_for_status()
            for offset, prediction in enumerate(answer.json()["predictions"]):
                is_right = prediction["digit"] == labels[start + offset]
                right += is_right
                versions.add(prediction["model_version"])
                if prediction["verdict"] == "digit":
                    digit += 1
                    right_digit += is_right
    return Measure(right / len(pngs), versions, digit / len(pngs), right_digit / max(digit, 1))


async def _send(url: str, pngs: list[bytes], labels: np.ndarray) -> list[int]:
    """POST each image with its label, eight at a time, cycling through the three input forms."""
    semaphore = asyncio.Semaphore(8)

    async def one(client: httpx.AsyncClient, index: int) -> int:
        png, label = pngs[index], int(labels[index])
        async with semaphore:
            if index % 3 == 0:
                files = {"file": ("d.png", png, "image/png")}
                answer = await client.post("/feedback", files=files, data={"label": str(label)})
            elif index % 3 == 1:
                body = {"image": base64.b64encode(png).decode(), "label": label}
                answer = await client.post("/feedback", json=body)
            else:
                headers = {"Content-Type": "image/png"}
                answer = await client.post(f"/feedback?label={label}", content=png, headers=headers)
        if answer.status_code != 201:
            raise RuntimeError(f"POST /feedback answered {answer.status_code}: {answer.text}")
        return int(answer.json()["id"])

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        return await asyncio.gather(*(one(client, i) for i in range(len(pngs))))


def run(
    workdir: Path,
    corrections: int = 1000,
    finetune_args: tuple[str, ...] = (),
    database_url: str | None = None,
    say: Callable[[str], None] = print,
) -> LearningRun:
    pixels, labels = semeion.load()
    fit = slice(0, min(corrections, semeion.FIT_LINES.stop))
    fit_pngs = [semeion.to_png(bits) for bits in pixels[fit]]
    measure_pngs = [semeion.to_png(bits) for bits in pixels[semeion.MEASURE_LINES]]
    measure_labels = labels[semeion.MEASURE_LINES]
    data_dir = workdir / "data"
    database_url = database_url or f"sqlite:///{data_dir / 'feedback.db'}"
    env = {
        "MODEL_PATH": str(BASE_MODEL),  # version 1: the loop starts from MNIST's writers only
        "DATA_DIR": str(data_dir),
        "MODEL_DIR": str(workdir / "models"),
        "DATABASE_URL": database_url,
        "ADMIN_API_KEY": ADMIN_KEY,
        "WORKERS": "2",
        "DEVICE": "cpu",
        "LOG_REQUESTS": "false",
        "MODEL_POLL_INTERVAL": "0.2",
    }
    port = free_port()
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with run_server(command, f"{url}/health", env, "corrections", timeout=120):
        before = _measure(url, measure_pngs, measure_labels)
        say(
            f"Semeion lines 1,001-1,593 before: {before.accuracy:.2%} "
            f"(model version {sorted(before.versions)})"
        )
        started = time.perf_counter()
        ids = asyncio.run(_send(url, fit_pngs, labels[fit]))
        say(f"sent lines 1-{len(ids)} as corrections in {time.perf_counter() - started:.1f}s")

        output = workdir / "finetuned.pth"
        finetune = [
            sys.executable, "-m", "training", "--recipe", "finetune", "--feedback", database_url,
            "--base", str(BASE_MODEL), "--output", str(output), *finetune_args,
        ]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(finetune, cwd=ROOT, check=True, timeout=1800)
        seconds = time.perf_counter() - started
        say(f"fine-tuned in {seconds:.0f}s")
        publish = [
            sys.executable,
            "-m",
            "training.publish",
            str(output),
            "--model-dir",
            env["MODEL_DIR"],
        ]
        subprocess.run(publish, cwd=ROOT, check=True, timeout=300, capture_output=True)
        reloaded = httpx.post(
            f"{url}/admin/reload", headers={"X-Admin-Key": ADMIN_KEY}, timeout=120
        )
        reloaded.raise_for_status()
        version = int(reloaded.json()["model_version"])
        # The other worker follows within MODEL_POLL_INTERVAL: measure until only it answers.
        after: list[Measure] = []

        def measured_on_new_version() -> bool:
            after.append(_measure(url, measure_pngs, measure_labels))
            return after[-1].versions == {version}

        if not wait_for(measured_on_new_version, timeout=300):
            raise RuntimeError(f"a worker still answers with another version than {version}")
        say(f"Semeion lines 1,001-1,593 after: {after[-1].accuracy:.2%} (model version {version})")
    metadata = json.loads(output.with_suffix(".json").read_text())
    lineage = metadata["lineage"]
    return LearningRun(
        corrections=len(ids),
        semeion_before=before.accuracy,
        semeion_after=after[-1].accuracy,
        answered_digit_before=before.answered_digit,
        answered_digit_after=after[-1].answered_digit,
        right_when_digit_before=before.right_when_digit,
        right_when_digit_after=after[-1].right_when_digit,
        mnist_before=lineage["mnist_test_accuracy"]["base"],
        mnist_after=lineage["mnist_test_accuracy"]["finetuned"],
        heldout_before=lineage["heldout_accuracy"]["base"],
        heldout_after=lineage["heldout_accuracy"]["finetuned"],
        finetune_seconds=seconds,
        version=version,
        metadata=metadata,
    )
