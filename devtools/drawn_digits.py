"""A "drawn digit" test set made from MNIST test digits: what people send the product.

Each MNIST digit is enlarged to a random size, given a thicker or thinner pen, placed at a random spot
of a 280×280 canvas, and saved as a PNG in one of the forms clients send: RGBA with a transparent
background (a drawing canvas), RGB or grayscale, white on black or dark ink on light paper.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

CANVAS = 280
STYLES = ("rgba-transparent", "rgb-white-on-black", "rgb-black-on-white", "gray-black-on-white")


@dataclass(frozen=True)
class DrawnDigit:
    png: bytes
    label: int
    style: str


def draw(digit: np.ndarray, rng: np.random.Generator, style: str | None = None) -> Image.Image:
    """One MNIST digit (28×28 uint8, white on black) as a 280×280 drawing in the given style."""
    style = style or str(rng.choice(STYLES))
    rows = np.flatnonzero(digit.max(axis=1))
    cols = np.flatnonzero(digit.max(axis=0))
    crop = Image.fromarray(digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    height = int(rng.integers(60, 250))
    width = max(1, round(crop.width * height / crop.height))
    if width > 260:
        height, width = round(height * 260 / width), 260
    stroke = crop.resize((width, height), Image.Resampling.BILINEAR)
    # A pen, not a blur: strong edges, and a random pen width.
    stroke = stroke.point(lambda v: 255 if v > 110 else (v * 2 if v > 40 else 0))
    pen = rng.choice(["thin", "normal", "thick", "thicker"], p=[0.2, 0.4, 0.25, 0.15])
    if pen == "thin":
        stroke = stroke.filter(ImageFilter.MinFilter(3))
    elif pen in ("thick", "thicker"):
        stroke = stroke.filter(ImageFilter.MaxFilter(5 if pen == "thick" else 9))
    ink = Image.new("L", (CANVAS, CANVAS), 0)
    top = int(rng.integers(0, CANVAS - stroke.height + 1))
    left = int(rng.integers(0, CANVAS - stroke.width + 1))
    ink.paste(stroke, (left, top))
    return in_style(ink, style)


def in_style(ink: Image.Image, style: str) -> Image.Image:
    """White-on-black ink (mode L) as a client would send it: one of STYLES."""
    if style == "rgba-transparent":
        white = Image.new("L", ink.size, 255)
        return Image.merge("RGBA", (white, white, white, ink))
    if style == "rgb-white-on-black":
        return Image.merge("RGB", (ink, ink, ink))
    paper = ink.point(lambda v: 255 - v * 0.85)  # dark grey ink on white paper
    return Image.merge("RGB", (paper, paper, paper)) if style == "rgb-black-on-white" else paper


def encode(image: Image.Image | np.ndarray, fmt: str = "PNG", **save_args: object) -> bytes:
    """An image (or a uint8 array) as the bytes of an image file: the one encoder the tests share."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def to_png(image: Image.Image | np.ndarray) -> bytes:
    return encode(image)


def drawn_digits(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0
) -> list[DrawnDigit]:
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(images), size=count, replace=False)
    result = []
    for index in picks:
        style = str(rng.choice(STYLES))
        result.append(
            DrawnDigit(to_png(draw(images[index], rng, style)), int(labels[index]), style)
        )
    return result
