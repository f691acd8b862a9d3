"""The models behind a batch interface: (N, 28, 28) digits in, (N, 11) raw outputs out. No HTTP here.

Both networks read the same standardised batch in one call: the classifier's 10 logits, then the
not-a-digit detector's logit (NaN when there is no detector). service/inference/verdict.py turns
those into answers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from service.inference.verdict import OUTPUT_WIDTH, Outputs
from training.detector import NotDigitNet
from training.model import IMAGE_SIZE, MnistCNN, standardise


class Predictor:
    def __init__(
        self, model: MnistCNN, device: torch.device, detector: NotDigitNet | None = None
    ) -> None:
        # Channels-last lets oneDNN run the convolutions without converting layouts on every call:
        # half the CPU time of a batch of 16-64 (measured in docs/PERFORMANCE.md).
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.detector = (
            detector.eval().to(memory_format=torch.channels_last) if detector is not None else None
        )
        self.device = device

    @torch.inference_mode()
    def predict(self, digits: npt.NDArray[np.float32]) -> Outputs:
        """Raw outputs for a batch of digits with pixels 0-1, as returned by the preprocessing."""
        if digits.ndim != 3 or digits.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"expected digits of shape (N, 28, 28), got {digits.shape}")
        batch = torch.from_numpy(np.ascontiguousarray(digits, dtype=np.float32)).to(self.device)
        batch = standardise(batch.unsqueeze(1)).to(memory_format=torch.channels_last)
        outputs = torch.full((len(digits), OUTPUT_WIDTH), float("nan"), device=self.device)
        outputs[:, :-1] = self.model(batch)
        if self.detector is not None:
            outputs[:, -1] = self.detector(batch)
        result: Outputs = outputs.cpu().numpy()
        return result

    def warm_up(self, max_batch_size: int) -> None:
        """Run the batch sizes the server will see once, so the first requests pay no set-up cost."""
        for size in sorted({1, max_batch_size}):
            self.predict(np.zeros((size, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32))
