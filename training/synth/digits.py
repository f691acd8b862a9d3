"""Digits drawn the ways the non-digits are drawn, so a detector learns shapes, not a renderer's marks.

- MNIST digits enlarged onto canvases with another pen width (thresholding a smooth enlargement);
- Semeion digits (16×16, other writers) enlarged the same way;
- MNIST digits scanned the way Semeion's were: stretched to fill a 16×16 box and binarised, so
  bold, blocky writing by other people is taught as digits, not only Semeion's 700 fitting lines;
- digits written with a pen in Hershey stroke fonts, and typeset in TrueType fonts, with exactly the
  pens and fonts of the letters in training.synth.nondigits.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from training.semeion import enlarge
from training.synth.glyphs import DIGITS, pen_text, typeset
from training.synth.nondigits import VARIANTS, Variant


def enlarge_mnist(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 28×28 MNIST digit (uint8, white on black) as a drawing 3-10 times larger, with the pen made
    thinner or bolder by where the smooth enlargement is cut."""
    factor = rng.uniform(3, 10)
    side = round(28 * factor)
    big = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    big = big.filter(ImageFilter.GaussianBlur(factor * rng.uniform(0.1, 0.8)))
    values = np.asarray(big)
    level = rng.uniform(0.15, 0.7) * max(1, int(values.max()))
    ink = np.where(values > level, int(rng.integers(180, 256)), 0)
    return ink.astype(np.uint8)


def scan_like_semeion(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 28×28 MNIST digit (uint8, white on black) as Semeion's digits were made: its ink stretched
    to fill 16×16 (aspect not kept) and cut at a random level into black and white."""
    rows, cols = np.nonzero(digit > 40)
    ink = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    small = np.asarray(Image.fromarray(ink).resize((16, 16), Image.Resampling.BILINEAR))
    return ((small > rng.integers(70, 170)) * 255).astype(np.uint8)


def scanned(digits: np.ndarray, seed: int) -> list[np.ndarray]:
    """Each MNIST digit scanned once as Semeion's were (scan_like_semeion)."""
    rng = np.random.default_rng([7_000, seed])
    return [scan_like_semeion(digit, rng) for digit in digits]


def _fonts(variant: Variant, hershey: bool) -> list[str | None]:
    return [f for f in variant.fonts if (f is not None and not f.endswith(".ttf")) is hershey]


def font_digits(split: str, count: int, seed: int = 0) -> tuple[list[np.ndarray], list[int]]:
    """`count` digits, half pen-written in Hershey fonts, half typeset, in the split's fonts and pens."""
    variant = VARIANTS[split]
    rng = np.random.default_rng([3_000 if split == "fit" else 4_000_000, seed])
    images, labels = [], []
    for index in range(count):
        label = int(rng.integers(10))
        if index % 2 == 0:
            fonts = _fonts(variant, hershey=True)
            font = fonts[int(rng.integers(len(fonts)))]
            pen = variant.pens[int(rng.integers(len(variant.pens)))]
            assert font is not None
            images.append(pen_text(DIGITS[label], font, rng, pen))
        else:
            fonts = _fonts(variant, hershey=False)
            images.append(typeset(DIGITS[label], fonts[int(rng.integers(len(fonts)))], rng))
        labels.append(label)
    return images, labels


def enlarged(digits: np.ndarray, seed: int, source: str = "mnist") -> list[np.ndarray]:
    """Each digit enlarged once (MNIST 28×28 or Semeion 16×16), with its own random pen."""
    rng = np.random.default_rng([5_000 if source == "mnist" else 6_000, seed])
    grow = enlarge_mnist if source == "mnist" else enlarge
    return [grow(digit, rng) for digit in digits]
