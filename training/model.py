"""The product's CNN, defined once and imported by training and by the inference service."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MODEL_NAME = "mnist-cnn"
IMAGE_SIZE = 28
NUM_CLASSES = 10
# Mean and standard deviation of MNIST's training pixels scaled to 0-1. The network is trained on, and so
# expects, images normalised with exactly these.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def standardise(images: torch.Tensor) -> torch.Tensor:
    """Pixels 0-1 → the network's input scale. The one place MNIST's mean and std are applied:
    training, evaluation and the service all call it."""
    return (images - MNIST_MEAN) / MNIST_STD


class MnistCNN(nn.Module):
    """conv(1→10,k5) → pool → ReLU → conv(10→20,k5) → Dropout2d → pool → ReLU → fc 320→50 → fc 50→10.

    Takes normalised images of shape (N, 1, 28, 28) and returns logits of shape (N, 10). The dropout
    rates only act in training mode, so a recipe may change them without changing the inference graph
    or the state_dict (whose keys are `conv1.*`, `conv2.*`, `fc1.*`, `fc2.*`).
    """

    def __init__(self, conv_dropout: float = 0.5, fc_dropout: float = 0.5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d(conv_dropout)
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, NUM_CLASSES)
        self.fc_dropout = fc_dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, p=self.fc_dropout, training=self.training)
        logits: torch.Tensor = self.fc2(x)
        return logits


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when a GPU is visible, else the CPU; anything else is passed to torch as is."""
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r} was requested but no CUDA GPU is available; use 'cpu' or 'auto'"
        )
    return device
