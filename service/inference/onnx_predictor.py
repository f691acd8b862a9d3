"""The forward pass through ONNX Runtime on the CPU: the same networks, one GIL release per batch.

Why: PyTorch's eager forward releases and retakes the GIL at every operator (~30 per batch of both
networks). In a worker whose event loop and preprocessing threads keep the GIL busy, each retake
waits: a batch that takes 0.7 ms alone took ~17 ms under load (docs/PERFORMANCE.md). ONNX Runtime
runs the whole graph in one call that holds no GIL, and its kernels are faster at these sizes too
(both networks, one thread: batch 1 0.06 ms against torch's 0.28, batch 8 0.36 against 0.70,
batch 64 2.8 against 4.2).

The graph is exported from the version's weights by a child process
(service/inference/onnx_export.py) when the version loads: the exporter's memory stays there.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime

from service.inference.predictor import check_digits, warm_up
from service.inference.verdict import Outputs
from service.settings import PROJECT_ROOT
from training.metadata import sha256_of
from training.model import IMAGE_SIZE

VERSION = onnxruntime.__version__
EXPORT_TIMEOUT_S = 120.0


class OnnxRuntimeUnavailable(Exception):
    """The graph could not be exported or loaded: the caller serves with torch instead."""


def exported_graph(weights: Path, detector: Path | None) -> bytes:
    """The ONNX graph of the classifier at `weights` (and the detector, when given); exported
    once per process for the same files' contents (a reload to an earlier version, or another
    app in the same process, reuses it)."""
    try:
        contents = sha256_of(weights), sha256_of(detector) if detector else None
    except OSError as error:
        raise OnnxRuntimeUnavailable(f"cannot read the weights to export: {error}") from error
    return _graph_of(*contents, weights, detector)


@functools.lru_cache(maxsize=8)
def _graph_of(
    weights_sha256: str, detector_sha256: str | None, weights: Path, detector: Path | None
) -> bytes:
    command = [sys.executable, "-m", "service.inference.onnx_export", str(weights)]
    if detector is not None:
        command += ["--detector", str(detector)]
    try:
        done = subprocess.run(
            command, capture_output=True, cwd=PROJECT_ROOT, timeout=EXPORT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise OnnxRuntimeUnavailable(f"the ONNX export did not run: {error}") from error
    if done.returncode != 0:
        cause = done.stderr.decode(errors="replace").strip().splitlines()
        raise OnnxRuntimeUnavailable(f"the ONNX export failed: {cause[-1] if cause else '?'}")
    return done.stdout


class OnnxPredictor:
    """The Predictor's interface (service/inference/predictor.py) on ONNX Runtime, CPU only."""

    def __init__(self, graph: bytes, threads: int) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = onnxruntime.InferenceSession(
                graph, options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ORT's own exception types, one per kind of bad graph
            raise OnnxRuntimeUnavailable(f"ONNX Runtime cannot load the graph: {error}") from error

    def predict(self, digits: npt.NDArray[np.float32]) -> Outputs:
        """Raw outputs for a batch of digits with pixels 0-1, as returned by the preprocessing."""
        check_digits(digits)
        batch = np.ascontiguousarray(digits, dtype=np.float32)[:, np.newaxis]
        outputs: Outputs = self._session.run(None, {"digits": batch})[0]
        return outputs

    def check_against(self, reference: Callable[[npt.NDArray[np.float32]], Outputs]) -> None:
        """Compare with `reference` (torch's forward pass) on a probe batch, so that a graph the
        exporter got wrong is never served."""
        probe = np.random.default_rng(0).random((8, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        probe[0] = 0
        if not np.allclose(self.predict(probe), reference(probe), atol=1e-4, equal_nan=True):
            raise OnnxRuntimeUnavailable("its outputs differ from torch's on a probe batch")

    def warm_up(self, max_batch_size: int) -> None:
        warm_up(self.predict, max_batch_size)
