"""TorchServe handler for the peer baseline: the service's own preprocessing and classifier.

Loaded by TorchServe's Python worker, not by the project (`ts` exists only where TorchServe is
installed). It answers digit, confidence and probabilities, without the service's verdicts.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from ts.torch_handler.base_handler import BaseHandler

from service.imaging.normalise import preprocess_image
from training.model import MnistCNN, standardise

MAX_PIXELS = 4096 * 4096


class MnistHandler(BaseHandler):  # type: ignore[misc]
    def initialize(self, context: Any) -> None:
        torch.set_num_threads(1)  # as the service: one thread per worker process
        weights = os.path.join(context.system_properties["model_dir"], "mnist_cnn_model.pth")
        self.model = MnistCNN()
        self.model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.model.eval()
        self.initialized = True

    def preprocess(self, data: list[dict[str, Any]]) -> torch.Tensor:
        digits = [
            preprocess_image(bytes(row.get("data") or row["body"]), MAX_PIXELS) for row in data
        ]
        return standardise(torch.from_numpy(np.stack(digits)).unsqueeze(1))

    @torch.inference_mode()
    def inference(self, batch: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return torch.softmax(self.model(batch), dim=1)

    def postprocess(self, probabilities: torch.Tensor) -> list[dict[str, Any]]:
        return [
            {
                "digit": int(row.argmax()),
                "confidence": float(row.max()),
                "probabilities": row.tolist(),
            }
            for row in probabilities
        ]
