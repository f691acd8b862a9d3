"""The detector's training and the verdict's fitting code, run end to end on a tiny set (a smoke test:
the committed detector is trained by `python -m training.not_a_digit`, documented in the README)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from service.inference.verdict import VerdictPolicy
from tests.conftest import MODEL_PATH
from training.checkpoint import ModelLoadError, load_checkpoint, load_detector
from training.detector_data import Sizes, build
from training.not_a_digit import DetectorRecipe, save_detector, train_detector, write_verdict
from training.verdict_fit import fit_verdict

TINY = Sizes(
    mnist_enlarged=40,
    semeion_copies=1,
    font_digits=30,
    per_kind=20,
    check_per_kind=10,
    check_font_digits=20,
)


@pytest.mark.slow
def test_train_save_fit_and_load(tmp_path: Path, mnist_test: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = mnist_test
    small = np.stack([np.pad(i[::2, ::2], ((1, 1), (1, 1))) for i in images[:60]])
    fit = build(
        "fit",
        (images[:200], labels[:200]),
        (small[:30], labels[:30]),
        TINY,
        cache=tmp_path,
        progress=False,
    )
    check = build(
        "check",
        (images[200:300], labels[200:300]),
        (small[30:], labels[30:60]),
        TINY,
        cache=tmp_path,
        progress=False,
    )
    assert set(fit.source) >= {"mnist", "semeion", "font digits", "scribbles", "pictures"}
    assert ((fit.targets == 1) == (fit.labels == -1)).all()

    detector, history = train_detector(fit, DetectorRecipe(epochs=1), progress=False)
    assert math.isfinite(history[0]["loss"])
    detector_path = tmp_path / "not_a_digit.pth"
    sha256 = save_detector(detector, detector_path, DetectorRecipe(epochs=1), TINY, 0, history)

    classifier_path = tmp_path / "classifier.pth"
    shutil.copy(MODEL_PATH, classifier_path)
    shutil.copy(MODEL_PATH.with_suffix(".json"), classifier_path.with_suffix(".json"))
    classifier, _ = load_checkpoint(classifier_path, torch.device("cpu"))
    verdict = fit_verdict(classifier, detector, check, detector_sha256=sha256)
    assert verdict.temperature > 0 and 0 <= verdict.unsure_below <= 1
    assert set(verdict.ece_after) >= {"mnist", "semeion"}
    write_verdict(classifier_path, verdict)

    _, info = load_checkpoint(classifier_path, torch.device("cpu"))
    _, detector_info = load_detector(detector_path, torch.device("cpu"))
    policy = VerdictPolicy.from_metadata(info.verdict, detector_info.sha256, enabled=True)
    assert policy.uses_detector and policy.temperature == verdict.temperature
    # Numbers fitted with another detector never refuse anything.
    other = VerdictPolicy.from_metadata(info.verdict, "0" * 64, enabled=True)
    assert not other.uses_detector


def test_a_broken_verdict_block_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.pth"
    shutil.copy(MODEL_PATH, path)
    metadata = json.loads(MODEL_PATH.with_suffix(".json").read_text())
    metadata["verdict"] = {"temperature": -1.0, "not_a_digit_above": 0.0, "unsure_below": 0.5}
    path.with_suffix(".json").write_text(json.dumps(metadata))
    with pytest.raises(ModelLoadError, match="temperature"):
        load_checkpoint(path, torch.device("cpu"))
