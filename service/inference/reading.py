"""Choose how to read a number from the classifier's scores of every candidate piece.

service/imaging/pieces.py splits a drawing into primitives and offers runs of them as candidate
digits; the model scores all candidates in one forward pass. A reading is a sequence of candidates
that covers every primitive once, left to right. Each candidate gets the log-odds that it is
exactly one whole digit, from a few facts about it: how sure the classifier is, how wide the digit
it reads is usually written, how tall and wide the piece is against its neighbours, how much ink
the cuts around it cross, and how little it looks like a digit to the not-a-digit detector (a bad
cut, half a digit or two digits' ink, often does not). Dynamic programming finds the reading with the highest total: the model
and the shapes, not one threshold, decide whether a wide blob is one digit or two and where it
splits. The reading only chooses pieces: what each chosen piece is (digit, unsure, not_a_digit)
is decided as for /predict, by service/inference/verdict.py.

The weights are a logistic regression fitted on numbers composed from MNIST's training digits and
Semeion's lines 1-1,000 (`python -m devtools.fit_reader`; on the pieces of a 48-cell grid, and a
refit on today's 128-cell grid read no better); the measured sets use other digits. A
second set, fitted without the detector's feature, serves when no detector runs (VERDICTS=false).
Pure numpy: no torch, no HTTP.
"""

from __future__ import annotations

import numpy as np

from service.imaging.pieces import NumberPieces
from service.inference.verdict import NUM_CLASSES, Outputs, Readings, classifier_probabilities

# How wide each digit is written: mean and spread of log(width / height) of its ink over MNIST's
# 60,000 training digits (python -m devtools.fit_reader). A piece read as a 1 but as wide as a 0, or
# read as a 0 but twice as wide as tall, is probably not that digit alone.
LOG_ASPECT = np.array(
    [
        (-0.099, 0.188),
        (-0.896, 0.446),
        (-0.066, 0.208),
        (-0.222, 0.205),
        (-0.230, 0.205),
        (-0.070, 0.247),
        (-0.311, 0.211),
        (-0.251, 0.209),
        (-0.268, 0.214),
        (-0.378, 0.202),
    ]
)
FEATURES = (
    "log confidence",
    "log confidence − log second choice",
    "squared z-score of log(width / height) for the digit read",
    "height / the digits' height (at most 1.5)",
    "how much shorter than 0.7 × the digits' height",
    "width / the digits' height",
    "how much wider than the digits' height",
    "ink crossed by the cut on its left (stroke widths)",
    "ink crossed by the cut on its right (stroke widths)",
    "a cut at either side (0 or 1)",
    "the not-a-digit detector's logit (clipped to ±10)",
    "bias",
)
DETECTOR_FEATURE = FEATURES.index("the not-a-digit detector's logit (clipped to ±10)")
# Log-odds that a candidate is exactly one whole digit = WEIGHTS · features (fitted, see above). A
# piece the detector finds no digit is often a bad cut (half a digit, or two digits' ink).
WEIGHTS = np.array(
    [0.119, 0.05, -0.136, 1.983, -1.754, 0.282, -1.598, -0.258, -0.045, -1.968, -0.209, -1.059]
)
# The same fitted without the detector's feature, for a service that runs no detector
# (VERDICTS=false): a made-up logit in its place would tilt every reading.
WEIGHTS_WITHOUT_DETECTOR = np.array(
    [0.282, 0.116, -0.141, 2.625, -2.413, -0.404, -2.718, -0.27, -0.303, -1.835, -0.879]
)
# A piece the detector scores at most this (far under the refusal bar, 4.3, and the doubt bar, 1.5)
# is clearly a digit. Chosen on fitting sets (pairs of MNIST training and Semeion 1-1,000 digits
# touching, the fitting generators' non-digits): at -4, 84 / 51 % of touching pairs several_digits
# and 1.5 % of typeset letters; with no bar, 88 / 56 % and 6 %.
CLEAR_DIGIT = -4.0
# An image that reads as no confident digit gets /predict's second look (is it digits pressed
# together?) unless the detector finds it surely a digit, at or under this: then it is one digit
# the classifier hesitates over. On fitting sets (600 touching pairs and 600 lone digits each,
# MNIST training and Semeion 1-1,000) none of the pairs the second look finds scored under it, and
# 30 / 19 % of the lone digits that took the look did (each look: a segmentation and a second
# trip through the batcher, which a loaded server's tail pays for: docs/PERFORMANCE.md).
SURELY_ONE_DIGIT = -8.0


def piece_features(pieces: NumberPieces, outputs: Outputs) -> np.ndarray:
    """(candidates, len(FEATURES)): what the reading knows about each candidate, from the models'
    raw outputs for every candidate (the classifier's own probabilities, which WEIGHTS were fitted
    on: the calibrated ones are for answers; the detector's logit, NaN when it did not run)."""
    probabilities = classifier_probabilities(outputs)
    ranked = np.sort(probabilities, axis=1)
    confident = np.log(np.maximum(ranked[:, -1], 1e-9))
    second = np.log(np.maximum(ranked[:, -2], 1e-9))
    digit = probabilities.argmax(axis=1)
    candidates = pieces.candidates
    log_aspect = np.log([c.box.width / c.box.height for c in candidates])
    aspect_z = (log_aspect - LOG_ASPECT[digit, 0]) / LOG_ASPECT[digit, 1]
    tall = np.array([c.tallness for c in candidates])
    wide = np.array([c.aspect for c in candidates])
    left = pieces.cut_cost[[c.first for c in candidates]]
    right = pieces.cut_cost[[c.last for c in candidates]]
    return np.stack(
        [
            confident,
            confident - second,
            aspect_z**2,
            np.minimum(tall, 1.5),
            np.maximum(0.0, 0.7 - tall),
            wide,
            np.maximum(0.0, wide - 1.0),
            left,
            right,
            ((left > 0) | (right > 0)).astype(float),
            np.clip(outputs[:, NUM_CLASSES].astype(float), -10, 10),  # NaN: no detector
            np.ones(len(candidates)),
        ],
        axis=1,
    )


def piece_scores(pieces: NumberPieces, outputs: Outputs) -> np.ndarray:
    """Each candidate's log-odds of being exactly one whole digit."""
    features = piece_features(pieces, outputs)
    if np.isnan(features[:, DETECTOR_FEATURE]).any():  # the service runs no detector
        features, weights = np.delete(features, DETECTOR_FEATURE, axis=1), WEIGHTS_WITHOUT_DETECTOR
    else:
        weights = WEIGHTS
    scores: np.ndarray = features @ weights
    return scores


def best_reading(pieces: NumberPieces, outputs: Outputs) -> list[int]:
    """The best-scoring reading: the candidates it is made of, left to right."""
    score = piece_scores(pieces, outputs)
    best = np.full(pieces.primitives + 1, -np.inf)
    best[0] = 0.0
    came_from = np.full(pieces.primitives + 1, -1)
    for index in sorted(range(len(score)), key=lambda i: pieces.candidates[i].last):
        candidate = pieces.candidates[index]
        total = best[candidate.first] + score[index]
        if total > best[candidate.last]:
            best[candidate.last] = total
            came_from[candidate.last] = index
    chosen = []
    end = pieces.primitives
    while end > 0:
        index = int(came_from[end])
        chosen.append(index)
        end = pieces.candidates[index].first
    return chosen[::-1]


def holds_several_digits(pieces: Readings, marks: int) -> bool:
    """Whether the pieces of a reading make a number of several digits, for /predict's verdict on
    an image whose ink looks like several digits (`marks`: its separate blobs): two pieces or
    more, none of them not a digit; and when the reading cut a mark in two, at most half of them
    unsure (cuts through a letter or a scribble leave doubtful pieces). A scribble or a word whose
    marks stand apart reads as pieces too, but some of them are not digits: its own verdict
    stands."""
    if len(pieces) < 2 or "not_a_digit" in pieces.verdicts:
        return False
    return len(pieces) == marks or 2 * pieces.verdicts.count("unsure") <= len(pieces)


def worth_a_second_look(verdict: str, detector_logit: float) -> bool:
    """Whether an image whose ink looks like one digit may still be digits pressed together: it
    reads as no confident digit, and the detector does not find it surely one (NaN, no detector:
    it may be)."""
    return verdict != "digit" and not detector_logit <= SURELY_ONE_DIGIT


def clearly_several_digits(pieces: Readings, outputs: Outputs) -> bool:
    """The stricter test for an image no wider than one digit that does not read as one (touching
    digits pressed together, which the detector finds no digit): two pieces or more, each a
    `digit` that the detector finds clearly one (`outputs`: the pieces' raw outputs). Letters cut
    in two read as digits too, but seldom as clearly."""
    return (
        len(pieces) >= 2
        and all(verdict == "digit" for verdict in pieces.verdicts)
        and bool((outputs[:, NUM_CLASSES] <= CLEAR_DIGIT).all())
    )
