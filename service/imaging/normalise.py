"""Turn a grayscale picture of a digit into the 28×28 picture MNIST's authors would have made of it.

Pure functions of pixels: no HTTP, no model. Photos of paper (a noisy or shaded background) are
cleaned first (service/imaging/photo.py); then the pipeline is MNIST's own normalisation:
white ink on black (inverting dark-on-light) → subtract the background → crop to the ink → scale the
longer side to 20 px, keeping the aspect ratio, anti-aliased → paste into 28×28 so the centre of mass
sits at the centre. The result is pixels 0-1; standardising with MNIST's mean and std belongs to the
model's input (training.model.standardise) and happens on the whole batch in the predictor.

Everything a client can get wrong raises a subclass of `InputError`, and nothing else.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from service.imaging.decode import Gray, decode_image, pixels_to_gray
from service.imaging.errors import NoDigitError, PixelsError
from service.imaging.photo import clean_photo, looks_like_photo
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


@dataclass(frozen=True)
class Ink:
    """Where a picture's ink is: the picture as white ink on black, and its levels."""

    gray: Gray  # white ink on a dark background (inverted when it was dark on light)
    background: float
    contrast: float

    @property
    def mask(self) -> npt.NDArray[np.bool_]:
        """The pixels that are ink, as MNIST's crop sees them."""
        # An integer threshold keeps the comparison in uint8 (a float would copy the image as
        # float64); for integer pixels, `> floor(t)` is the same test as `> t`.
        return self.gray > math.floor(self.background + NOISE_FRACTION * self.contrast)


def find_ink(gray: Gray) -> Ink:
    """The ink of a grayscale uint8 image (any size); NoDigitError when there is none."""
    sample = _background_sample(gray)
    background = float(np.median(sample))
    if looks_like_photo(sample, background):
        # Shaded, textured or ruled paper: flatten the light and keep only the ink first.
        gray = clean_photo(gray, dark_ink=background > 127)
        background = 0.0
    elif background > 127:  # dark ink on light paper: MNIST's digits are white on black
        gray = 255 - gray
        background = 255 - background
    contrast = float(gray.max()) - background
    if contrast < MIN_CONTRAST:
        raise NoDigitError(
            "no digit found: the image is blank or too faint; draw or photograph a digit that "
            "stands out from its background"
        )
    return Ink(gray, background, contrast)


def normalise_digit(gray: Gray) -> npt.NDArray[np.float32]:
    """MNIST's normalisation of a grayscale uint8 image (any size) → (28, 28) float32, pixels 0-1."""
    ink = find_ink(gray)
    return normalise_ink(ink, ink.mask)


def normalise_ink(
    ink: Ink, mask: npt.NDArray[np.bool_], extent: Extent | None = None
) -> npt.NDArray[np.float32]:
    """MNIST's normalisation of all the ink of a picture (its mask, and maybe its extent, given,
    as they are often needed elsewhere too): crop to the ink, then digit_from_crop."""
    top, bottom, left, right = extent or ink_extent(mask)
    return digit_from_crop(ink.gray[top:bottom, left:right], ink)


Extent = tuple[int, int, int, int]  # top, bottom, left, right (exclusive), in pixels


def ink_extent(mask: npt.NDArray[np.bool_]) -> Extent:
    """The box around the ink of a mask that holds some."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def digit_from_crop(crop: Gray, ink: Ink) -> npt.NDArray[np.float32]:
    """The rest of MNIST's normalisation, for a crop of `ink.gray` tight around one digit's ink:
    scale into 20×20, stretch the levels, centre by mass in 28×28."""
    digit = _fit_box(crop)
    background, contrast = ink.background, ink.contrast
    # Background to 0 and the strongest ink to 255, as in MNIST, whatever the pen or the lighting.
    # Done after the resize (both are linear), on 400 pixels instead of the whole crop.
    if background or contrast != 255:
        digit = np.clip((digit - background) * (255.0 / contrast), 0, 255)
    return _centre_by_mass(digit)


def _background_sample(gray: Gray) -> Gray:
    """Pixels on a grid, for the background level: the median, not the mean, since ink may cover
    a good part of the image without moving it."""
    step = max(1, int(np.sqrt(gray.size / BACKGROUND_SAMPLES)))
    return gray[::step, ::step]


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


def to_gray(image: RawImage, max_pixels: int) -> Gray:
    """Either form a client may send (an image file, a grid of pixel values) → grayscale pixels."""
    if isinstance(image, bytes):
        return decode_image(image, max_pixels)
    return _pixels_gray(image)


def _pixels_gray(pixels: object) -> Gray:
    depth = _nesting_depth(pixels)
    if depth > 3:  # rows of pixels of channels at most; numpy refuses over 64 in its own words
        raise PixelsError(
            f"pixels must be a 2-D grid of numbers (e.g. 28 rows of 28), got {depth} dimensions"
        )
    try:
        array = np.asarray(pixels)
    except (ValueError, TypeError) as error:  # ragged rows, mixed types
        raise PixelsError(
            "pixels must be a rectangular grid of numbers: every row the same length"
        ) from error
    return pixels_to_gray(array)


def preprocess_image(data: bytes, max_pixels: int) -> npt.NDArray[np.float32]:
    """An encoded image file → the 28×28 digit (pixels 0-1) the model reads."""
    return normalise_digit(decode_image(data, max_pixels))


def preprocess_pixels(pixels: object) -> npt.NDArray[np.float32]:
    """A grid of pixel values (white digit on black, 0-255) → the 28×28 digit the model reads."""
    return normalise_digit(_pixels_gray(pixels))


def _nesting_depth(value: object) -> int:
    """How deep lists nest along their first elements: 2 for rows of numbers."""
    depth = 0
    while isinstance(value, list):
        depth += 1
        value = value[0] if value else None
    return depth


def preprocess(image: RawImage, max_pixels: int) -> npt.NDArray[np.float32]:
    """Either form a client may send → the 28×28 digit the model reads."""
    return normalise_digit(to_gray(image, max_pixels))


def to_png(digit: npt.NDArray[np.float32]) -> bytes:
    """A 28×28 digit (pixels 0-1) as PNG bytes, for showing what the model saw."""
    buffer = io.BytesIO()
    Image.fromarray((np.clip(digit, 0, 1) * 255).round().astype(np.uint8)).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()
