"""The UI's pure image helpers: canvas RGBA to the PNG the API reads, blank checks, enlargement."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from frontend import imaging

SIZE = 280


def canvas_with(strokes: list[list[tuple[float, float]]], width: int = 18) -> np.ndarray:
    """What the canvas component returns: white strokes on a transparent 280x280 RGBA image.

    Points are fractions of the canvas; shared with the client and page tests.
    """
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    for stroke in strokes:
        points = [(x * SIZE, y * SIZE) for x, y in stroke]
        pen.line(points, fill=(255, 255, 255, 255), width=width, joint="curve")
    return np.asarray(image).copy()


ONE = [[(0.5, 0.18), (0.5, 0.82)]]
SEVEN = [[(0.28, 0.22), (0.72, 0.22), (0.42, 0.82)]]


def test_alpha_decides_ink_not_colour() -> None:
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0, 0] = (255, 255, 255, 0)  # transparent white: the canvas background, not ink
    rgba[0, 1] = (255, 255, 255, 255)
    rgba[0, 2] = (255, 255, 255, 128)  # an anti-aliased stroke edge
    rgba[1, 0] = (255, 0, 0, 255)
    gray = imaging.canvas_to_gray(rgba)
    assert gray.dtype == np.uint8
    assert gray.shape == (2, 3)
    assert gray[0, 0] == 0
    assert gray[0, 1] == 255
    assert gray[0, 2] == 128
    assert gray[1, 0] == 76  # luma of pure red, as PIL's "L" conversion gives
    assert gray[1, 0] == Image.new("RGB", (1, 1), (255, 0, 0)).convert("L").getpixel((0, 0))


def test_rgb_without_alpha_is_accepted() -> None:
    rgb = np.full((4, 4, 3), 200, np.uint8)
    assert (imaging.canvas_to_gray(rgb) == 200).all()


@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 2), (28, 28, 5)])
def test_other_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="expected"):
        imaging.canvas_to_gray(np.zeros(shape, np.uint8))


def test_canvas_png_is_white_digit_on_black() -> None:
    rgba = canvas_with(ONE)
    png = imaging.canvas_to_png(rgba)
    assert png.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "L"
        assert image.size == (SIZE, SIZE)
        pixels = np.asarray(image)
    assert pixels[0, 0] == 0  # background
    assert pixels[SIZE // 2, SIZE // 2] == 255  # on the stroke
    assert (pixels == imaging.canvas_to_gray(rgba)).all()


def test_blank_canvas() -> None:
    assert imaging.is_blank(None)
    assert imaging.is_blank(np.zeros((0, 0, 4), np.uint8))
    assert imaging.is_blank(np.zeros((SIZE, SIZE, 4), np.uint8))
    faint = np.zeros((SIZE, SIZE, 4), np.uint8)
    faint[100:110, 100:110] = (255, 255, 255, 10)  # a stray anti-aliasing speck
    assert imaging.is_blank(faint)
    assert not imaging.is_blank(canvas_with(ONE))


def test_enlarge_keeps_pixels_crisp() -> None:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small, mode="L").save(buffer, format="PNG")
    with Image.open(io.BytesIO(imaging.enlarge(buffer.getvalue(), 7))) as image:
        big = np.asarray(image)
    assert big.shape == (196, 196)
    # Nearest neighbour: every 7x7 block is one flat copy of its source pixel, no blending.
    assert (big == np.repeat(np.repeat(small, 7, axis=0), 7, axis=1)).all()


def test_fingerprint_tells_drawings_apart() -> None:
    one = imaging.canvas_to_png(canvas_with(ONE))
    seven = imaging.canvas_to_png(canvas_with(SEVEN))
    assert imaging.fingerprint(one) == imaging.fingerprint(imaging.canvas_to_png(canvas_with(ONE)))
    assert imaging.fingerprint(one) != imaging.fingerprint(seven)


@pytest.mark.parametrize(("kind", "expected"), [("PNG", "image/png"), ("JPEG", "image/jpeg"),
                                               ("GIF", "image/gif"), ("BMP", "image/bmp"),
                                               ("WEBP", "image/webp")])  # fmt: skip
def test_guess_content_type(kind: str, expected: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format=kind)
    assert imaging.guess_content_type(buffer.getvalue()) == expected
    assert imaging.guess_content_type(b"not an image") == "application/octet-stream"


def test_preview_of_an_upload() -> None:
    buffer = io.BytesIO()
    Image.new("L", (1000, 500), 255).save(buffer, format="JPEG")
    thumbnail = imaging.preview(buffer.getvalue())
    assert thumbnail is not None
    with Image.open(io.BytesIO(thumbnail)) as image:
        assert image.size == (280, 140)
    assert imaging.preview(b"not an image") is None
    assert imaging.preview(buffer.getvalue()[:100]) is None  # truncated
