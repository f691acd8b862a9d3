"""Model versions: publishing (training.publish), the layout (training.versions), POST /admin/reload,
the version in every answer and in the V2 metadata, and a reload under load that reaches both
workers of a real server without a restart or a failed request.

Version 2 in these tests is the committed model with a softer last layer: it reads the same digits
with different probabilities, so which version answered shows in every answer.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from devtools.drawn_digits import draw, to_png
from devtools.servers import free_port, start_api, wait_for
from service.api.factory import create_app
from service.inference.batcher import DynamicBatcher
from service.inference.runtime import ModelRuntime
from tests.conftest import MODEL_PATH, make_settings
from training.metadata import read_metadata, sha256_of, write_metadata
from training.versions import CURRENT_FILE, WEIGHTS_FILE, list_versions, publish

ADMIN = {"X-Admin-Key": "admin-secret"}
PNG = {"Content-Type": "image/png"}


def softer_model(folder: Path, scale: float = 0.5) -> Path:
    """The committed weights with the last layer scaled: same digits, other probabilities."""
    state = torch.load(MODEL_PATH, weights_only=True)
    state["fc2.weight"] = state["fc2.weight"] * scale
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "candidate.pth"
    torch.save(state, weights)
    write_metadata(weights, {**(read_metadata(MODEL_PATH) or {}), "sha256": sha256_of(weights)})
    return weights


@pytest.fixture(scope="module")
def seven(mnist_test: tuple[np.ndarray, np.ndarray]) -> bytes:
    images, _ = mnist_test
    return to_png(draw(images[0], np.random.default_rng(0), "rgb-white-on-black"))


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    assert publish(softer_model(tmp_path / "build"), folder) == 2
    return folder


@pytest.fixture
def admin_client(model_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(model_dir=model_dir, admin_api_key="admin-secret")
    with TestClient(create_app(settings)) as client:
        yield client


# --- publishing and the layout -----------------------------------------------------------------


def test_publish_adds_the_next_version_with_all_its_files(tmp_path: Path) -> None:
    candidate = softer_model(tmp_path / "build")
    (tmp_path / "build" / "candidate_confusion.png").write_bytes(b"png")
    models = tmp_path / "models"
    command = [sys.executable, "-m", "training.publish", str(candidate), "--model-dir", str(models)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "as version 2" in result.stdout  # version 1 is the committed model
    folder = models / "2"
    assert sorted(p.name for p in folder.iterdir()) == [
        "mnist_cnn_model.json",
        "mnist_cnn_model.pth",
        "mnist_cnn_model_confusion.png",
    ]
    metadata = read_metadata(folder / WEIGHTS_FILE) or {}
    assert metadata["version"] == 2 and metadata["file"] == WEIGHTS_FILE
    assert metadata["sha256"] == sha256_of(folder / WEIGHTS_FILE) == sha256_of(candidate)
    assert not [p for p in models.iterdir() if p.name.startswith(".")]  # no staging left behind
    # Publishers racing each other still get one number each.
    numbers: list[int] = []
    threads = [
        threading.Thread(target=lambda: numbers.append(publish(candidate, models)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers) == [3, 4, 5, 6]


def test_publish_refuses_weights_that_do_not_load(tmp_path: Path) -> None:
    damaged = softer_model(tmp_path / "build")
    damaged.write_bytes(damaged.read_bytes()[:1000])
    models = tmp_path / "models"
    command = [sys.executable, "-m", "training.publish", str(damaged), "--model-dir", str(models)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: not published:") and "sha256" in result.stderr
    assert not models.exists() or list(models.iterdir()) == []


def test_the_committed_model_is_version_1_unless_model_dir_has_its_own(tmp_path: Path) -> None:
    models = tmp_path / "models"
    assert list_versions(models, MODEL_PATH) == {1: MODEL_PATH}  # MODEL_DIR need not exist
    for junk in ("0", "01", "x", ".publishing-abc", "7.tmp"):
        (models / junk).mkdir(parents=True)
    (models / "3").mkdir()
    assert list_versions(models, MODEL_PATH) == {1: MODEL_PATH, 3: models / "3" / WEIGHTS_FILE}
    (models / "1").mkdir()
    assert list_versions(models, MODEL_PATH)[1] == models / "1" / WEIGHTS_FILE


def test_at_start_the_pinned_version_is_served_else_the_newest(model_dir: Path) -> None:
    def served() -> int:
        runtime = ModelRuntime(make_settings(model_dir=model_dir))
        runtime.start()
        try:
            return runtime.require_ready().version
        finally:
            runtime.stop()

    assert served() == 2  # no `current` file: the newest
    (model_dir / CURRENT_FILE).write_text("1\n")
    assert served() == 1
    (model_dir / CURRENT_FILE).write_text(
        "9\n"
    )  # a version that is gone: the newest, and a log line
    assert served() == 2


# --- POST /admin/reload ------------------------------------------------------------------------


def test_without_an_admin_key_there_is_no_reload_route(model_dir: Path) -> None:
    with TestClient(create_app(make_settings(model_dir=model_dir))) as client:
        assert client.post("/admin/reload", headers=ADMIN).status_code == 404
        assert "/admin/reload" not in client.get("/openapi.json").json()["paths"]


def test_reload_needs_the_admin_key(admin_client: TestClient) -> None:
    for headers in ({}, {"X-Admin-Key": "wrong"}, {"X-API-Key": "admin-secret"}):
        answer = admin_client.post("/admin/reload", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["detail"] == (
            "missing or wrong admin key; send it in the X-Admin-Key header"
        )
    assert admin_client.get("/health").json()["model"]["model_version"] == 2


def test_reload_switches_versions_and_every_answer_names_the_one_that_answered(
    admin_client: TestClient, model_dir: Path, seven: bytes
) -> None:
    def predict() -> dict[str, object]:
        answer = admin_client.post("/predict", content=seven, headers=PNG)
        assert answer.status_code == 200
        return answer.json()

    newest = predict()
    assert newest["model_version"] == 2 and newest["digit"] == 7
    answer = admin_client.post("/admin/reload", headers=ADMIN, json={"version": 1})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"model_version": 1, "previous": 2, "versions": [1, 2]}
    assert (model_dir / CURRENT_FILE).read_text().strip() == "1"
    first = predict()
    assert first["model_version"] == 1 and first["digit"] == 7
    assert first["confidence"] > newest["confidence"]  # the softer model is less sure
    health = admin_client.get("/health").json()["model"]
    assert health["model_version"] == 1 and health["sha256"] == sha256_of(MODEL_PATH)
    batch = admin_client.post("/predict/batch", files=[("files", ("a.png", seven, "image/png"))])
    assert batch.json()["predictions"][0]["model_version"] == 1
    # No body: the newest again.
    answer = admin_client.post("/admin/reload", headers=ADMIN)
    assert answer.json() == {"model_version": 2, "previous": 1, "versions": [1, 2]}
    assert predict()["confidence"] == newest["confidence"]
    assert admin_client.get("/metrics").text.count("\nmodel_version 2.0") == 1


def test_each_version_answers_with_its_own_verdict_numbers_on_every_route(
    tmp_path: Path, seven: bytes
) -> None:
    """A version's verdict and confidence come from its own metadata's fitted numbers, and every
    route names the version that gave them: here version 2's "unsure" bar is above any
    confidence, so the same 7 is "unsure" from version 2 and "digit" from version 1."""
    weights = softer_model(tmp_path / "build")
    metadata = read_metadata(weights) or {}
    metadata["verdict"] = {**metadata["verdict"], "unsure_below": 0.999999}
    write_metadata(weights, metadata)
    folder = tmp_path / "models"
    assert publish(weights, folder) == 2
    image = {
        "inputs": [
            {
                "name": "image",
                "datatype": "BYTES",
                "shape": [1],
                "data": [base64.b64encode(seven).decode()],
            }
        ]
    }
    settings = make_settings(model_dir=folder, admin_api_key="admin-secret")
    with TestClient(create_app(settings)) as client:
        for version, verdict in ((2, "unsure"), (1, "digit")):
            answer = client.post("/admin/reload", headers=ADMIN, json={"version": version})
            assert answer.status_code == 200, answer.text
            predicted = client.post("/predict", content=seven, headers=PNG).json()
            assert (predicted["model_version"], predicted["verdict"]) == (version, verdict)
            read = client.post("/read", content=seven, headers=PNG).json()
            assert read["model_version"] == version
            assert [d["verdict"] for d in read["digits"]] == [verdict]
            v2 = client.post("/v2/models/mnist-cnn/infer", json=image).json()
            outputs = {output["name"]: output["data"] for output in v2["outputs"]}
            assert v2["model_version"] == str(version) and outputs["verdict"] == [verdict]
            assert outputs["probabilities"] == pytest.approx(predicted["probabilities"], abs=1e-6)


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"version": 7}, 404, "there is no model version 7; the versions are 1, 2"),
        ({"version": 0}, 422, "'version' must be a whole number from 1, not 0"),
        ({"version": "2"}, 422, "'version' must be a whole number from 1, not \"2\""),
        (
            [2],
            422,
            'send {"version": N} (a whole number from 1), or no body for the newest version',
        ),
    ],
)
def test_reload_refuses_unknown_or_malformed_versions(
    admin_client: TestClient, body: object, status: int, detail: str
) -> None:
    answer = admin_client.post("/admin/reload", headers=ADMIN, json=body)
    assert (answer.status_code, answer.json()["detail"]) == (status, detail)
    assert admin_client.get("/health").json()["model"]["model_version"] == 2


def test_a_version_that_does_not_load_leaves_the_served_one_in_place(
    admin_client: TestClient, model_dir: Path, seven: bytes
) -> None:
    broken = model_dir / "3"
    broken.mkdir()
    (broken / WEIGHTS_FILE).write_bytes(b"not a checkpoint")
    answer = admin_client.post("/admin/reload", headers=ADMIN, json={"version": 3})
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail.startswith("version 3 does not load: model file ")
    assert detail.endswith("; the previous version is still served")
    assert not (model_dir / CURRENT_FILE).exists()  # the other workers are not sent to it
    prediction = admin_client.post("/predict", content=seven, headers=PNG).json()
    assert prediction["model_version"] == 2 and prediction["digit"] == 7


def test_a_served_version_that_cannot_be_recorded_is_a_503(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    settings = make_settings(model_dir=tmp_path / "file" / "models", admin_api_key="admin-secret")
    with TestClient(create_app(settings)) as client:
        answer = client.post("/admin/reload", headers=ADMIN)
        assert answer.status_code == 503
        assert answer.json()["detail"].startswith("cannot record the served version in ")
        assert client.get("/health").json()["model"]["model_version"] == 1


def test_v2_lists_the_versions_and_only_the_served_one_is_ready(
    admin_client: TestClient,
) -> None:
    assert admin_client.get("/v2/models/mnist-cnn").json()["versions"] == ["1", "2"]
    one = admin_client.get("/v2/models/mnist-cnn/versions/1").json()
    two = admin_client.get("/v2/models/mnist-cnn/versions/2").json()
    assert one["versions"] == ["1"] and two["versions"] == ["2"]
    assert one["parameters"]["sha256"] == sha256_of(MODEL_PATH) != two["parameters"]["sha256"]
    assert (one["parameters"]["served"], two["parameters"]["served"]) == (False, True)
    assert admin_client.get("/v2/models/mnist-cnn/versions/3").status_code == 404
    assert admin_client.get("/v2/models/mnist-cnn/versions/2/ready").status_code == 200
    not_ready = admin_client.get("/v2/models/mnist-cnn/versions/1/ready")
    assert not_ready.status_code == 503 and not_ready.json()["ready"] is False
    tensor = {"name": "input", "shape": [1, 784], "datatype": "FP32", "data": [0.0] * 784}
    infer = admin_client.post("/v2/models/mnist-cnn/infer", json={"inputs": [tensor]})
    assert infer.status_code == 200 and infer.json()["model_version"] == "2"
    stale = admin_client.post("/v2/models/mnist-cnn/versions/1/infer", json={"inputs": [tensor]})
    assert stale.status_code == 400 and "serves version 2" in stale.json()["error"]


# --- requests in flight during a reload --------------------------------------------------------


def test_a_request_in_flight_finishes_on_the_weights_it_started_with(
    model_dir: Path, seven: bytes
) -> None:
    runtime = ModelRuntime(make_settings(model_dir=model_dir))
    runtime.start()
    try:

        async def scenario() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            digits = (await runtime.preprocess([seven])).digits
            started_on = runtime.require_ready()  # a request takes the model at its start
            assert started_on.version == 2
            await asyncio.get_running_loop().run_in_executor(None, runtime.reload, 1)
            finished = await runtime.predict(digits, started_on)
            fresh = await runtime.predict(digits)
            runtime.reload(2)
            again = await runtime.predict(digits)
            return finished.probabilities, fresh.probabilities, again.probabilities

        finished, fresh, again = asyncio.run(scenario())
    finally:
        runtime.stop()
    assert np.array_equal(finished, again)  # version 2's answer, though 1 was serving meanwhile
    assert not np.allclose(finished, fresh)


def test_the_batcher_never_mixes_two_models_in_one_forward_pass() -> None:
    calls: list[tuple[str, int]] = []

    def model(name: str, value: float):  # type: ignore[no-untyped-def]
        def predict(images: np.ndarray) -> np.ndarray:
            calls.append((name, len(images)))
            return np.full((len(images), 10), value, dtype=np.float32)

        return predict

    old, new = model("old", 1.0), model("new", 2.0)
    batcher = DynamicBatcher(max_batch_size=64, max_wait_s=0.2)
    batcher.start()

    async def scenario() -> list[np.ndarray]:
        digits = np.zeros((1, 28, 28), np.float32)
        jobs = [batcher.submit(digits, old if i < 3 else new) for i in range(6)]
        return await asyncio.gather(*jobs)

    try:
        results = asyncio.run(scenario())
    finally:
        batcher.stop()
    assert [float(r[0, 0]) for r in results] == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    assert calls == [("old", 3), ("new", 3)]


def _workers(master: int) -> set[int]:
    """uvicorn's worker processes (its other child is multiprocessing's resource tracker)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {
        int(pid)
        for pid in children
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    }


Outcome = list[tuple[float, int, int | None]]  # (start time, status, model_version) per request


async def _load(url: str, stop: threading.Event, results: Outcome) -> None:
    """16 clients predicting until `stop`, each answer appended to `results`."""
    png = to_png(np.pad(np.full((20, 4), 255, np.uint8), 4))  # a 1

    async def client_loop(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            started = time.monotonic()
            answer = await client.post("/predict", content=png, headers=PNG)
            version = answer.json().get("model_version") if answer.status_code == 200 else None
            results.append((started, answer.status_code, version))

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(16)))


def test_a_reload_under_load_reaches_both_workers_and_fails_no_request(tmp_path: Path) -> None:
    models = tmp_path / "models"
    port = free_port()
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    env = {
        "MODEL_DIR": str(models),
        "ADMIN_API_KEY": "admin-secret",
        "MODEL_POLL_INTERVAL": "0.2",
        "DATA_DIR": str(tmp_path / "data"),
    }
    with start_api({**env, "WORKERS": "2"}, command=command, port=port) as server:

        def messages(prefix: str) -> int:
            return sum(1 for line in server.log().splitlines() if f'"message":"{prefix}' in line)

        assert wait_for(lambda: messages("model version 1 loaded") == 2, timeout=120)
        workers = _workers(server.process.pid)
        assert len(workers) == 2
        assert publish(softer_model(tmp_path / "build"), models) == 2
        stop = threading.Event()
        results: Outcome = []
        loader = threading.Thread(target=lambda: asyncio.run(_load(server.url, stop, results)))
        loader.start()
        try:
            assert wait_for(lambda: len(results) > 200, timeout=120)
            # The reload lands while 16 requests are in flight.
            answer = httpx.post(f"{server.url}/admin/reload", headers=ADMIN, timeout=60)
            assert answer.json()["model_version"] == 2, answer.text
            both = wait_for(lambda: messages("now serving model version 2 (was 1)") == 2, 120)
            switched_at = time.monotonic()
            assert both, server.log()[-3000:]
            count = len(results)
            assert wait_for(lambda: len(results) > count + 200, timeout=120)
        finally:
            stop.set()
            loader.join()
        assert _workers(server.process.pid) == workers  # no worker restarted
    assert {status for _, status, _ in results} == {200}, "a request failed during the reload"
    assert {version for _, _, version in results} == {1, 2}
    after = [version for started, _, version in results if started > switched_at]
    assert len(after) >= 200 and set(after) == {2}
