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
from training.detector_data import DetectorData, Sizes, build, normalise_all
from training.not_a_digit import DetectorRecipe, save_detector, train_detector, write_verdict
from training.synth.nondigits import non_digits
from training.verdict_fit import NOT_A_DIGIT_CORRECTIONS, VerdictFit, fit_verdict, model_outputs

DETECTOR_PATH = MODEL_PATH.with_name("not_a_digit.pth")
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


def test_not_a_digit_corrections_lower_the_doubt_bar_only_as_far_as_digits_allow(
    mnist_test: tuple[np.ndarray, np.ndarray],
) -> None:
    """A fine-tune's check set carries people's not_a_digit corrections: the refit answers more
    pictures like them "unsure", but never doubts more than `max_digits_doubted` of the writers."""
    images, labels = mnist_test
    digits = images[:1000].astype(np.float32) / 255.0
    classifier, _ = load_checkpoint(MODEL_PATH, torch.device("cpu"))
    detector, _ = load_detector(DETECTOR_PATH, torch.device("cpu"))

    def fit(corrections: np.ndarray | None) -> VerdictFit:
        parts: list[tuple[str, np.ndarray, np.ndarray | None]] = [("mnist", digits, labels[:1000])]
        if corrections is not None:
            parts.append((NOT_A_DIGIT_CORRECTIONS, corrections, None))
        return fit_verdict(classifier, detector, DetectorData.join(parts))

    without = fit(None)
    # "Not a digit" said of pictures the detector takes for digits (MNIST digits themselves, the
    # hardest case): the bar comes down to where 5 % of the writers' digits are doubted, no lower.
    lowered = fit(images[5000:5100].astype(np.float32) / 255.0)
    _, scores = model_outputs(classifier, detector, digits)
    assert lowered.doubt_above < without.doubt_above
    assert 0.04 <= float((scores > lowered.doubt_above).mean()) <= 0.05
    assert lowered.not_a_digit_above == without.not_a_digit_above  # refusing is not moved
    # Corrections the detector already doubts change nothing: doodles of the kind it learnt from.
    doodles, _ = normalise_all(non_digits("doodles", "fit", 50, seed=5))
    assert fit(doodles).doubt_above == without.doubt_above
