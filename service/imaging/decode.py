"""Decode what a client sends into a grayscale picture: image files (any format the service reads)
and grids of pixel values. Pure functions: no HTTP, no model.

The result is uint8 0-255, alpha composited so that transparent means background; telling ink from
background is normalise.py's job.
"""

from __future__ import annotations

import base64
import io
import warnings

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageChops, ImageOps, UnidentifiedImageError

from service.imaging.errors import ImageDecodeError, ImageTooLargeError, InputError, PixelsError
from service.imaging.png_fast import decode_plain_png

EXIF_ORIENTATION = 0x0112
# The formats the README promises, and the only ones Pillow may parse: each other format it knows
# is parser code an attacker could reach (EPS would even start Ghostscript).
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
READABLE = "PNG, JPEG, GIF, BMP, WebP or TIFF"
NOT_AN_IMAGE = f"the file is not an image this service reads: send {READABLE}"
DAMAGED = (
    f"the image is damaged or cut short and cannot be decoded: send the whole file as {READABLE}"
)
Gray = npt.NDArray[np.uint8]  # a grayscale picture, 0-255
_HIGH_BIT_MODES = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0}


def base64_file(text: str) -> bytes:
    """The bytes of a base64-encoded file, a data-URL prefix allowed; binascii.Error if not base64.
    /predict's JSON and the V2 protocol's BYTES inputs both carry files this way."""
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    return base64.b64decode(text, validate=True)


def decode_image(data: bytes, max_pixels: int) -> Gray:
    """Decode an image file (first frame) into a grayscale array, 0-255, alpha composited."""
    if not data:
        raise ImageDecodeError(f"the image is empty (0 bytes); send a {READABLE} file")
    if (pixels := decode_plain_png(data, max_pixels)) is not None:
        if (strokes := _white_strokes(pixels)) is not None:
            return strokes
        return _to_gray(Image.fromarray(pixels))
    try:
        with warnings.catch_warnings():
            # Pillow warns on odd metadata; the pixels are what matter.
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            # Image.open reads only the header: refuse huge images before their pixels are allocated.
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"the image is {width}×{height} pixels, over the limit of {max_pixels:,} pixels; "
                    "send a smaller image (a digit needs no more than a few hundred pixels a side)"
                )
            image.load()
            # Phones store a photo as the sensor saw it plus an EXIF tag saying how to turn it:
            # turn the pixels as any viewer does, so /read's boxes match what the client sees.
            if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
                return _to_gray(ImageOps.exif_transpose(image))
            return _to_gray(image)
    except InputError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(
            "the image declares too many pixels to decode safely; send a smaller image"
        ) from error
    # Pillow's own messages name Python types and object addresses ("cannot identify image file
    # <_io.BytesIO object at 0x…>"): say what was wrong in the client's terms instead.
    except UnidentifiedImageError as error:
        raise ImageDecodeError(NOT_AN_IMAGE) from error
    except Exception as error:  # Pillow raises many types on damaged files; all mean "bad image"
        raise ImageDecodeError(DAMAGED) from error


def _to_gray(image: Image.Image) -> Gray:
    """Grayscale uint8 pixels; transparent = background."""
    if image.mode in _HIGH_BIT_MODES:
        scaled = np.asarray(image, dtype=np.float32) * (255.0 / _HIGH_BIT_MODES[image.mode])
        high_bit: Gray = np.rint(scaled).astype(np.uint8)
        return high_bit
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


def _white_strokes(pixels: npt.NDArray[np.uint8]) -> Gray | None:
    """The alpha channel of decoded RGBA pixels (height, width, 4) when every visible pixel is
    white (a drawing canvas's strokes); None for any other pixels.

    _to_gray gives exactly this for such a canvas, whichever colour its transparent pixels hold,
    but through five passes of Pillow that hold the GIL; here it is a few passes of numpy over the
    pixels as 32-bit words.
    """
    if pixels.ndim != 3 or pixels.shape[-1] != 4:
        return None
    words = pixels.view("<u4")[..., 0]  # R, G, B, A bytes: A is the high byte
    alpha = words >> 24
    if not ((words | 0xFF000000 == 0xFFFFFFFF) | (alpha == 0)).all():
        return None
    strokes: Gray = alpha.astype(np.uint8)
    return strokes


# What a client sent instead of numbers, by numpy's kind code (never numpy's own type names).
_KINDS = {
    "U": "text",
    "S": "text",
    "O": "a mix of numbers, text or empty values",
    "c": "complex numbers",
}


def pixels_to_gray(pixels: npt.ArrayLike) -> Gray:
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
        raise PixelsError(
            f"pixels must be numbers 0-255, got {_KINDS.get(array.dtype.kind, 'other values')}"
        )
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
