"""The CNN's architecture: shapes, parameter count, and state_dict compatibility with the design."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from training.model import MnistCNN, count_parameters, resolve_device


class PlainDesignCNN(nn.Module):
    """The design written out independently, as anyone would from its description."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, 5)
        self.conv2 = nn.Conv2d(10, 20, 5)
        self.dropout = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.dropout(self.conv2(x)), 2))
        x = F.relu(self.fc1(x.view(-1, 320)))
        return self.fc2(F.dropout(x, training=self.training))


def test_output_shape_and_parameter_count() -> None:
    model = MnistCNN().eval()
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert count_parameters(model) == 21_840


def test_state_dict_keys_follow_the_design() -> None:
    keys = set(MnistCNN().state_dict())
    assert keys == {
        f"{layer}.{p}" for layer in ("conv1", "conv2", "fc1", "fc2") for p in ("weight", "bias")
    }


def test_a_plain_implementations_weights_load_strictly_and_compute_the_same() -> None:
    torch.manual_seed(1)
    plain = PlainDesignCNN().eval()
    buffer = io.BytesIO()
    torch.save(plain.state_dict(), buffer)
    buffer.seek(0)
    ours = MnistCNN()
    ours.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    ours.eval()
    batch = torch.randn(8, 1, 28, 28)
    torch.testing.assert_close(ours(batch), plain(batch))


def test_training_dropout_rates_do_not_change_the_state_dict() -> None:
    light = MnistCNN(conv_dropout=0.2, fc_dropout=0.2)
    MnistCNN().load_state_dict(light.state_dict(), strict=True)


def test_device_auto_is_cpu_without_a_gpu_and_cuda_is_refused_without_one() -> None:
    if torch.cuda.is_available():
        assert resolve_device("auto").type == "cuda"
    else:
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
