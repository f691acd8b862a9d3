"""The libpng fast path gives exactly Pillow's pixels, and leaves every other PNG to Pillow."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from service.png_decoder import decode_plain_png
from tests.drawn_digits import encode

LIMIT = 4096 * 4096
CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


def noise(mode: str, width: int = 37, height: int = 23) -> Image.Image:
    """Random pixels in every channel: any decoding slip shows."""
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, CHANNELS[mode]), np.uint8)
    return Image.fromarray(pixels.squeeze(axis=2) if mode == "L" else pixels, mode)


@pytest.mark.parametrize("mode", list(CHANNELS))
@pytest.mark.parametrize("compress_level", [0, 6, 9])
def test_plain_pngs_decode_to_pillows_pixels(mode: str, compress_level: int) -> None:
    data = encode(noise(mode), compress_level=compress_level)
    image = decode_plain_png(data, LIMIT)
    assert image is not None and image.mode == mode and image.size == (37, 23)
    np.testing.assert_array_equal(np.asarray(image), np.asarray(Image.open(io.BytesIO(data))))


@pytest.mark.parametrize(
    ("why", "data"),
    [
        ("16-bit", encode(Image.fromarray(np.full((8, 8), 4000, np.uint16)))),
        ("palette", encode(noise("RGB").convert("P"))),
        ("1-bit", encode(noise("L").convert("1"))),
        ("tRNS transparent colour", encode(noise("RGB"), transparency=(0, 0, 0))),
        ("interlaced", None),  # built below: Pillow cannot write Adam7
        ("truncated", encode(noise("RGBA"))[:200]),
        ("not a PNG", encode(noise("RGB"), "BMP")),
        ("empty", b""),
    ],
)
def test_everything_else_is_left_to_pillow(why: str, data: bytes | None) -> None:
    if data is None:
        plain = bytearray(encode(noise("L")))
        plain[28] = 1  # IHDR's interlace method: Adam7
        data = bytes(plain)
    assert decode_plain_png(data, LIMIT) is None, why


def test_images_over_the_pixel_limit_are_left_to_pillow_to_refuse() -> None:
    data = encode(noise("RGBA", 100, 100))
    assert decode_plain_png(data, 100 * 100) is not None
    assert decode_plain_png(data, 100 * 100 - 1) is None
