"""The libspng fast path gives exactly Pillow's pixels, leaves every other PNG to Pillow, and does
not leak on damaged files."""

from __future__ import annotations

import io
import os
import zlib

import numpy as np
import pytest
from PIL import Image

from devtools.drawn_digits import encode
from devtools.servers import rss_bytes
from service.imaging.decode import decode_image
from service.imaging.png_fast import decode_plain_png

LIMIT = 4096 * 4096
CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


def noise(mode: str, width: int = 37, height: int = 23) -> Image.Image:
    """Random pixels in every channel: any decoding slip shows."""
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, CHANNELS[mode]), np.uint8)
    return Image.fromarray(pixels.squeeze(axis=2) if mode == "L" else pixels, mode)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize("compress_level", [0, 6, 9])
def test_plain_pngs_decode_to_pillows_pixels(mode: str, compress_level: int) -> None:
    data = encode(noise(mode), compress_level=compress_level)
    pixels = decode_plain_png(data, LIMIT)
    assert pixels is not None
    np.testing.assert_array_equal(pixels, np.asarray(Image.open(io.BytesIO(data))))


def test_a_gamma_chunk_changes_nothing_as_in_pillow() -> None:
    # Pillow ignores gAMA; a decoder that applied it would read other pixels than Pillow does.
    data = encode(noise("RGBA"))
    gamma = b"gAMA" + (100_000).to_bytes(4, "big")  # gamma 1.0: far from the usual 1/2.2
    chunk = (4).to_bytes(4, "big") + gamma + zlib.crc32(gamma).to_bytes(4, "big")
    data = data[:33] + chunk + data[33:]  # right after IHDR
    pixels = decode_plain_png(data, LIMIT)
    assert pixels is not None
    np.testing.assert_array_equal(pixels, np.asarray(noise("RGBA")))


@pytest.mark.parametrize(
    ("why", "data"),
    [
        ("16-bit", encode(Image.fromarray(np.full((8, 8), 4000, np.uint16)))),
        ("gray + alpha", encode(noise("LA"))),  # libspng cannot decode it to its own format
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


def canvas(under_transparent: int, stroke: int = 255) -> np.ndarray:
    """A drawing canvas: strokes of colour `stroke` with soft edges; the transparent pixels hold
    RGB `under_transparent` (browsers store 0, other tools 255; -1: random)."""
    rng = np.random.default_rng(3)
    alpha = np.where(rng.random((60, 50)) < 0.7, 0, rng.integers(1, 256, (60, 50))).astype(np.uint8)
    rgba = np.empty((60, 50, 4), np.uint8)
    rgba[..., :3] = stroke
    if under_transparent < 0:
        hidden = rng.integers(0, 256, (60, 50, 3))
    else:
        hidden = np.full((60, 50, 3), under_transparent)
    rgba[alpha == 0, :3] = hidden[alpha == 0]
    rgba[..., 3] = alpha
    return rgba


@pytest.mark.parametrize("under_transparent", [0, 255, -1])
@pytest.mark.parametrize("stroke", [255, 254, 0])
def test_canvases_read_as_pillow_composites_them(under_transparent: int, stroke: int) -> None:
    # White strokes take a numpy shortcut (decode._white_strokes): the same pixels as Pillow's
    # compositing gives the same canvas as a TIFF, which only Pillow decodes.
    rgba = canvas(under_transparent, stroke)
    from_png = decode_image(encode(rgba), LIMIT)
    np.testing.assert_array_equal(from_png, decode_image(encode(rgba, "TIFF"), LIMIT))
    if stroke == 255:
        np.testing.assert_array_equal(from_png, rgba[..., 3])


def test_images_over_the_pixel_limit_are_left_to_pillow_to_refuse() -> None:
    data = encode(noise("RGBA", 100, 100))
    assert decode_plain_png(data, 100 * 100) is not None
    assert decode_plain_png(data, 100 * 100 - 1) is None


def damaged(png: bytes) -> bytes:
    """The same PNG with scrambled compressed data under a correct CRC: only the inflate fails."""
    data = bytearray(png)
    start = data.index(b"IDAT") + 4
    end = start + int.from_bytes(data[start - 8 : start - 4], "big")
    for index in range(start + 4, end - 4, 7):
        data[index] ^= 0x5A
    data[end : end + 4] = zlib.crc32(bytes(data[start - 4 : end])).to_bytes(4, "big")
    return bytes(data)


def test_damaged_pngs_do_not_leak_memory() -> None:
    # imagecodecs' libpng decoder leaked ~11 KB on each such file (33 MB here): a client could
    # grow the server without bound by repeating one bad request.
    png = encode(noise("RGBA", 280, 280))
    bad = [png[: len(png) // 2], damaged(png)]
    for data in bad:
        assert decode_plain_png(data, LIMIT) is None
    for _ in range(200):  # warm up the allocator
        decode_plain_png(bad[0], LIMIT)
    before = rss_bytes(os.getpid())
    for index in range(3000):
        decode_plain_png(bad[index % 2], LIMIT)
    assert rss_bytes(os.getpid()) - before < 5 * 1024 * 1024
