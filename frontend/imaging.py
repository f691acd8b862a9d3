"""Pure image helpers for the page: canvas pixels to the PNG the API reads, and back for display.

Kept apart from the page (and from `streamlit_drawable_canvas`, which cannot be imported outside a
running Streamlit) so that the conversions are unit-tested on their own.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image, ImageOps

# A stroke pixel has to be at least this bright after compositing to count as ink; the canvas's
# anti-aliased stroke edges fade to near zero and would otherwise make a blank canvas look drawn.
INK_LEVEL = 32


def canvas_to_gray(rgba: np.ndarray) -> np.ndarray:
    """The canvas composited onto black: white-on-black uint8, MNIST's polarity.

    The canvas returns its strokes over a transparent background, so the alpha channel decides
    how much of each stroke pixel shows; colour alone would turn transparent black into ink.
    """
    if rgba.ndim != 3 or rgba.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 or HxWx4 image, got shape {rgba.shape}")
    pixels = rgba.astype(np.float32)
    # ITU-R 601 luma: the same weights PIL uses for mode "L".
    luma = pixels[..., 0] * 0.299 + pixels[..., 1] * 0.587 + pixels[..., 2] * 0.114
    if rgba.shape[2] == 4:
        luma *= pixels[..., 3] / 255.0
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)


def is_blank(rgba: np.ndarray | None) -> bool:
    """True when nothing was drawn (or the canvas has not reported any pixels yet)."""
    return rgba is None or rgba.size == 0 or int(canvas_to_gray(rgba).max()) < INK_LEVEL


def canvas_to_png(rgba: np.ndarray) -> bytes:
    """The canvas as a grayscale PNG (white digit on black), the body POST /predict expects."""
    buffer = io.BytesIO()
    Image.fromarray(canvas_to_gray(rgba), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def fingerprint(data: bytes) -> str:
    """A short stable id for an image, so the page can tell an unchanged drawing from a new one."""
    return hashlib.sha256(data).hexdigest()[:16]


def enlarge(png: bytes, scale: int = 8) -> bytes:
    """The image scaled up by whole pixels (nearest neighbour), so a 28x28 input stays crisp."""
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        big = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    return buffer.getvalue()


def guess_content_type(data: bytes, fallback: str = "application/octet-stream") -> str:
    """The image type from its first bytes, for uploads whose browser-reported type is missing."""
    signatures = {
        b"\x89PNG\r\n\x1a\n": "image/png",
        b"\xff\xd8\xff": "image/jpeg",
        b"GIF87a": "image/gif",
        b"GIF89a": "image/gif",
        b"BM": "image/bmp",
    }
    for magic, kind in signatures.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):  # TIFF, little- or big-endian
        return "image/tiff"
    return fallback


def preview(data: bytes, size: int = 280) -> bytes | None:
    """A PNG thumbnail of an uploaded file to show beside its result, or None if it is no image.

    The service is the judge of what it can read; this only keeps an undecodable upload from
    breaking the page before the service has said why.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft(None, (size, size))  # a big JPEG decodes at a fraction of its size
            # Upright, as a phone photo's EXIF orientation says (and as the service reads it).
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((size, size))
            buffer = io.BytesIO()
            upright.convert("RGBA" if "A" in upright.getbands() else "RGB").save(
                buffer, format="PNG"
            )
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return buffer.getvalue()
