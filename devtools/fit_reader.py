"""`python -m devtools.fit_reader`: fit the few numbers service/inference/reading.py decides with.

Prints (1) the mean and spread of log(width / height) of each digit over MNIST's 60,000 training
digits (reading.LOG_ASPECT), and (2) the weights of the logistic regression that gives each
candidate piece its log-odds of being exactly one whole digit (reading.WEIGHTS, and
reading.WEIGHTS_WITHOUT_DETECTOR for a service that runs no not-a-digit detector), fitted on numbers
composed from MNIST's training digits and Semeion's lines 1-1,000, with gaps and touching, and on
lone digits. None of the digits that tests/test_numbers.py measures on are used here. Paste the
printed values into reading.py. Takes a few minutes on 2 cores.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from devtools.numbers import (
    SEMEION_FITTING,
    Box,
    composed_numbers,
    mnist_source,
    semeion_source,
)
from service.imaging.decode import decode_image
from service.imaging.normalise import find_ink
from service.imaging.pieces import number_pieces
from service.inference.predictor import Predictor
from service.inference.reading import DETECTOR_FEATURE, piece_features
from training.checkpoint import load_checkpoint, load_detector

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
MNIST = Path(os.environ.get("MNIST_DATA_DIR", DATA / "mnist"))
MATCH = 0.7  # a candidate whose box overlaps a true digit's box this much (IoU) is that digit


def log_aspects() -> np.ndarray:
    with gzip.open(MNIST / "train-images-idx3-ubyte.gz") as file:
        images = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(MNIST / "train-labels-idx1-ubyte.gz") as file:
        labels = np.frombuffer(file.read(), np.uint8, offset=8)
    ink = images > 40
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    height = 28 - np.argmax(rows[:, ::-1], axis=1) - np.argmax(rows, axis=1)
    width = 28 - np.argmax(cols[:, ::-1], axis=1) - np.argmax(cols, axis=1)
    log_aspect = np.log(width / height)
    return np.array(
        [(log_aspect[labels == d].mean(), log_aspect[labels == d].std()) for d in range(10)]
    )


def _overlap(a: Box, b: Box) -> float:
    across = max(0, min(a.x + a.width, b.x + b.width) - max(a.x, b.x))
    down = max(0, min(a.y + a.height, b.y + b.height) - max(a.y, b.y))
    both = across * down
    return both / (a.width * a.height + b.width * b.height - both)


def fitting_examples() -> tuple[np.ndarray, np.ndarray]:
    model, _ = load_checkpoint(ROOT / "models" / "mnist_cnn_model.pth", torch.device("cpu"))
    detector, _ = load_detector(ROOT / "models" / "not_a_digit.pth", torch.device("cpu"))
    predictor = Predictor(model, torch.device("cpu"), detector)
    sources = [
        mnist_source(MNIST, "train"),
        semeion_source(DATA / "semeion" / "semeion.data", SEMEION_FITTING),
    ]
    features, labels = [], []
    for source in sources:
        for layout, seed, count, lengths in (
            ("gaps", 201, 200, (2, 6)),
            ("touching", 202, 300, (2, 6)),
            ("gaps", 203, 150, (1, 1)),
        ):
            for number in composed_numbers(source, count, layout, seed, lengths):
                pieces = number_pieces(find_ink(decode_image(number.png, 1 << 26)), 32, 1024)
                features.append(piece_features(pieces, predictor.predict(pieces.digits)))
                labels += [
                    max(_overlap(c.box, box) for box in number.boxes) >= MATCH
                    for c in pieces.candidates
                ]
    return np.concatenate(features), np.array(labels, dtype=float)


def logistic_regression(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Newton's method on the mean log-loss with a small ridge."""
    weights = np.zeros(x.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-x @ weights))
        gradient = x.T @ (p - y) / len(y) + l2 * weights
        hessian = (x.T * (p * (1 - p))) @ x / len(y) + l2 * np.eye(len(weights))
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-8:
            break
    return weights


def main() -> None:
    np.set_printoptions(suppress=True)
    print("LOG_ASPECT (mean, spread) per digit:")
    print(np.round(log_aspects(), 3).tolist())
    x, y = fitting_examples()
    print(f"{len(y):,} candidate pieces, {y.mean():.1%} of them one whole digit")
    print("WEIGHTS:", np.round(logistic_regression(x, y), 3).tolist())
    without = np.delete(x, DETECTOR_FEATURE, axis=1)
    print("WEIGHTS_WITHOUT_DETECTOR:", np.round(logistic_regression(without, y), 3).tolist())


if __name__ == "__main__":
    main()
