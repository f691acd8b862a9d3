"""Semeion Handwritten Digits (`semeion.data`): 1,593 digits by about 80 writers, 16×16 black and white.

The project's split, the same in every issue: lines 1–1,000 may be used for fitting and thresholds,
lines 1,001–1,593 only ever for measuring. `FIT` and `MEASURE` name them (as 0-based slices).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SIDE = 16
FIT = slice(0, 1000)  # lines 1-1,000
MEASURE = slice(1000, 1593)  # lines 1,001-1,593: never fitted on


def default_path() -> Path:
    folder = os.environ.get(
        "SEMEION_DATA_DIR", Path(__file__).resolve().parent.parent.parent / "shared/data/semeion"
    )
    return Path(folder) / "semeion.data"


def load_semeion(path: Path | None = None, lines: slice = FIT) -> tuple[np.ndarray, np.ndarray]:
    """Digits as uint8 16×16 pictures, white ink on black (0/255), and their labels, for `lines`."""
    path = path or default_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; point SEMEION_DATA_DIR at the folder holding semeion.data"
        )
    rows = np.loadtxt(path, dtype=np.float32)[lines]
    # 256 pixels, the one-hot label; some copies add the label as a plain number after it.
    if rows.shape[1] not in (SIDE * SIDE + 10, SIDE * SIDE + 11):
        raise ValueError(f"{path}: expected {SIDE * SIDE + 10} values a line, got {rows.shape[1]}")
    images = (rows[:, : SIDE * SIDE] > 0.5).astype(np.uint8).reshape(-1, SIDE, SIDE) * 255
    labels = rows[:, SIDE * SIDE : SIDE * SIDE + 10].argmax(axis=1).astype(np.int64)
    return images, labels


def enlarge(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 16×16 Semeion digit as a larger drawing: scaled up smoothly, then cut at a random level,
    so its blocky edges become pen strokes of varying width."""
    from PIL import Image, ImageFilter

    factor = int(rng.integers(4, 13))
    big = Image.fromarray(digit).resize((SIDE * factor, SIDE * factor), Image.Resampling.BILINEAR)
    big = big.filter(ImageFilter.GaussianBlur(factor * rng.uniform(0.2, 0.6)))
    level = rng.uniform(60, 190)
    return (np.asarray(big) > level).astype(np.uint8) * 255
