"""The model behind a batch interface: (N, 28, 28) digits in, (N, 10) probabilities out. No HTTP here."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from training.model import IMAGE_SIZE, MnistCNN, standardise

Probabilities = npt.NDArray[np.float32]  # (N, 10), each row sums to 1


class Predictor:
    def __init__(self, model: MnistCNN, device: torch.device) -> None:
        # Channels-last lets oneDNN run the convolutions without converting layouts on every call:
        # half the CPU time of a batch of 16-64 (measured in docs/PERFORMANCE.md).
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.device = device

    @torch.inference_mode()
    def predict(self, digits: npt.NDArray[np.float32]) -> Probabilities:
        """Probabilities for a batch of digits with pixels 0-1, as returned by the preprocessing."""
        if digits.ndim != 3 or digits.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"expected digits of shape (N, 28, 28), got {digits.shape}")
        batch = torch.from_numpy(np.ascontiguousarray(digits, dtype=np.float32)).to(self.device)
        batch = standardise(batch.unsqueeze(1)).to(memory_format=torch.channels_last)
        probabilities: Probabilities = torch.softmax(self.model(batch), dim=1).cpu().numpy()
        return probabilities

    def warm_up(self, max_batch_size: int) -> None:
        """Run the batch sizes the server will see once, so the first requests pay no set-up cost."""
        for size in sorted({1, max_batch_size}):
            self.predict(np.zeros((size, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32))
