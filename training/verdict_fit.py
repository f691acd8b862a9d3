"""Fit the numbers behind a verdict: the classifier's temperature and the two thresholds.

Reusable: `python -m training.not_a_digit` calls `fit_verdict` after training the detector, and a
fine-tune of the classifier calls it again on its new weights (the temperature and the "unsure"
threshold belong to one set of classifier weights). Everything is fitted on the check split of
training.detector_data (MNIST train 55,000–59,999, Semeion lines 701–1,000, held-out fonts and
generators), never on MNIST test or Semeion lines 1,001–1,593.

- temperature: the one number T that minimises the negative log-likelihood of softmax(logits / T)
  on the check digits (temperature scaling, Guo et al. 2017): it keeps every argmax, so accuracy
  does not move, and makes `confidence` mean what it says.
- not_a_digit_above: the detector logit above which a picture is refused; the lowest value that
  refuses at most `refusal` of each family of handwritten check digits (MNIST's writers and
  Semeion's, separately).
- doubt_above: the laxer of the two families' bars at `doubt` (a larger share than `refusal`):
  between it and not_a_digit_above a picture is answered "unsure" (never a confident digit).
  When the check set holds people's "not a digit" corrections (a fine-tune adds them), they count
  as non-digits: the bar goes down until `corrections_doubted` of them are at least doubted, but
  never so far that more than `max_digits_doubted` of a family of handwritten digits would be.
- unsure_below: the calibrated confidence below which a digit is answered as "unsure"; the lowest
  value at which the answers left as "digit" on the MNIST-like check digits are right at least
  `precision` of the time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from training.detector import NotDigitNet
from training.detector_data import DetectorData
from training.model import MnistCNN, standardise

MNIST_LIKE = ("mnist", "mnist enlarged")
SEMEION_LIKE = ("semeion", "semeion enlarged")
HANDWRITTEN = MNIST_LIKE + SEMEION_LIKE
NOT_A_DIGIT_CORRECTIONS = "not_a_digit corrections"  # their source name in a check set
ECE_BINS = 15


@dataclass(frozen=True)
class VerdictFit:
    temperature: float
    not_a_digit_above: float
    doubt_above: float
    unsure_below: float
    refusal: float
    precision: float
    ece_before: dict[str, float]
    ece_after: dict[str, float]
    check_figures: dict[str, dict[str, float]]  # per source: refused, unsure, right when "digit"
    detector_sha256: str | None = None

    def as_metadata(self) -> dict[str, Any]:
        return asdict(self)


@torch.inference_mode()
def model_outputs(
    classifier: MnistCNN, detector: NotDigitNet, inputs: np.ndarray, batch: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 10) classifier logits and (N,) detector logits for 28×28 inputs with pixels 0-1."""
    classifier.eval()
    detector.eval()
    logits, scores = [], []
    for start in range(0, len(inputs), batch):
        x = standardise(torch.from_numpy(inputs[start : start + batch]).unsqueeze(1))
        logits.append(classifier(x))
        scores.append(detector(x))
    return torch.cat(logits).numpy(), torch.cat(scores).numpy()


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """ECE with 15 equal-width confidence bins: the average gap between confidence and accuracy."""
    confidence = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0, 1, ECE_BINS + 1)
    error = 0.0
    for low, high in pairwise(edges):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            error += in_bin.mean() * abs(confidence[in_bin].mean() - right[in_bin].mean())
    return float(error)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    return torch.softmax(torch.from_numpy(logits) / temperature, dim=1).numpy()


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the NLL of the labels (searched on log T, so T stays positive)."""
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    x = torch.from_numpy(logits).double()
    y = torch.from_numpy(labels)
    optimiser = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        value = F.cross_entropy(x / log_t.exp(), y)
        value.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        return value

    optimiser.step(loss)  # type: ignore[no-untyped-call]
    return float(log_t.exp().item())


def _family_bars(scores: np.ndarray, source: np.ndarray, share: float) -> list[float]:
    """Per family of handwritten writers present: the detector logit above which `share` of
    its digits lie."""
    return [
        float(np.quantile(scores[np.isin(source, family)], 1 - share))
        for family in (MNIST_LIKE, SEMEION_LIKE)
        if np.isin(source, family).any()
    ]


def fit_verdict(
    classifier: MnistCNN,
    detector: NotDigitNet,
    check: DetectorData,
    # A bar at 0.3 % of each family's check digits: held-out writers (Semeion 1,001-1,593) are
    # refused up to ~3× as often as the check family that set it, and the target is at most 1 %.
    refusal: float = 0.003,
    doubt: float = 0.006,
    precision: float = 0.999,
    detector_sha256: str | None = None,
    corrections_doubted: float = 0.95,
    max_digits_doubted: float = 0.05,
) -> VerdictFit:
    """Fit temperature and thresholds on the check split, and report what they do there."""
    logits, scores = model_outputs(classifier, detector, check.inputs)
    digits = check.targets == 0
    handwritten = np.isin(check.source, HANDWRITTEN)
    temperature = fit_temperature(logits[handwritten], check.labels[handwritten])

    # Refuse at most `refusal` of each family of writers (MNIST's, Semeion's): the stricter sets
    # the bar. Families, not single sources: a quantile of 300 pictures is too noisy to steer by.
    family_bars = _family_bars(scores, check.source, refusal)
    not_a_digit_above = max(family_bars)
    # Above the laxer family's `doubt` bar and below refusal a picture is doubtful: answered
    # "unsure", never as a confident digit (most non-digits there; a few digits by writers far
    # from MNIST's).
    doubt_above = min(*_family_bars(scores, check.source, doubt), not_a_digit_above)
    corrected = check.source == NOT_A_DIGIT_CORRECTIONS
    if corrected.any():
        # What people said is not a digit is the one kind of non-digit the fit may steer by: the
        # detector stays as it is for every version, so these thresholds are what a correction
        # can move. Doubt, not refusal: refusing is kept for what no family of writers draws.
        wanted = float(np.quantile(scores[corrected], 1 - corrections_doubted))
        floor = max(_family_bars(scores, check.source, max_digits_doubted))
        doubt_above = min(doubt_above, max(wanted, floor))
    calibrated = softmax(logits, temperature)
    confidence = calibrated.max(axis=1)
    right = calibrated.argmax(axis=1) == check.labels
    mnist_like = np.isin(check.source, MNIST_LIKE) & (scores <= doubt_above)
    unsure_below = 0.0
    for candidate in np.linspace(0.3, 0.99, 70):
        kept = mnist_like & (confidence >= candidate)
        if kept.any() and right[kept].mean() >= precision:
            unsure_below = float(candidate)
            break
    else:
        unsure_below = 0.99

    ece_before, ece_after = {}, {}
    figures: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(check.source.tolist()):
        rows = check.source == name
        refused = scores[rows] > not_a_digit_above
        doubtful = ~refused & ((scores[rows] > doubt_above) | (confidence[rows] < unsure_below))
        figure = {
            "count": int(rows.sum()),
            "not_a_digit": float(refused.mean()),
            "unsure": float(doubtful.mean()),
        }
        if digits[rows].all():
            unsure = doubtful
            answered = ~refused & ~unsure
            figure["right_when_digit"] = (
                float(right[rows][answered].mean()) if answered.any() else 0.0
            )
            ece_before[name] = round(
                expected_calibration_error(softmax(logits[rows]), check.labels[rows]), 5
            )
            ece_after[name] = round(
                expected_calibration_error(calibrated[rows], check.labels[rows]), 5
            )
        figures[name] = {k: round(v, 5) for k, v in figure.items()}
    return VerdictFit(
        temperature=round(temperature, 5),
        not_a_digit_above=round(not_a_digit_above, 5),
        doubt_above=round(doubt_above, 5),
        unsure_below=round(unsure_below, 5),
        refusal=refusal,
        precision=precision,
        ece_before=ece_before,
        ece_after=ece_after,
        check_figures=figures,
        detector_sha256=detector_sha256,
    )
