"""Semeion's handwritten digits (../shared/data/semeion): other writers than MNIST's, for learning
from corrections. Lines 1-1,000 may be used for fitting; lines 1,001-1,593 only for measuring.

Each line: 256 pixels (0/1, a 16×16 digit scanned, stretched to the box and thresholded), then
10 one-hot label values (this copy adds the digit itself as an 11th value, checked when present).
A digit is sent to the service as what a client would have: a 16×16 PNG, white ink on black.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SEMEION_FILE = Path(
    os.environ.get("SEMEION_DATA", ROOT.parent / "shared" / "data" / "semeion" / "semeion.data")
)
FIT_LINES = slice(0, 1000)  # lines 1-1,000
MEASURE_LINES = slice(1000, 1593)  # lines 1,001-1,593: never fitted on


def load(path: Path = SEMEION_FILE) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """(N, 16, 16) pixels 0/1 and (N,) digits, in the file's order."""
    values = np.loadtxt(path, dtype=np.float32, ndmin=2)
    pixels = values[:, :256].reshape(-1, 16, 16).astype(np.uint8)
    one_hot = values[:, 256:266]
    if not np.all(one_hot.sum(axis=1) == 1):
        raise ValueError(f"{path}: columns 257-266 are not one-hot labels")
    labels = one_hot.argmax(axis=1).astype(np.int64)
    if values.shape[1] > 266 and not np.array_equal(values[:, 266], labels):
        raise ValueError(f"{path}: the 267th column disagrees with the one-hot labels")
    return pixels, labels


def to_png(bits: npt.NDArray[np.uint8]) -> bytes:
    """A 16×16 Semeion digit as a PNG file: white ink on black."""
    buffer = io.BytesIO()
    Image.fromarray(bits * np.uint8(255)).save(buffer, format="PNG")
    return buffer.getvalue()
