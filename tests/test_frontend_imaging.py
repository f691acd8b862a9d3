"""The UI's pure image helpers: canvas RGBA to the PNG the API reads, blank checks, enlargement."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from devtools.photos import STORED, phone_photo
from frontend import imaging, upload_prep

SERVICE_BODY_LIMIT = 5 * 1024 * 1024  # the service's default MAX_BODY_BYTES
STREAMLIT_CONFIG = Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml"

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


# Every format the service reads, and the content type the page sends it as.
FORMATS = [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"),
           ("BMP", "image/bmp"), ("WEBP", "image/webp"), ("TIFF", "image/tiff")]  # fmt: skip


@pytest.mark.parametrize(("kind", "expected"), FORMATS)
def test_guess_content_type(kind: str, expected: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format=kind)
    assert imaging.guess_content_type(buffer.getvalue()) == expected
    assert imaging.guess_content_type(b"not an image") == "application/octet-stream"


def test_big_endian_tiff_is_a_tiff() -> None:
    assert imaging.guess_content_type(b"MM\x00*\x00\x00\x00\x08") == "image/tiff"


def test_preview_of_an_upload() -> None:
    buffer = io.BytesIO()
    Image.new("L", (1000, 500), 255).save(buffer, format="JPEG")
    thumbnail = imaging.preview(buffer.getvalue())
    assert thumbnail is not None
    with Image.open(io.BytesIO(thumbnail)) as image:
        assert image.size == (280, 140)
    assert imaging.preview(b"not an image") is None
    assert imaging.preview(buffer.getvalue()[:100]) is None  # truncated


def test_preview_of_a_phone_photo_is_upright() -> None:
    """Stored as the sensor saw it (landscape) with the EXIF tag that turns it to portrait."""
    jpeg = turned_photo((600, 800), orientation=6)
    thumbnail = imaging.preview(jpeg)
    assert thumbnail is not None
    with Image.open(io.BytesIO(thumbnail)) as image:
        assert image.size == (210, 280)
        assert dark_corner(image) == "top-left"


# --- what the page sends for an upload (upload_prep) -----------------------------------------


def turned_photo(
    upright_size: tuple[int, int], orientation: int, noise: float = 0.0, fmt: str = "JPEG"
) -> bytes:
    """A light picture with a dark block in its top-left corner, stored turned with an EXIF
    orientation tag (as a phone does), plus pixel noise to make the file as big as a photo."""
    width, height = upright_size
    pixels = np.full((height, width, 3), 220.0)
    pixels[: height // 4, : width // 4] = 30
    if noise:
        pixels += np.random.default_rng(0).normal(0, noise, pixels.shape)
    upright = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    stored = upright.transpose(STORED[orientation]) if orientation != 1 else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(
        buffer, format=fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {})
    )
    return buffer.getvalue()


def dark_corner(image: Image.Image) -> str:
    gray = np.asarray(image.convert("L"), np.float32)
    h, w = gray.shape
    corners = {
        "top-left": gray[: h // 8, : w // 8],
        "top-right": gray[: h // 8, -w // 8 :],
        "bottom-left": gray[-h // 8 :, : w // 8],
        "bottom-right": gray[-h // 8 :, -w // 8 :],
    }
    return min(corners, key=lambda name: float(corners[name].mean()))


@pytest.mark.parametrize(("kind", "content_type"), FORMATS)
def test_a_small_file_is_sent_as_it_is(kind: str, content_type: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(255 - canvas_to_gray_of(SEVEN)).save(buffer, format=kind)
    sent = upload_prep.prepare(buffer.getvalue())
    assert sent == upload_prep.Prepared(buffer.getvalue(), content_type)


def canvas_to_gray_of(strokes: list[list[tuple[float, float]]]) -> np.ndarray:
    return imaging.canvas_to_gray(canvas_with(strokes))


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_a_12_megapixel_photo_is_sent_upright_and_shrunk(orientation: int) -> None:
    upright_size = (3000, 4000) if orientation in (6, 8) else (4000, 3000)
    jpeg = turned_photo(upright_size, orientation, noise=12)
    assert len(jpeg) > SERVICE_BODY_LIMIT  # as it is, the service would refuse it
    sent = upload_prep.prepare(jpeg)
    assert sent.content_type == "image/jpeg"
    assert len(sent.data) < SERVICE_BODY_LIMIT / 4
    with Image.open(io.BytesIO(sent.data)) as image:
        assert max(image.size) == upload_prep.LONG_SIDE
        assert image.size[0] * upright_size[1] == image.size[1] * upright_size[0]  # its shape
        assert image.getexif().get(0x0112, 1) == 1  # turned already: no tag to turn it again
        assert dark_corner(image) == "top-left"
    assert sent.note is not None
    assert f"{upright_size[0]}×{upright_size[1]} picture" in sent.note


def test_a_picture_over_the_pixel_limit_is_shrunk_however_small_its_file() -> None:
    buffer = io.BytesIO()
    Image.new("L", (5000, 4000), 255).save(buffer, format="PNG")  # 20 MP of white: a few KB
    assert len(buffer.getvalue()) < upload_prep.SEND_AS_IS_BYTES
    sent = upload_prep.prepare(buffer.getvalue())
    with Image.open(io.BytesIO(sent.data)) as image:
        assert image.size == (2000, 1600)


def test_transparency_survives_the_shrinking() -> None:
    """The service reads transparent as background, which JPEG cannot say: a PNG is sent."""
    rgba = np.zeros((3000, 4000, 4), np.uint8)
    rgba[..., :3] = np.random.default_rng(1).integers(0, 256, (3000, 4000, 3))
    rgba[1000:2000, 1500:2500, 3] = 255  # visible only in the middle
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG", compress_level=1)
    sent = upload_prep.prepare(buffer.getvalue())
    assert sent.content_type == "image/png"
    with Image.open(io.BytesIO(sent.data)) as image:
        assert image.mode == "RGBA"
        alpha = np.asarray(image.getchannel("A"))
    assert alpha[0, 0] == 0 and alpha[image.height // 2, image.width // 2] == 255


def test_what_the_page_cannot_open_goes_as_it_is() -> None:
    """The service says what is wrong with it, in words a person can act on."""
    for data in (b"shopping: milk, eggs", turned_photo((4000, 3000), 1, noise=12)[:3_000_000]):
        sent = upload_prep.prepare(data)
        assert sent.data == data and sent.note is None


def test_the_uploader_takes_a_phone_photo_that_the_api_alone_would_refuse() -> None:
    """Streamlit refuses files over maxUploadSize before the page sees them: it must take a 12 MP
    phone photo, which the page then shrinks to well within the API's body limit."""
    config = tomllib.loads(STREAMLIT_CONFIG.read_text())
    max_upload = config["server"]["maxUploadSize"] * 1024 * 1024
    digit = np.asarray(Image.fromarray(canvas_to_gray_of(SEVEN)).resize((28, 28)))
    photo = phone_photo(digit)
    assert SERVICE_BODY_LIMIT < len(photo) <= max_upload
    sent = upload_prep.prepare(photo)
    assert len(sent.data) < SERVICE_BODY_LIMIT / 4
