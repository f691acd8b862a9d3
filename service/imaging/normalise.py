"""Turn a grayscale picture of a digit into the 28×28 picture MNIST's authors would have made of it.

Pure functions of pixels: no HTTP, no model. The pipeline is MNIST's own normalisation:
white ink on black (inverting dark-on-light) → subtract the background → crop to the ink → scale the
longer side to 20 px, keeping the aspect ratio, anti-aliased → paste into 28×28 so the centre of mass
sits at the centre. The result is pixels 0-1; standardising with MNIST's mean and std belongs to the
model's input (training.model.standardise) and happens on the whole batch in the predictor.

Everything a client can get wrong raises a subclass of `InputError`, and nothing else.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from service.imaging.decode import Gray, decode_image, pixels_to_gray
from service.imaging.errors import NoDigitError, PixelsError
from training.model import IMAGE_SIZE

# What a single image may be before preprocessing: an encoded file, or a grid of pixel values.
RawImage = bytes | list[Any]
Digits = npt.NDArray[np.float32]  # (N, 28, 28), pixels 0-1: what the predictor takes

DIGIT_BOX = 20  # MNIST fits each digit in a 20×20 box inside the 28×28 frame
# A pixel is ink when it stands out from the background by this share of the image's contrast;
# fainter ones are anti-aliasing, JPEG noise or paper texture and would inflate the crop.
NOISE_FRACTION = 0.05
# Below this contrast (on 0-255) the image holds no visible digit.
MIN_CONTRAST = 24
# The background level is a median over at most this many pixels, sampled on a grid.
BACKGROUND_SAMPLES = 4096


def normalise_digit(gray: Gray) -> npt.NDArray[np.float32]:
    """MNIST's normalisation of a grayscale uint8 image (any size) → (28, 28) float32, pixels 0-1."""
    background = _background_level(gray)
    if background > 127:  # dark ink on light paper: MNIST's digits are white on black
        gray = 255 - gray
        background = 255 - background
    contrast = float(gray.max()) - background
    if contrast < MIN_CONTRAST:
        raise NoDigitError(
            "no digit found: the image is blank or too faint; draw or photograph a digit that "
            "stands out from its background"
        )
    # An integer threshold keeps the comparison in uint8 (a float would copy the image as float64);
    # for integer pixels, `> floor(t)` is the same test as `> t`.
    ink_mask = gray > math.floor(background + NOISE_FRACTION * contrast)
    rows = np.flatnonzero(ink_mask.any(axis=1))
    cols = np.flatnonzero(ink_mask.any(axis=0))
    digit = _fit_box(gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    # Background to 0 and the strongest ink to 255, as in MNIST, whatever the pen or the lighting.
    # Done after the resize (both are linear), on 400 pixels instead of the whole crop.
    if background or contrast != 255:
        digit = np.clip((digit - background) * (255.0 / contrast), 0, 255)
    return _centre_by_mass(digit)


def _background_level(gray: Gray) -> float:
    # The median, not the mean: ink may cover a good part of the image without moving it.
    step = max(1, int(np.sqrt(gray.size / BACKGROUND_SAMPLES)))
    return float(np.median(gray[::step, ::step]))


def _fit_box(ink: Gray) -> npt.NDArray[np.float32]:
    """Scale uint8 ink so the longer side is 20 px, keeping the aspect ratio; anti-aliased
    (Lanczos). Returns float32 0-255."""
    height, width = ink.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return ink.astype(np.float32)
    resized = Image.fromarray(ink).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(resized, dtype=np.float32)


def _centre_by_mass(digit: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Paste into a 28×28 frame so the centre of mass lands on the frame's centre (14, 14)."""
    frame = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    total = digit.sum()
    if total == 0:  # the resize can wash out a hair-thin stroke completely
        raise NoDigitError(
            "no digit found: the ink is too thin to see at 28×28; draw a bolder digit"
        )
    height, width = digit.shape
    centre_y = float(digit.sum(axis=1) @ np.arange(height)) / total
    centre_x = float(digit.sum(axis=0) @ np.arange(width)) / total
    top = round(IMAGE_SIZE / 2 - centre_y)
    left = round(IMAGE_SIZE / 2 - centre_x)
    # Paste with clipping: a digit whose mass sits near one edge may lose a sliver, as in MNIST.
    src_top, src_left = max(0, -top), max(0, -left)
    dst_top, dst_left = max(0, top), max(0, left)
    rows = min(height - src_top, IMAGE_SIZE - dst_top)
    cols = min(width - src_left, IMAGE_SIZE - dst_left)
    frame[dst_top : dst_top + rows, dst_left : dst_left + cols] = digit[
        src_top : src_top + rows, src_left : src_left + cols
    ]
    return frame * (1 / 255)


def preprocess_image(data: bytes, max_pixels: int) -> npt.NDArray[np.float32]:
    """An encoded image file → the 28×28 digit (pixels 0-1) the model reads."""
    return normalise_digit(decode_image(data, max_pixels))


def preprocess_pixels(pixels: object) -> npt.NDArray[np.float32]:
    """A grid of pixel values (white digit on black, 0-255) → the 28×28 digit the model reads."""
    try:
        array = np.asarray(pixels)
    except (ValueError, TypeError) as error:  # ragged rows, mixed types
        raise PixelsError(f"pixels must be a rectangular grid of numbers: {error}") from error
    return normalise_digit(pixels_to_gray(array))


def preprocess(image: RawImage, max_pixels: int) -> npt.NDArray[np.float32]:
    """Either form a client may send → the 28×28 digit the model reads."""
    if isinstance(image, bytes):
        return preprocess_image(image, max_pixels)
    return preprocess_pixels(image)


def to_png(digit: npt.NDArray[np.float32]) -> bytes:
    """A 28×28 digit (pixels 0-1) as PNG bytes, for showing what the model saw."""
    buffer = io.BytesIO()
    Image.fromarray((np.clip(digit, 0, 1) * 255).round().astype(np.uint8)).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()
