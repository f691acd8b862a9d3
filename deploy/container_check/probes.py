"""What the check asks of the running images, from the host, as a user would.

The API: the README's "Ask the API" examples, run as written (only the port differs) with MNIST
test digits as the files they name, must answer as the README shows. The UI: the browser test
(tests/test_browser.py) drives the page served by the UI image, which calls the API image.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from deploy.container_check.buildah import CheckFailed, Running, tail

ROOT = Path(__file__).resolve().parents[2]
README_SECTION = "## Ask the API"
README_HOST = "localhost:8000"


def wait_for(url: str, running: Running, timeout: float) -> httpx.Response:
    """Poll url until it answers 200; fail early, with the log, if the command exits first."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise CheckFailed(
                f"{running.container}: the image's command exited ({running.process.returncode}) "
                f"before {url} answered; its log:\n{tail(running.log())}"
            )
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200:
                return response
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as error:
            last = str(error) or type(error).__name__
        time.sleep(0.25)
    raise CheckFailed(
        f"{url} did not answer 200 within {timeout:.0f} s (last: {last}); the log of "
        f"{running.container}:\n{tail(running.log())}"
    )


# --- the README's examples ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReadmeExamples:
    commands: list[str]  # the shell commands of the bash block, comments dropped
    shown: dict[str, Any]  # the answer the README shows for /predict
    python: str  # the KServe V2 client example


def readme_examples(readme: str) -> ReadmeExamples:
    start = readme.index(README_SECTION)
    end = readme.find("\n## ", start + 1)
    section = readme[start : end if end > 0 else None]
    blocks = {
        language: code
        for language, code in reversed(re.findall(r"```(\w+)\n(.*?)```", section, re.S))
    }  # the first block of each language wins
    commands = [
        line.strip()
        for line in blocks["bash"].splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    return ReadmeExamples(commands, json.loads(blocks["json"]), blocks["python"])


def mnist_test_digits(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first MNIST test digits (28×28 uint8, white on black) and their labels."""
    folder = Path(os.environ.get("MNIST_DATA_DIR", ROOT.parent / "shared" / "data" / "mnist"))
    try:
        with gzip.open(folder / "t10k-images-idx3-ubyte.gz") as file:
            images = np.frombuffer(file.read(16 + count * 784), np.uint8, offset=16)
        with gzip.open(folder / "t10k-labels-idx1-ubyte.gz") as file:
            labels = np.frombuffer(file.read(8 + count), np.uint8, offset=8)
    except OSError as error:
        raise CheckFailed(
            f"the README's examples need MNIST's test files ({error}); set MNIST_DATA_DIR"
        ) from None
    return images.reshape(count, 28, 28), labels.astype(int)


def write_example_files(folder: Path) -> dict[str, int]:
    """The files the README's examples name, each an MNIST test digit; file name → its label.
    digit.png is the first test digit, as the README says; a.png and b.png the first two."""
    images, labels = mnist_test_digits(2)
    files = {"digit.png": 0, "digit28.png": 0, "a.png": 0, "b.png": 1}
    for name, index in files.items():
        Image.fromarray(images[index]).save(folder / name)
    return {name: int(labels[index]) for name, index in files.items()}


def _judge_prediction(answer: Any, shown: dict[str, Any], digit: int, where: str) -> None:
    if not isinstance(answer, dict) or set(answer) != set(shown):
        raise CheckFailed(
            f"{where}: answered {answer!r}; the README shows the keys {sorted(shown)}"
        )
    probabilities = answer["probabilities"]
    problems = [
        f"{key} is {answer[key]!r}, the README shows {shown[key]!r}"
        for key in ("model", "device")
        if answer[key] != shown[key]
    ]
    if answer["digit"] != digit:
        problems.append(f"read {answer['digit']}, the file is a {digit}")
    if len(probabilities) != 10 or int(np.argmax(probabilities)) != answer["digit"]:
        problems.append(f"probabilities {probabilities} do not point at the digit")
    if abs(answer["confidence"] - shown["confidence"]) > 0.01:
        problems.append(
            f"confidence {answer['confidence']}, the README shows {shown['confidence']}"
        )
    if problems:
        raise CheckFailed(f"{where}: " + "; ".join(problems))


def run_readme_examples(port: int, folder: Path) -> list[str]:
    """Each example of the README against the API on port, judged; one line per example."""
    examples = readme_examples((ROOT / "README.md").read_text())
    labels = write_example_files(folder)
    if examples.shown["digit"] != labels["digit.png"]:
        raise CheckFailed(
            f"the README shows digit {examples.shown['digit']} for digit.png, MNIST's first "
            f"test digit, which is a {labels['digit.png']}"
        )
    done = []
    for command in examples.commands:
        command = command.replace(README_HOST, f"127.0.0.1:{port}")
        try:
            result = subprocess.run(
                ["bash", "-c", command], cwd=folder, capture_output=True, text=True, timeout=30
            )
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"`{command}` did not finish in 30 s") from None
        if result.returncode != 0:
            raise CheckFailed(f"`{command}` exited {result.returncode}: {result.stderr[-500:]}")
        try:
            answer = json.loads(result.stdout)
        except json.JSONDecodeError:
            raise CheckFailed(f"`{command}` answered no JSON: {result.stdout[:300]!r}") from None
        named = re.findall(r"@(\S+\.png)", command)
        if command.endswith("/health"):
            if answer.get("status") != "ok" or answer.get("model_loaded") is not True:
                raise CheckFailed(f"`{command}` answered {answer}")
        elif command.endswith("/predict/batch"):
            predictions = answer.get("predictions") if isinstance(answer, dict) else None
            if not isinstance(predictions, list) or len(predictions) != len(named):
                raise CheckFailed(f"`{command}`: {len(named)} files, answered {answer!r}")
            for file, prediction in zip(named, predictions, strict=True):
                _judge_prediction(prediction, examples.shown, labels[file], f"`{command}` {file}")
        else:
            where = f"`{command}`"
            _judge_prediction(answer, examples.shown, labels.get("digit.png", -1), where)
        done.append(command)
    code = examples.python.replace(README_HOST, f"127.0.0.1:{port}")
    try:
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        raise CheckFailed("the README's KServe V2 example did not finish in 60 s") from None
    if result.returncode != 0 or not result.stdout.startswith(f"[{labels['digit28.png']}]"):
        raise CheckFailed(
            f"the README's KServe V2 example printed {result.stdout!r} (expected the digit "
            f"[{labels['digit28.png']}] first): {result.stderr[-500:]}"
        )
    done.append(f"the KServe V2 client example: {result.stdout.strip()}")
    return done


def store_and_undo_a_correction(api_url: str, png: Path) -> str:
    """POST /feedback, GET /feedback/stats, DELETE: the image's database lives in its /data
    volume, which must be writable by the image's user."""
    with httpx.Client(base_url=api_url, timeout=30) as client:
        stored = client.post("/feedback", files={"file": png.open("rb")}, data={"label": "4"})
        if stored.status_code != 201:
            raise CheckFailed(f"POST /feedback answered {stored.status_code}: {stored.text[:300]}")
        stats = client.get("/feedback/stats")
        if stats.status_code != 200 or stats.json().get("total", 0) < 1:
            raise CheckFailed(f"GET /feedback/stats answered {stats.status_code}: {stats.text}")
        undone = client.delete(f"/feedback/{stored.json()['id']}")
        if undone.status_code != 204:
            raise CheckFailed(f"DELETE /feedback/{{id}} answered {undone.status_code}")
    return "a correction stored in the /data volume, counted by /feedback/stats and undone"


# --- the browser -------------------------------------------------------------------------------


def run_browser_test(ui_url: str, api_url: str, artifacts: Path, timeout: float = 300) -> str:
    """tests/test_browser.py against the running UI and API; a skipped test is a failure here.
    The tests that stop and start an API of their own (`own_api`) are left out, and the one that
    needs the browser to draw faster than live mode's pause (`drawing_pace`): make test runs both."""
    report = artifacts / "browser-junit.xml"
    command = [
        sys.executable, "-m", "pytest", "tests/test_browser.py", "-q", "-p", "no:cacheprovider",
        f"--junitxml={report}", "-o", "addopts=", "-m", "not own_api and not drawing_pace",
    ]  # fmt: skip
    env = {**os.environ, "TEST_UI_URL": ui_url, "TEST_API_URL": api_url}
    try:
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"the browser test did not finish in {timeout:.0f} s") from None
    if not report.is_file():
        raise CheckFailed(f"the browser test did not run:\n{tail(result.stdout + result.stderr)}")
    suite = ElementTree.parse(report).getroot()
    if suite.tag == "testsuites":
        suite = suite[0]
    tests, failures, errors, skipped = (
        int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")
    )
    if result.returncode != 0 or tests == 0 or failures or errors or skipped:
        raise CheckFailed(
            f"the browser test against {ui_url}: {tests} tests, {failures} failed, {errors} "
            f"errors, {skipped} skipped (a skip names what is missing here):\n{tail(result.stdout)}"
        )
    return f"{tests} browser tests passed"
