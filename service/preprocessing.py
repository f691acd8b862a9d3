"""Turn any image of a digit into the 28×28 picture MNIST's authors would have made of it.

Pure functions of pixels: no HTTP, no model. The pipeline is MNIST's own normalisation:
decode → grayscale (alpha = background) → white ink on black (inverting dark-on-light) → subtract the
background → crop to the ink → scale the longer side to 20 px, keeping the aspect ratio, anti-aliased →
paste into 28×28 so the centre of mass sits at the centre. The result is pixels 0-1; standardising with
MNIST's mean and std belongs to the model's input and happens on the whole batch in the predictor.

Everything a client can get wrong raises a subclass of `InputError`, and nothing else.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
from PIL import Image, ImageChops

from service.png_decoder import decode_plain_png
from training.model import IMAGE_SIZE

DIGIT_BOX = 20  # MNIST fits each digit in a 20×20 box inside the 28×28 frame
# A pixel is ink when it stands out from the background by this share of the image's contrast;
# fainter ones are anti-aliasing, JPEG noise or paper texture and would inflate the crop.
NOISE_FRACTION = 0.05
# Below this contrast (on 0-255) the image holds no visible digit.
MIN_CONTRAST = 24
# The background level is a median over at most this many pixels, sampled on a grid.
BACKGROUND_SAMPLES = 4096
_HIGH_BIT_MODES = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0}


class InputError(ValueError):
    """Something the client sent cannot be turned into a digit image; the message says what and why."""


class ImageDecodeError(InputError):
    """The bytes are not an image Pillow can read (or are a damaged one)."""


class ImageTooLargeError(InputError):
    """The image declares more pixels than the server accepts."""


class NoDigitError(InputError):
    """The image is blank: no ink stands out from the background."""


class PixelsError(InputError):
    """An array of pixels has the wrong shape, type or values."""


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode an image file (first frame) into a grayscale array, 0-255, alpha composited."""
    if not data:
        raise ImageDecodeError(
            "the image is empty (0 bytes); send a PNG, JPEG, GIF, BMP, WebP or TIFF file"
        )
    if (png := decode_plain_png(data, max_pixels)) is not None:
        return _to_gray(png)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # Pillow warns on odd metadata; the pixels are what matter
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            # Image.open reads only the header: refuse huge images before their pixels are allocated.
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"the image is {width}×{height} pixels, over the limit of {max_pixels:,} pixels; "
                    "send a smaller image (a digit needs no more than a few hundred pixels a side)"
                )
            image.load()
            return _to_gray(image)
    except InputError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(
            f"the image declares too many pixels to decode safely ({error}); send a smaller image"
        ) from error
    except Exception as error:  # Pillow raises many types on malformed files; all mean "bad image"
        raise ImageDecodeError(
            f"the data is not a readable image ({type(error).__name__}: {error}); "
            "send a PNG, JPEG, GIF, BMP, WebP or TIFF file"
        ) from error


def _to_gray(image: Image.Image) -> np.ndarray:
    """Grayscale uint8 pixels; transparent = background."""
    if image.mode in _HIGH_BIT_MODES:
        scaled = np.asarray(image, dtype=np.float32) * (255.0 / _HIGH_BIT_MODES[image.mode])
        return np.rint(scaled).astype(np.uint8)
    if image.mode in ("I", "F"):
        return pixels_to_gray(np.asarray(image))
    if image.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in image.info:
        return np.asarray(image.convert("L"))
    rgba = image.convert("RGBA") if image.mode not in ("RGBA", "LA") else image
    alpha = rgba.getchannel("A")
    gray = rgba.convert("L")
    low, high = alpha.getextrema()
    if low == 255:
        return np.asarray(gray)
    if high == 0:
        return np.zeros((image.height, image.width), dtype=np.uint8)
    # Transparent means background. Lay the visible strokes on whatever contrasts with them: black
    # under light strokes (a drawing canvas), white under dark ones (ink on a transparent sheet).
    # Pillow's C operations keep this to a fraction of the PNG decoding time.
    darkest, lightest = gray.getextrema()
    if darkest == lightest == 255:  # white strokes on a canvas: the alpha channel is the drawing
        return np.asarray(alpha)
    visible = np.asarray(gray.histogram(mask=alpha))
    if visible @ np.arange(256) >= 128 * visible.sum():  # the visible pixels are mostly light
        return np.asarray(ImageChops.multiply(gray, alpha))
    return 255 - np.asarray(ImageChops.multiply(ImageChops.invert(gray), alpha))


def pixels_to_gray(pixels: np.ndarray) -> np.ndarray:
    """Validate a numeric 2-D array of 0-255 (or 0-1) pixels and return it as uint8 0-255."""
    array = np.asarray(pixels)
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        array = array[..., :3].mean(axis=-1) if array.shape[-1] > 1 else array[..., 0]
    if array.ndim != 2 or 0 in array.shape:
        raise PixelsError(
            f"pixels must be a 2-D grid of numbers (e.g. 28 rows of 28), got shape {list(array.shape)}"
        )
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype.kind not in "uif":
        raise PixelsError(f"pixels must be numbers 0-255, got values of type {array.dtype}")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise PixelsError("pixels must be finite numbers 0-255; NaN and Infinity are not pixels")
    low, high = values.min(), values.max()
    if low < 0 or high > 255:
        raise PixelsError(f"pixels must lie in 0-255, got values from {low:g} to {high:g}")
    # Floats no higher than 1 are taken as 0-1 intensities, the convention of most image libraries.
    if array.dtype.kind == "f" and high <= 1.0:
        values = values * 255
    return np.rint(values).astype(np.uint8)


def normalise_digit(gray: np.ndarray) -> np.ndarray:
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


def _background_level(gray: np.ndarray) -> float:
    # The median, not the mean: ink may cover a good part of the image without moving it.
    step = max(1, int(np.sqrt(gray.size / BACKGROUND_SAMPLES)))
    return float(np.median(gray[::step, ::step]))


def _fit_box(ink: np.ndarray) -> np.ndarray:
    """Scale uint8 ink so the longer side is 20 px, keeping the aspect ratio; anti-aliased
    (Lanczos). Returns float32 0-255."""
    height, width = ink.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return ink.astype(np.float32)
    resized = Image.fromarray(ink).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(resized, dtype=np.float32)


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
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


def preprocess_image(data: bytes, max_pixels: int) -> np.ndarray:
    """An encoded image file → the 28×28 digit (pixels 0-1) the model reads."""
    return normalise_digit(decode_image(data, max_pixels))


def preprocess_pixels(pixels: object) -> np.ndarray:
    """A grid of pixel values (white digit on black, 0-255) → the 28×28 digit the model reads."""
    try:
        array = np.asarray(pixels)
    except (ValueError, TypeError) as error:  # ragged rows, mixed types
        raise PixelsError(f"pixels must be a rectangular grid of numbers: {error}") from error
    return normalise_digit(pixels_to_gray(array))


def to_png(digit: np.ndarray) -> bytes:
    """A 28×28 digit (pixels 0-1) as PNG bytes, for showing what the model saw."""
    buffer = io.BytesIO()
    Image.fromarray((np.clip(digit, 0, 1) * 255).round().astype(np.uint8)).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()
