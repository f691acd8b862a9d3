"""From model outputs to answers: the verdict, the calibrated confidence and the alternatives.

The one place a verdict is decided. The predictor hands over, for a batch of N inputs, the
classifier's 10 logits and the not-a-digit detector's logit (N, 11); `VerdictPolicy.decide` turns
them into `Readings`, with the numbers fitted by training.verdict_fit and kept in the classifier's
metadata (`verdict`: temperature, not_a_digit_above, unsure_below):

    several_digits  the caller saw more than one digit (issue 15's reader passes `several`)
    not_a_digit     the detector's logit is above not_a_digit_above, or above doubt_above for
                    an input the classifier is unsure of too (calibrated confidence below
                    unsure_below: neither network stands by it; an image, not a piece of a
                    number, which its neighbours make a digit more likely), or above
                    SHAPE_CHECKED_ABOVE (the detector does not find it clearly a digit; for a
                    piece of a number, above doubt_above) for an input not drawn as strokes
                    (service/imaging/strokes.py: a blot, a silhouette, a texture falling apart
                    into many marks)
    unsure          the detector's logit is above doubt_above (it doubts, but less), or the
                    calibrated confidence of the best digit is below unsure_below
    digit           otherwise

With verdicts turned off (VERDICTS=false) the detector does not run and every answer is "digit", as
before verdicts existed; the confidence is calibrated either way (a division: it costs nothing).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from service.imaging.strokes import drawn_as_strokes

logger = logging.getLogger(__name__)

Verdict = Literal["digit", "unsure", "not_a_digit", "several_digits"]
VERDICTS: tuple[Verdict, ...] = ("digit", "unsure", "not_a_digit", "several_digits")
NUM_CLASSES = 10
OUTPUT_WIDTH = NUM_CLASSES + 1  # 10 classifier logits, then the detector's logit
ALTERNATIVES = 2  # at most this many runners-up are named
ALTERNATIVE_ABOVE = 0.05  # a runner-up is named only when its probability is above this
# Without fitted numbers (a model trained before verdicts existed): no temperature, and the
# page's old "uncertain" line.
DEFAULT_UNSURE_BELOW = 0.6
# The shape of an input (service/imaging/strokes.py) is checked when the detector's logit is above
# this: not only the inputs it doubts (above doubt_above, 1.45 for the served model) but those it
# does not find clearly digits. On issue 14's check split, of the held-out pictures scoring between
# -1 and 1.5, 9 of 20 are blots or textures, against 1 of MNIST's 25 check digits there and none of
# Semeion's 3; between -4 and -1, none of 6 pictures and 2 of MNIST's 71 digits.
SHAPE_CHECKED_ABOVE = -1.0

Outputs = npt.NDArray[np.float32]  # (N, 11)


@dataclass(frozen=True)
class Alternative:
    digit: int
    probability: float


@dataclass(frozen=True)
class Readings:
    """What the models make of a batch: each a sequence of N, in input order."""

    probabilities: npt.NDArray[np.float32]  # (N, 10) calibrated, rows sum to 1
    digits: list[int]
    confidence: list[float]
    verdicts: list[Verdict]
    alternatives: list[list[Alternative]]

    def __len__(self) -> int:
        return len(self.digits)


def classifier_probabilities(outputs: Outputs, temperature: float = 1.0) -> npt.NDArray[np.float32]:
    """(N, 10): the classifier's softmax over its logits divided by `temperature` (1: the model's
    own probabilities, as the number reader scores pieces; the fitted one: calibrated)."""
    logits = outputs[:, :NUM_CLASSES].astype(np.float64) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    probabilities: npt.NDArray[np.float32] = (exp / exp.sum(axis=1, keepdims=True)).astype(
        np.float32
    )
    return probabilities


@dataclass(frozen=True)
class VerdictPolicy:
    temperature: float = 1.0
    not_a_digit_above: float | None = None  # None: the detector is not used
    doubt_above: float | None = None  # detector logits between this and the above: "unsure"
    unsure_below: float = DEFAULT_UNSURE_BELOW
    enabled: bool = True

    @property
    def uses_detector(self) -> bool:
        return self.enabled and self.not_a_digit_above is not None

    @classmethod
    def from_metadata(
        cls, verdict: dict[str, Any] | None, detector_sha256: str | None, enabled: bool
    ) -> VerdictPolicy:
        """The policy for a classifier's metadata `verdict` block and the detector that was loaded
        (None when there is none). A block fitted with another detector keeps its temperature and
        "unsure" threshold but does not refuse anything: its not-a-digit threshold means nothing
        for these weights."""
        if verdict is None:
            logger.warning(
                "the model's metadata has no fitted verdict numbers: confidence is uncalibrated "
                "and nothing is refused as not_a_digit (python -m training.not_a_digit fits them)"
            )
            return cls(enabled=enabled)
        threshold: float | None = float(verdict["not_a_digit_above"])
        doubt = verdict.get("doubt_above")
        fitted_with = verdict.get("detector_sha256")
        if detector_sha256 is None:
            threshold = None
        elif fitted_with and fitted_with != detector_sha256:
            logger.warning(
                "the verdict numbers were fitted with detector %s… but %s… is loaded: "
                "not_a_digit is off until they are refitted",
                str(fitted_with)[:12],
                detector_sha256[:12],
            )
            threshold = None
        return cls(
            temperature=float(verdict["temperature"]),
            not_a_digit_above=threshold,
            doubt_above=float(doubt) if threshold is not None and doubt is not None else None,
            unsure_below=float(verdict["unsure_below"]),
            enabled=enabled,
        )

    def decide(
        self,
        outputs: Outputs,
        several: npt.NDArray[np.bool_] | None = None,
        inputs: npt.NDArray[np.float32] | None = None,
        pieces_of_a_number: bool = False,
    ) -> Readings:
        """Readings for a batch of model outputs (N, 11); `several` marks inputs known to hold
        more than one digit; `inputs` are the (N, 28, 28) inputs the outputs are of, for the
        shape of those the detector doubts. The pieces of a number are read in their context: a
        piece both networks doubt stays `unsure` (its best guess is worth more in a number than
        a `?`)."""
        probabilities = classifier_probabilities(outputs, self.temperature)
        order = np.argsort(-probabilities, axis=1)[:, : ALTERNATIVES + 1]
        ranked = np.take_along_axis(probabilities, order, axis=1)
        best, confidence = order[:, 0], ranked[:, 0]

        verdicts = np.full(len(outputs), "digit", dtype=object)
        if self.enabled:
            verdicts[confidence < self.unsure_below] = "unsure"
            detector = outputs[:, NUM_CLASSES]
            refused = np.zeros(len(outputs), dtype=bool)
            if self.not_a_digit_above is not None:
                refused = detector > self.not_a_digit_above
            if self.doubt_above is not None:
                doubted = detector > self.doubt_above
                verdicts[doubted] = "unsure"
                if not pieces_of_a_number:  # neither network stands by it: no digit
                    refused |= doubted & (confidence < self.unsure_below)
                if inputs is not None:  # the shape of those not clearly digits, not refused yet
                    # (a piece of a number only when doubted: its neighbours vouch for it)
                    unclear = doubted if pieces_of_a_number else detector > SHAPE_CHECKED_ABOVE
                    for row in np.flatnonzero(unclear & ~refused):
                        refused[row] = not drawn_as_strokes(inputs[row])
            verdicts[refused] = "not_a_digit"
        if several is not None:
            verdicts[several] = "several_digits"
        alternatives = [
            [
                Alternative(int(digit), float(probability))
                for digit, probability in zip(row_digits[1:], row_probabilities[1:], strict=True)
                if probability > ALTERNATIVE_ABOVE
            ]
            for row_digits, row_probabilities in zip(order, ranked, strict=True)
        ]
        return Readings(
            probabilities=probabilities,
            digits=best.tolist(),
            confidence=confidence.astype(float).tolist(),
            verdicts=verdicts.tolist(),
            alternatives=alternatives,
        )
