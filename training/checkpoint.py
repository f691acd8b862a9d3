"""Load a checkpoint safely: tensors only (never unpickled code), checked against its metadata.

The one loader for every reader of a `.pth` file: the service at start-up, `training.evaluate` and
`training.not_a_digit`; the classifier's and the not-a-digit detector's files get the same checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.detector import DETECTOR_NAME, NotDigitNet
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
    # The numbers behind a verdict (training.verdict_fit), checked; None when never fitted.
    verdict: dict[str, Any] | None = field(default=None)


def _load_state(
    path: Path, device: torch.device, model: nn.Module, name: str, setting: str
) -> tuple[nn.Module, str, dict[str, Any]]:
    """Weights from `path` into `model` (tensors only, sha256 checked against the metadata)."""
    if not path.is_file():
        raise ModelLoadError(
            f"model file {path} does not exist; set {setting} to a trained .pth file"
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
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelLoadError(
            f"model file {path} does not fit the {name} network: its tensors' names or "
            "shapes differ (weights of another architecture?); restore it or retrain"
        ) from error
    return model.to(device).eval(), sha256, metadata


def load_checkpoint(path: Path, device: torch.device) -> tuple[MnistCNN, ModelInfo]:
    """The model in eval mode on `device`, or ModelLoadError naming the file and the fault."""
    model, sha256, metadata = _load_state(path, device, MnistCNN(), MODEL_NAME, "MODEL_PATH")
    assert isinstance(model, MnistCNN)
    info = ModelInfo(
        name=MODEL_NAME,
        path=str(path),
        sha256=sha256,
        parameters=count_parameters(model),
        test_accuracy=metadata.get("test_accuracy"),
        verdict=_checked_verdict(path, metadata.get("verdict")),
    )
    return model, info


def load_detector(path: Path, device: torch.device) -> tuple[NotDigitNet, ModelInfo]:
    """The not-a-digit detector in eval mode, with the same checks as the classifier."""
    model, sha256, _ = _load_state(path, device, NotDigitNet(), DETECTOR_NAME, "DETECTOR_PATH")
    assert isinstance(model, NotDigitNet)
    info = ModelInfo(DETECTOR_NAME, str(path), sha256, count_parameters(model), None)
    return model, info


def _checked_verdict(path: Path, verdict: object) -> dict[str, Any] | None:
    """The metadata's verdict numbers, or ModelLoadError when they cannot be right."""
    if verdict is None:
        return None
    problem = None
    if not isinstance(verdict, dict):
        problem = "is not an object"
    else:
        numbers = {k: verdict.get(k) for k in ("temperature", "not_a_digit_above", "unsure_below")}
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers.values()):
            problem = f"needs finite numbers for {sorted(numbers)}"
        elif not numbers["temperature"] > 0:  # type: ignore[operator]
            problem = "has a temperature that is not positive"
        elif not 0 <= numbers["unsure_below"] <= 1:  # type: ignore[operator]
            problem = "has unsure_below outside 0-1"
    if problem:
        raise ModelLoadError(
            f"the 'verdict' block in the metadata beside {path} {problem}; "
            "refit it with python -m training.not_a_digit --refit-only"
        )
    return verdict  # type: ignore[return-value]
