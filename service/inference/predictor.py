"""The models behind a batch interface: (N, 28, 28) digits in, (N, 11) raw outputs out. No HTTP here.

Both networks read the same standardised batch in one call: the classifier's 10 logits, then the
not-a-digit detector's logit (NaN when there is no detector). service/inference/verdict.py turns
those into answers.

Two engines run that forward pass: PyTorch (`Predictor`, here; on a GPU always) and, on the CPU,
ONNX Runtime (service/inference/onnx_predictor.py), which holds no GIL while it runs.
`make_predictor` picks one (the ONNXRUNTIME setting).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from service.inference.verdict import Outputs
from training.detector import NotDigitNet
from training.model import IMAGE_SIZE, MnistCNN, standardise

logger = logging.getLogger(__name__)


class BatchPredictor(Protocol):
    def predict(self, digits: npt.NDArray[np.float32]) -> Outputs: ...

    def warm_up(self, max_batch_size: int) -> None: ...


def check_digits(digits: npt.NDArray[np.float32]) -> None:
    if digits.ndim != 3 or digits.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected digits of shape (N, 28, 28), got {digits.shape}")


def warm_up(predict: Callable[[npt.NDArray[np.float32]], Outputs], max_batch_size: int) -> None:
    """Run the batch sizes the server will see once, so the first requests pay no set-up cost."""
    for size in sorted({1, max_batch_size}):
        predict(np.zeros((size, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32))


class BothNetworks(nn.Module):
    """Pixels 0-1 in, (N, 11) out: the classifier's 10 logits, then the detector's logit (NaN
    without a detector). The one forward pass both engines run: torch here, ONNX Runtime the
    graph service/inference/onnx_export.py traces from this module."""

    def __init__(self, model: MnistCNN, detector: NotDigitNet | None) -> None:
        super().__init__()
        self.model = model
        self.detector = detector

    def forward(self, digits: torch.Tensor) -> torch.Tensor:
        batch = standardise(digits)
        logits: torch.Tensor = self.model(batch)
        if self.detector is None:
            # NaN times a logit is NaN: a column as long as the batch, which stays dynamic in
            # an exported graph (a constant would be traced at the example's batch size).
            return torch.cat([logits, logits[:, :1] * float("nan")], dim=1)
        return torch.cat([logits, self.detector(batch).unsqueeze(1)], dim=1)


class Predictor:
    def __init__(
        self, model: MnistCNN, device: torch.device, detector: NotDigitNet | None = None
    ) -> None:
        # Channels-last lets oneDNN run the convolutions without converting layouts on every call:
        # half the CPU time of a batch of 16-64 (measured in docs/PERFORMANCE.md).
        self.networks = BothNetworks(
            model.eval(), detector.eval() if detector is not None else None
        ).to(memory_format=torch.channels_last)
        self.device = device

    @torch.inference_mode()
    def predict(self, digits: npt.NDArray[np.float32]) -> Outputs:
        """Raw outputs for a batch of digits with pixels 0-1, as returned by the preprocessing."""
        check_digits(digits)
        batch = torch.from_numpy(np.ascontiguousarray(digits, dtype=np.float32)).to(self.device)
        outputs = self.networks(batch.unsqueeze(1).to(memory_format=torch.channels_last))
        result: Outputs = outputs.cpu().numpy()
        return result

    def warm_up(self, max_batch_size: int) -> None:
        warm_up(self.predict, max_batch_size)


def make_predictor(
    model: MnistCNN,
    weights: Path,
    device: torch.device,
    detector: NotDigitNet | None,
    detector_weights: Path | None,
    use_onnxruntime: bool = True,
    threads: int = 1,
) -> tuple[BatchPredictor, str]:
    """The predictor for a loaded version (`model`, from the file `weights`), and the name of its
    engine for the logs: ONNX Runtime on the CPU when asked and it works, answering what torch
    answers on a probe batch; torch otherwise, and always on a GPU."""
    with_torch = Predictor(model, device, detector)
    if not use_onnxruntime or device.type != "cpu":
        return with_torch, f"torch {torch.__version__}"
    try:
        from service.inference import onnx_predictor
    except ImportError as error:
        logger.warning("ONNX Runtime is not installed (%s): the forward pass runs in torch", error)
        return with_torch, f"torch {torch.__version__}"
    try:
        graph = onnx_predictor.exported_graph(weights, detector_weights if detector else None)
        with_onnx = onnx_predictor.OnnxPredictor(graph, threads)
        with_onnx.check_against(with_torch.predict)
    except onnx_predictor.OnnxRuntimeUnavailable as error:
        logger.warning("ONNX Runtime is not used (%s): the forward pass runs in torch", error)
        return with_torch, f"torch {torch.__version__}"
    return with_onnx, f"onnxruntime {onnx_predictor.VERSION}"
