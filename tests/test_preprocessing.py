"""MNIST-style normalisation: geometry, polarity, alpha, formats, limits, and a property test."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from devtools.drawn_digits import encode
from service.imaging.decode import decode_image
from service.imaging.errors import (
    ImageDecodeError,
    ImageTooLargeError,
    InputError,
    NoDigitError,
    PixelsError,
)
from service.imaging.normalise import (
    normalise_digit,
    preprocess_image,
    preprocess_pixels,
    to_png,
)

LIMIT = 4096 * 4096


def canvas_with_bar(top: int, left: int, height: int, width: int, size: int = 280) -> np.ndarray:
    gray = np.zeros((size, size), dtype=np.float32)
    gray[top : top + height, left : left + width] = 255
    return gray


def centre_of_mass(digit: np.ndarray) -> tuple[float, float]:
    total = digit.sum()
    return (
        float(digit.sum(axis=1) @ np.arange(28)) / total,
        float(digit.sum(axis=0) @ np.arange(28)) / total,
    )


def bbox(digit: np.ndarray, level: float = 0.05) -> tuple[int, int]:
    rows = np.flatnonzero(digit.max(axis=1) > level)
    cols = np.flatnonzero(digit.max(axis=0) > level)
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


@pytest.mark.parametrize(("top", "left"), [(5, 5), (200, 10), (100, 230), (260, 260)])
def test_digit_anywhere_on_the_canvas_lands_centred_by_mass(top: int, left: int) -> None:
    digit = normalise_digit(canvas_with_bar(top, left, 15, 15))
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    cy, cx = centre_of_mass(digit)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_longer_side_becomes_20_pixels_keeping_the_aspect_ratio() -> None:
    tall = normalise_digit(canvas_with_bar(20, 100, 200, 50))
    assert bbox(tall)[0] in (20, 21)  # Lanczos may add a faint pixel at each edge
    assert 4 <= bbox(tall)[1] <= 7  # 50/200 of 20 px
    wide = normalise_digit(canvas_with_bar(100, 20, 40, 240))
    assert bbox(wide)[1] in (20, 21) and 3 <= bbox(wide)[0] <= 6


def test_small_and_large_drawings_come_out_the_same_size() -> None:
    small = normalise_digit(canvas_with_bar(10, 10, 30, 12))
    large = normalise_digit(canvas_with_bar(10, 10, 250, 100))
    assert bbox(small)[0] == bbox(large)[0]


def test_dark_ink_on_light_paper_is_inverted_to_mnists_white_on_black() -> None:
    paper = 255 - canvas_with_bar(50, 50, 100, 30)
    digit = normalise_digit(paper)
    assert digit[0, 0] == 0 and digit.max() == pytest.approx(1.0)
    np.testing.assert_allclose(digit, normalise_digit(canvas_with_bar(50, 50, 100, 30)), atol=1e-6)


def test_grey_paper_and_faint_pencil_are_stretched_to_full_contrast() -> None:
    gray = np.full((100, 100), 200, dtype=np.float32)
    gray[20:80, 45:55] = 120  # grey pencil on grey paper
    digit = normalise_digit(gray)
    assert digit.max() == pytest.approx(1.0) and digit[0, 0] == 0


def test_transparent_canvas_with_white_strokes_reads_as_white_on_black() -> None:
    alpha = Image.fromarray(canvas_with_bar(40, 120, 200, 30).astype(np.uint8))
    white = Image.new("L", alpha.size, 255)
    rgba = Image.merge("RGBA", (white, white, white, alpha))
    digit = preprocess_image(encode(rgba), LIMIT)
    assert digit.max() == pytest.approx(1.0) and digit[0, 0] == 0
    assert bbox(digit)[0] in (20, 21)


def test_transparent_sheet_with_black_ink_reads_the_same() -> None:
    alpha = Image.fromarray(canvas_with_bar(40, 120, 200, 30).astype(np.uint8))
    black = Image.new("L", alpha.size, 0)
    rgba = Image.merge("RGBA", (black, black, black, alpha))
    white = Image.new("L", alpha.size, 255)
    np.testing.assert_allclose(
        preprocess_image(encode(rgba), LIMIT),
        preprocess_image(encode(Image.merge("RGBA", (white,) * 3 + (alpha,))), LIMIT),
        atol=1e-6,
    )


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF"])
def test_every_common_format_decodes_to_the_same_digit(fmt: str) -> None:
    image = Image.fromarray(canvas_with_bar(40, 100, 180, 40).astype(np.uint8)).convert("RGB")
    lossy = {"quality": 90} if fmt in ("JPEG", "WEBP") else {}
    digit = preprocess_image(encode(image, fmt, **lossy), LIMIT)
    reference = preprocess_image(encode(image), LIMIT)
    assert np.abs(digit - reference).mean() < 0.02


@pytest.mark.parametrize(
    "mode", ["1", "L", "LA", "P", "P-transparent", "RGB", "RGBA", "CMYK", "I", "I;16", "F"]
)
def test_every_pixel_mode_is_handled(mode: str) -> None:
    base = Image.fromarray(canvas_with_bar(40, 100, 180, 40).astype(np.uint8))
    save_args: dict[str, object] = {}
    if mode == "P-transparent":  # a palette PNG whose background colour is marked transparent
        image = base.convert("P")
        save_args["transparency"] = 0
    elif mode == "I;16":
        image = Image.fromarray(np.asarray(base).astype(np.uint16) * 257)
    elif mode == "F":
        image = Image.fromarray(np.asarray(base).astype(np.float32))
    else:
        image = base.convert(mode)
    fmt = "TIFF" if mode in ("CMYK", "F", "I") else "PNG"
    digit = preprocess_image(encode(image, fmt, **save_args), LIMIT)
    assert bbox(digit)[0] in (20, 21), mode


def test_animated_gif_uses_its_first_frame() -> None:
    first = Image.fromarray(canvas_with_bar(40, 100, 180, 40).astype(np.uint8))
    second = Image.fromarray(canvas_with_bar(100, 20, 40, 240).astype(np.uint8))
    data = encode(first, "GIF", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    np.testing.assert_allclose(
        preprocess_image(data, LIMIT), preprocess_image(encode(first), LIMIT)
    )


def test_blank_images_have_no_digit() -> None:
    for gray in (np.zeros((280, 280)), np.full((280, 280), 255.0), np.full((1, 1), 80.0)):
        with pytest.raises(NoDigitError, match="no digit found"):
            normalise_digit(gray.astype(np.float32))


def test_tiny_and_extreme_shapes_either_work_or_fail_cleanly() -> None:
    dot = np.zeros((3, 3), dtype=np.float32)
    dot[1, 1] = 255
    assert normalise_digit(dot).shape == (28, 28)
    strip = np.zeros((10, 10_000), dtype=np.float32)
    strip[2:8, 100:9000] = 255
    assert normalise_digit(strip).shape == (28, 28)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims the given size: a decompression bomb's calling card."""
    data = bytearray(encode(Image.new("L", (8, 8))))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)


@pytest.mark.parametrize(("width", "height"), [(5000, 5000), (100_000, 100_000)])
def test_declared_size_over_the_limit_is_refused_before_decoding(width: int, height: int) -> None:
    bomb = png_declaring(width, height)
    assert len(bomb) < 200
    with pytest.raises(ImageTooLargeError, match=r"pixels.*smaller image"):
        decode_image(bomb, LIMIT)


@pytest.mark.parametrize("data", [b"", b"hello", b"\x89PNG\r\n\x1a\n" + b"\0" * 50])
def test_bytes_that_are_not_an_image_raise_decode_error(data: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(data, LIMIT)


def test_truncated_png_raises_decode_error() -> None:
    data = encode(Image.fromarray(canvas_with_bar(40, 100, 180, 40).astype(np.uint8)))
    with pytest.raises(ImageDecodeError):
        decode_image(data[: len(data) // 2], LIMIT)


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        ([[1, 2], [3]], "rectangular"),
        ([["a"] * 28] * 28, "numbers"),
        ([1, 2, 3], "2-D"),
        ([[float("nan")] * 28] * 28, "finite"),
        ([[float("inf")] * 28] * 28, "finite"),
        ([[-1] * 28] * 28, "0-255"),
        ([[256] * 28] * 28, "0-255"),
        ([], "2-D"),
    ],
)
def test_bad_pixel_grids_say_what_is_wrong(pixels: object, message: str) -> None:
    with pytest.raises(PixelsError, match=message):
        preprocess_pixels(pixels)


def test_mnist_digits_pass_through_unchanged(mnist_test: tuple[np.ndarray, np.ndarray]) -> None:
    """MNIST's own digits are already normalised: the pipeline must be (nearly) the identity."""
    images, _ = mnist_test
    for image in images[:200]:
        digit = preprocess_pixels(image.tolist())
        assert np.abs(digit - image / 255).max() < 0.05


def test_input_png_round_trips() -> None:
    digit = normalise_digit(canvas_with_bar(40, 100, 180, 40))
    decoded = np.asarray(Image.open(io.BytesIO(to_png(digit))), dtype=np.float32) / 255
    assert decoded.shape == (28, 28)
    np.testing.assert_allclose(decoded, digit, atol=1 / 255)


ARRAYS = hnp.arrays(
    dtype=st.one_of(
        hnp.integer_dtypes(),
        hnp.unsigned_integer_dtypes(),
        hnp.floating_dtypes(),
        hnp.boolean_dtypes(),
        hnp.complex_number_dtypes(),
        st.just(np.dtype(object)),
    ),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=40),
)


@settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(ARRAYS)
def test_any_array_gives_a_28x28_digit_or_the_documented_error(array: np.ndarray) -> None:
    try:
        digit = preprocess_pixels(array)
    except InputError:
        return
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert np.isfinite(digit).all() and digit.min() >= 0 and digit.max() <= 1


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_digit_or_the_documented_error(data: bytes) -> None:
    try:
        digit = preprocess_image(data, LIMIT)
    except InputError:
        return
    assert digit.shape == (28, 28)
