"""Load a checkpoint safely: tensors only (never unpickled code), checked against its metadata.

The one loader for every reader of a `.pth` file: the service at start-up and `training.evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from training.metadata import read_metadata, sha256_of
from training.model import MODEL_NAME, MnistCNN, count_parameters


class ModelLoadError(RuntimeError):
    """The model file is missing, damaged, unsafe or not this network's weights."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    sha256: str
    parameters: int
    test_accuracy: float | None


def load_checkpoint(path: Path, device: torch.device) -> tuple[MnistCNN, ModelInfo]:
    """The model in eval mode on `device`, or ModelLoadError naming the file and the fault."""
    if not path.is_file():
        raise ModelLoadError(
            f"model file {path} does not exist; set MODEL_PATH to a trained .pth file"
        )
    sha256 = sha256_of(path)
    try:
        metadata = read_metadata(path) or {}
    except ValueError as error:
        raise ModelLoadError(f"metadata beside {path} is not valid JSON: {error}") from error
    expected = metadata.get("sha256")
    if expected and expected != sha256:
        raise ModelLoadError(
            f"model file {path} has sha256 {sha256} but its metadata says {expected}: "
            "the file is damaged or was replaced; restore it or retrain"
        )
    try:
        # weights_only=True refuses any pickled object but tensors and plain containers, so a
        # malicious file cannot run code; map_location lets GPU-saved weights load on a CPU and back.
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:
        # torch's own message names Python types and internals; the service shows this text to
        # clients (/health's reason), so it stays plain, and the cause goes to the log.
        raise ModelLoadError(
            f"model file {path} is not a loadable state_dict: it is damaged, or holds objects "
            "other than tensors (which are never loaded); restore it or retrain"
        ) from error
    if not isinstance(state, dict):
        raise ModelLoadError(
            f"model file {path} holds something other than a state_dict (a dictionary of tensors)"
        )
    model = MnistCNN()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelLoadError(
            f"model file {path} does not fit the {MODEL_NAME} network: its tensors' names or "
            "shapes differ (weights of another architecture?); restore it or retrain"
        ) from error
    model = model.to(device).eval()
    info = ModelInfo(
        name=MODEL_NAME,
        path=str(path),
        sha256=sha256,
        parameters=count_parameters(model),
        test_accuracy=metadata.get("test_accuracy"),
    )
    return model, info
