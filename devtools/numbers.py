"""Numbers of several handwritten digits, for measuring POST /read: composed from real digits.

Each number has 2-6 digits taken from MNIST's test set (never its training set) or from Semeion's
measuring lines (1,001-1,593 of semeion.data; lines 1-1,000 are for fitting), laid out left to right
on a wide canvas: a random height per number and per digit, a random pen, a slanted and jittered
baseline, and one of the four client styles of drawn_digits (both polarities). Three layouts: "gaps"
(clear space between neighbours) and "touching" (each digit slid against its neighbour until the
inks meet, then a little further, so they overlap slightly), and "mixed" (each neighbour touching or
apart, at even odds: a drawing whose blobs are single digits and runs of touching ones).

Semeion's digits were stretched to fill a 16×16 box; they are squeezed back to a digit's usual
proportions (a 1 narrow, the others a little narrower than tall) before they are drawn.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from devtools.drawn_digits import STYLES, in_style, to_png
from service.imaging.pieces import Box

SEMEION_MEASURING = range(1000, 1593)  # 0-based lines 1,001-1,593: for measuring only
SEMEION_FITTING = range(0, 1000)  # lines 1-1,000: what the reader's prices may be fitted on
LAYOUTS = ("gaps", "touching", "mixed")


@dataclass(frozen=True)
class ComposedNumber:
    png: bytes
    text: str
    boxes: tuple[Box, ...]  # each digit's ink, left to right, in the canvas's pixels
    layout: str
    source: str
    style: str


@dataclass(frozen=True)
class DigitSource:
    """Digit pictures (uint8, white ink on black, any size) and their labels."""

    name: str
    images: list[np.ndarray]
    labels: np.ndarray
    stretched: bool  # filled a square box: restore a digit's proportions before drawing


def mnist_source(mnist_dir: Path, split: str = "t10k") -> DigitSource:
    """MNIST's test digits ("t10k", for measuring) or its training digits ("train", for fitting
    the reader's few prices)."""
    with gzip.open(mnist_dir / f"{split}-images-idx3-ubyte.gz") as file:
        images = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(mnist_dir / f"{split}-labels-idx1-ubyte.gz") as file:
        labels = np.frombuffer(file.read(), np.uint8, offset=8).astype(np.int64)
    name = "mnist" if split == "t10k" else f"mnist-{split}"
    return DigitSource(name, list(images), labels, stretched=False)


def semeion_source(semeion_data: Path, lines: range = SEMEION_MEASURING) -> DigitSource:
    """Semeion's lines 1,001-1,593 (for measuring) unless told otherwise (SEMEION_FITTING)."""
    text = semeion_data.read_text().splitlines()
    rows = [np.array(text[i].split(), dtype=np.float32) for i in lines]
    images = [(row[:256].reshape(16, 16) * 255).astype(np.uint8) for row in rows]
    labels = np.array([int(row[256:266].argmax()) for row in rows])
    name = "semeion" if lines == SEMEION_MEASURING else "semeion-fitting"
    return DigitSource(name, images, labels, stretched=True)


def _crop(image: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(image.max(axis=1) > 40)
    cols = np.flatnonzero(image.max(axis=0) > 40)
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _width_for(label: int, crop: np.ndarray, height: int, stretched: bool, rng) -> int:
    if not stretched:
        return max(1, round(crop.shape[1] * height / crop.shape[0]))
    aspect = rng.uniform(0.18, 0.4) if label == 1 else rng.uniform(0.55, 0.85)
    return max(2, round(height * aspect))


def _pen(glyph: Image.Image, height: int, rng: np.random.Generator) -> np.ndarray:
    """Strong edges, and a thinner or bolder pen in proportion to the digit's size."""
    glyph = glyph.point(lambda v: 255 if v > 110 else (v * 2 if v > 40 else 0))
    pen = rng.choice(["thin", "normal", "bold"], p=[0.2, 0.5, 0.3])
    if pen == "thin" and height >= 64:
        glyph = glyph.filter(ImageFilter.MinFilter(3))
    elif pen == "bold":
        glyph = glyph.filter(ImageFilter.MaxFilter(max(3, 2 * round(height / 70) + 1)))
    return np.asarray(glyph)


def _glyph(source: DigitSource, index: int, height: int, rng: np.random.Generator) -> np.ndarray:
    crop = _crop(source.images[index])
    width = _width_for(int(source.labels[index]), crop, height, source.stretched, rng)
    resample = Image.Resampling.BILINEAR
    return _pen(Image.fromarray(crop).resize((width, height), resample), height, rng)


def _touches(canvas: np.ndarray, glyph: np.ndarray, top: int, left: int) -> bool:
    """Whether the glyph's ink, pasted at (top, left), meets ink already on the canvas."""
    height, width = glyph.shape
    region = canvas[top : top + height, left : left + width]
    return bool(((region > 100) & (glyph[: region.shape[0], : region.shape[1]] > 100)).any())


def compose(
    source: DigitSource,
    indices: list[int],
    layout: str,
    style: str,
    rng: np.random.Generator,
) -> ComposedNumber:
    """Lay out the given digits of a source as one number."""
    base = int(rng.integers(32, 150))
    slope = rng.uniform(-0.12, 0.12)
    glyphs = [
        _glyph(source, i, max(12, round(base * rng.uniform(0.82, 1.15))), rng) for i in indices
    ]
    span = sum(g.shape[1] for g in glyphs) + base * len(glyphs)
    height = round(base * 1.6 + abs(slope) * span) + 2 * base
    canvas = np.zeros((height, span + 2 * base), dtype=np.uint8)
    boxes = []
    x = base
    baseline = height / 2 + base * 0.6 - slope * span / 2
    for glyph in glyphs:
        glyph_height, glyph_width = glyph.shape
        bottom = baseline + slope * (x - base) + rng.uniform(-0.08, 0.08) * base
        top = int(np.clip(round(bottom - glyph_height), 0, height - glyph_height))
        left = x
        # "mixed": as people write, some neighbours touch and some stand apart.
        touch = layout == "touching" or (layout == "mixed" and bool(rng.random() < 0.5))
        if touch and boxes:
            # Slide left until the inks meet, then a little further; but never so far that the
            # boxes overlap by more than a third of the narrower digit (shapes that pass each
            # other then overlap slightly without touching, as neighbours do in a hurry).
            start = left
            furthest = start - 2 - round(min(glyph_width, boxes[-1].width) / 3)
            while left > max(0, furthest) and not _touches(canvas, glyph, top, left):
                left -= 1
            if _touches(canvas, glyph, top, left):
                left -= round(rng.uniform(0, 0.05) * base)
        region = canvas[top : top + glyph_height, left : left + glyph_width]
        np.maximum(region, glyph, out=region)
        rows = np.flatnonzero(glyph.max(axis=1) > 40)
        cols = np.flatnonzero(glyph.max(axis=0) > 40)
        boxes.append(
            Box(
                int(left + cols[0]),
                int(top + rows[0]),
                int(np.ptp(cols) + 1),
                int(np.ptp(rows) + 1),
            )
        )
        apart = layout == "gaps" or (layout == "mixed" and not touch)
        gap = round(rng.uniform(0.1, 0.5) * base) if apart else 0
        x = left + glyph_width + max(2, gap)
    canvas, boxes = _trim(canvas, boxes, rng, base)
    text = "".join(str(int(source.labels[i])) for i in indices)
    png = to_png(in_style(Image.fromarray(canvas), style))
    return ComposedNumber(png, text, tuple(boxes), layout, source.name, style)


def _trim(
    canvas: np.ndarray, boxes: list[Box], rng: np.random.Generator, base: int
) -> tuple[np.ndarray, list[Box]]:
    """Random margins around the ink, and at least twice as wide as tall (a wide canvas)."""
    rows = np.flatnonzero(canvas.max(axis=1))
    cols = np.flatnonzero(canvas.max(axis=0))
    top_margin, bottom_margin, left_margin, right_margin = (
        round(rng.uniform(0.1, 0.6) * base) for _ in range(4)
    )
    ink = canvas[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height = ink.shape[0] + top_margin + bottom_margin
    width = max(ink.shape[1] + left_margin + right_margin, 2 * height)
    left = left_margin + int(rng.integers(0, width - ink.shape[1] - left_margin - right_margin + 1))
    out = np.zeros((height, width), dtype=np.uint8)
    out[top_margin : top_margin + ink.shape[0], left : left + ink.shape[1]] = ink
    dx, dy = left - cols[0], top_margin - rows[0]
    return out, [Box(b.x + dx, b.y + dy, b.width, b.height) for b in boxes]


def composed_numbers(
    source: DigitSource,
    count: int,
    layout: str,
    seed: int,
    lengths: tuple[int, int] = (2, 6),
) -> list[ComposedNumber]:
    """`count` numbers of lengths in [lengths[0], lengths[1]], reproducible from the seed."""
    rng = np.random.default_rng(seed)
    numbers = []
    for _ in range(count):
        length = int(rng.integers(lengths[0], lengths[1] + 1))
        indices = [int(i) for i in rng.choice(len(source.images), size=length, replace=False)]
        style = str(rng.choice(STYLES))
        numbers.append(compose(source, indices, layout, style, rng))
    return numbers


def digit_accuracy(truth: str, read: str) -> float:
    """1 − edit distance / length of the truth, at least 0: the digit-level accuracy of a reading."""
    previous = list(range(len(read) + 1))
    for i, expected in enumerate(truth, 1):
        current = [i]
        for j, got in enumerate(read, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (expected != got))
            )
        previous = current
    return max(0.0, 1 - previous[-1] / len(truth))
