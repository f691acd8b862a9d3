"""The not-a-digit detector: a second small CNN beside the digit classifier, defined once.

It reads the same 28×28 input as the classifier (pixels 0-1, standardised with MNIST's mean and std)
and answers one logit: how far the picture is from any handwritten digit. The classifier is left as
it is (its 21,840 parameters and its accuracy), so the detector can be retrained without touching
it, and a fine-tuned classifier keeps its detector.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DETECTOR_NAME = "not-a-digit"


class NotDigitNet(nn.Module):
    """conv(1→32,k5) → pool → ReLU → conv(32→64,k5) → pool → ReLU → fc 1024→128 → ReLU → fc 128→1.

    Takes standardised images (N, 1, 28, 28); returns (N,) logits, positive for "not a digit".
    """

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        # Wider than the classifier: at 16/32/32 channels and units (29,697 parameters) the detector
        # scored a few of Semeion's bold digits as high as letters and scribbles, and the refusal
        # bar, which must leave those digits alone, let 4-30 points more non-digits through.
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5)
        self.fc1 = nn.Linear(1024, 128)
        self.fc2 = nn.Linear(128, 1)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        x = F.dropout(x, p=self.dropout, training=self.training)
        logits: torch.Tensor = self.fc2(x).squeeze(1)
        return logits
