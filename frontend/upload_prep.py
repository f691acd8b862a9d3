"""What the page sends for an uploaded file: the file itself when it is small, else a smaller copy.

A phone photo (12 megapixels, 3-8 MB as JPEG) is over the service's body limit (5 MB by
default), and a digit needs nowhere near that many pixels: the service shrinks every image to
28×28 in the end. So a file over SEND_AS_IS_BYTES or SEND_AS_IS_PIXELS is turned upright by its
EXIF orientation (the copy carries no EXIF, so the tag must be applied before it is dropped),
shrunk to LONG_SIDE pixels on its long side, and sent as a JPEG, or as a PNG when it has
transparency (which the service reads as the background). Anything Pillow cannot open here, or
that is too big to open safely, goes as it is: the service is the judge of what it can read, and
says so in words a person can act on.

Pure bytes in, bytes out, no Streamlit: unit-tested on its own.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageOps

from frontend import imaging

SEND_AS_IS_BYTES = 2 * 1024 * 1024
SEND_AS_IS_PIXELS = 12_000_000
# Plenty for a digit, and for the service's photo clean-up (ruled lines a few pixels thick).
LONG_SIDE = 2000
JPEG_QUALITY = 90
EXIF_ORIENTATION = 0x0112
# Modes that JPEG cannot hold but that mean "some pixels are see-through".
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# High-bit and float modes (16-bit TIFFs): rare, and Pillow cannot save them as JPEG.
_PLAIN_MODES = ("1", "L", "P", "RGB", "CMYK", "YCbCr", "LAB", "HSV", *_ALPHA_MODES)


@dataclass(frozen=True)
class Prepared:
    """The body to send, its content type, and a note for the person when it is not their file."""

    data: bytes
    content_type: str
    note: str | None = None


def prepare(data: bytes) -> Prepared:
    """The file itself if it is small enough, else an upright, shrunk copy (see the module doc)."""
    as_is = Prepared(data, imaging.guess_content_type(data))
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if len(data) <= SEND_AS_IS_BYTES and width * height <= SEND_AS_IS_PIXELS:
                return as_is
            if image.mode not in _PLAIN_MODES:
                return as_is
            # A JPEG decodes straight to 1/2, 1/4 or 1/8 of its size, no smaller than asked: a
            # 12 MP photo in a fraction of the time and memory (other formats ignore this).
            scale = LONG_SIDE / max(width, height)
            image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
            if orientation == 1:
                return _shrunk(image, len(data), (width, height))
            # Orientations 5-8 turn the picture a quarter: its upright size is the other way.
            upright_size = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
            return _shrunk(ImageOps.exif_transpose(image), len(data), upright_size)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return as_is


def _shrunk(image: Image.Image, size_before: int, pixels_before: tuple[int, int]) -> Prepared:
    see_through = image.mode in _ALPHA_MODES or "transparency" in image.info
    image = image.convert("RGBA" if see_through else "RGB")
    image.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if see_through:
        image.save(buffer, format="PNG", optimize=False)
        content_type = "image/png"
    else:
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
        content_type = "image/jpeg"
    data = buffer.getvalue()
    note = (
        f"Sent as a {image.width}×{image.height} copy ({_megabytes(len(data))}) of your "
        f"{pixels_before[0]}×{pixels_before[1]} picture ({_megabytes(size_before)}); "
        "a digit needs no more."
    )
    return Prepared(data, content_type, note)


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
