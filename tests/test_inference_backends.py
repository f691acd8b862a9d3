"""The two engines of the forward pass (service/inference/predictor.py): ONNX Runtime on the CPU
answers what torch answers, and the service serves with torch when ONNX Runtime cannot."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from service.api.factory import create_app
from service.inference import onnx_export
from service.inference.onnx_predictor import (
    OnnxPredictor,
    OnnxRuntimeUnavailable,
    exported_graph,
)
from service.inference.predictor import Predictor, make_predictor
from service.settings import DEFAULT_DETECTOR_PATH, DEFAULT_MODEL_PATH
from tests.conftest import make_settings
from training.checkpoint import load_checkpoint, load_detector
from training.detector import NotDigitNet
from training.model import MnistCNN

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def networks() -> tuple[MnistCNN, NotDigitNet]:
    model, _ = load_checkpoint(DEFAULT_MODEL_PATH, CPU)
    detector, _ = load_detector(DEFAULT_DETECTOR_PATH, CPU)
    return model, detector


@pytest.fixture(scope="module")
def digits(mnist_test: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """500 MNIST test digits as the preprocessing hands them over, a blank and a noisy input."""
    images = mnist_test[0][:500].astype(np.float32) / 255
    noise = np.random.default_rng(0).random((1, 28, 28), dtype=np.float32)
    return np.concatenate([images, np.zeros((1, 28, 28), np.float32), noise])


@pytest.mark.parametrize("with_detector", [True, False])
def test_onnxruntime_answers_what_torch_answers(
    networks: tuple[MnistCNN, NotDigitNet], digits: np.ndarray, with_detector: bool
) -> None:
    model, detector = networks
    expected = Predictor(model, CPU, detector if with_detector else None).predict(digits)
    graph = exported_graph(DEFAULT_MODEL_PATH, DEFAULT_DETECTOR_PATH if with_detector else None)
    predictor = OnnxPredictor(graph, threads=1)
    for size in (1, 7, len(digits)):  # any batch size: the graph's batch axis is dynamic
        got = predictor.predict(digits[:size])
        assert got.shape == (size, 11) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected[:size], atol=1e-4, equal_nan=True)
    assert np.isnan(got[:, 10]).all() != with_detector  # NaN: no detector ran
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        predictor.predict(digits[0])


def test_the_exporter_writes_the_graph_to_stdout(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    """What the child process runs, run here: the graph it prints is what the service loads, and a
    file that is no checkpoint is named in a one-line error."""
    assert onnx_export.main([str(DEFAULT_MODEL_PATH)]) == 0
    graph = capsysbinary.readouterr().out
    assert graph == exported_graph(DEFAULT_MODEL_PATH, None)
    assert onnx_export.main([str(DEFAULT_DETECTOR_PATH)]) == 2
    assert capsysbinary.readouterr().err.decode().startswith("error: ")


def test_the_setting_and_the_device_pick_the_engine(
    networks: tuple[MnistCNN, NotDigitNet],
) -> None:
    model, detector = networks

    def engine(use_onnxruntime: bool, device: torch.device = CPU) -> str:
        predictor, name = make_predictor(
            model, DEFAULT_MODEL_PATH, device, detector, DEFAULT_DETECTOR_PATH, use_onnxruntime
        )
        assert isinstance(predictor, OnnxPredictor if name.startswith("onnx") else Predictor)
        return name.split()[0]

    assert engine(True) == "onnxruntime"
    assert engine(False) == "torch"
    assert engine(True, torch.device("cuda")) == "torch"  # ONNX Runtime's CPU build only


def test_torch_serves_when_the_export_fails(
    networks: tuple[MnistCNN, NotDigitNet], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The export runs in a child process from the version's file; when it fails (here: the file
    is not a checkpoint) the version is served by torch, and the log says why."""
    model, detector = networks
    broken = tmp_path / "model.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(OnnxRuntimeUnavailable, match="the ONNX export failed: error: "):
        exported_graph(broken, None)
    with caplog.at_level(logging.WARNING, logger="service.inference.predictor"):
        predictor, name = make_predictor(model, broken, CPU, detector, DEFAULT_DETECTOR_PATH)
    assert isinstance(predictor, Predictor) and name.startswith("torch ")
    assert "ONNX Runtime is not used (the ONNX export failed" in caplog.text


def test_a_graph_that_answers_otherwise_is_never_served(
    networks: tuple[MnistCNN, NotDigitNet],
) -> None:
    """Another version's graph (the MNIST-only base) loads, but does not answer what these
    weights answer: the probe batch catches it."""
    model, detector = networks
    base = DEFAULT_MODEL_PATH.parent / "base" / DEFAULT_MODEL_PATH.name
    other = OnnxPredictor(exported_graph(base, DEFAULT_DETECTOR_PATH), threads=1)
    with pytest.raises(OnnxRuntimeUnavailable, match="differ from torch's"):
        other.check_against(Predictor(model, CPU, detector).predict)


def test_the_service_serves_with_either_engine() -> None:
    """The same answers through the API; /health names the engine."""
    seven = np.zeros((28, 28), dtype=np.uint8)
    seven[5, 6:22] = 255
    seven[5:24, 20:22] = 255
    answers = {}
    for use_onnxruntime in (True, False):
        with TestClient(create_app(make_settings(onnxruntime=use_onnxruntime))) as client:
            engine = client.get("/health").json()["model"]["engine"]
            assert engine.split()[0] == ("onnxruntime" if use_onnxruntime else "torch")
            answers[use_onnxruntime] = client.post(
                "/predict", json={"pixels": seven.tolist()}
            ).json()
    assert answers[True]["digit"] == answers[False]["digit"] == 7
    assert answers[True]["confidence"] == pytest.approx(answers[False]["confidence"], abs=1e-5)
