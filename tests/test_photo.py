"""Photos of paper: what is taken for a photo, EXIF orientation, ruled lines and shading removed."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from devtools.drawn_digits import encode
from service.imaging.decode import decode_image
from service.imaging.errors import InputError
from service.imaging.normalise import normalise_digit
from service.imaging.photo import clean_photo, looks_like_photo
from tests.test_content_fuzz import flat_shapes

LIMIT = 1 << 24


def _seven(side: int = 300) -> np.ndarray:
    """A 7 in dark ink on white paper (uint8)."""
    image = np.full((side, side), 250, np.uint8)
    image[90:102, 90:210] = 30  # the bar
    for row in range(102, 230):
        column = 205 - (row - 102) // 2
        image[row, column - 6 : column + 6] = 30
    return image


def _sample(image: np.ndarray) -> tuple[np.ndarray, float]:
    sample = image[::2, ::2]
    return sample, float(np.median(sample))


def _assert_only_the_seven(ink: np.ndarray, top: int, left: int) -> None:
    """The cleaned ink is the 7 of `_seven` alone (rows 90-230, columns 90-211 of a sheet lying
    at `top`, `left`): no frame, desk or ruled line around it."""
    rows = np.flatnonzero((ink > 64).any(axis=1))
    cols = np.flatnonzero((ink > 64).any(axis=0))
    assert rows[0] >= top + 85 and rows[-1] <= top + 235
    assert cols[0] >= left + 85 and cols[-1] <= left + 215


def test_clean_pictures_are_not_photos_whatever_their_ink() -> None:
    dense = np.zeros((64, 64), np.uint8)
    dense[:, :40] = 255  # more ink than background, as in a bold binary digit
    for image in (_seven(), 255 - _seven(), dense):
        assert not looks_like_photo(*_sample(image))


def test_shaded_ruled_paper_is_cleaned_to_the_digit_alone() -> None:
    rng = np.random.default_rng(0)
    paper = _seven().astype(np.float32)
    paper[::40, :] = np.minimum(paper[::40, :], 150)  # ruled lines every 40 px
    paper[1::40, :] = np.minimum(paper[1::40, :], 150)
    paper *= np.linspace(0.6, 1.0, paper.shape[1])[None, :]  # light from one side
    photo = np.clip(paper + rng.normal(0, 4, paper.shape), 0, 255).astype(np.uint8)
    assert looks_like_photo(*_sample(photo))

    ink = clean_photo(photo, dark_ink=True)
    rows_with_ink = np.flatnonzero((ink > 64).any(axis=1))
    # The lines outside the digit are gone: the ink starts at the 7's bar and ends at its foot.
    assert rows_with_ink[0] >= 85 and rows_with_ink[-1] <= 235
    clean = normalise_digit(_seven())
    assert np.abs(normalise_digit(photo) - clean).mean() < 0.08


def test_a_stretch_of_line_beside_the_digit_is_no_ink() -> None:
    """A tilted stretch of margin line (too short to be found as a ruled line) and a dash of
    another, apart from the 7: the crop to the digit counted them (a 7 read as 2, a 0 as 6)."""
    rng = np.random.default_rng(0)
    paper = _seven().astype(np.float32)
    for row in range(120, 250):  # the margin, tilted: a column further right every 10 rows
        column = 40 + (row - 120) // 10
        paper[row, column : column + 4] = 120
    paper[60:64, 230:290] = 120  # a dash of a line, above and right of the 7
    paper *= np.linspace(0.6, 1.0, paper.shape[1])[None, :]
    photo = np.clip(paper + rng.normal(0, 4, paper.shape), 0, 255).astype(np.uint8)
    assert looks_like_photo(*_sample(photo))
    _assert_only_the_seven(clean_photo(photo, dark_ink=True), top=0, left=0)


def test_a_1_beside_the_digit_stays() -> None:
    """A 1 is a straight bar beside its neighbour too, but written with the same pen: a photo of
    "17" keeps both digits (for /read, and /predict's several-digits check)."""
    rng = np.random.default_rng(0)
    paper = _seven().astype(np.float32)
    paper[100:230, 30:42] = 30  # a 1 as wide as the 7's strokes, left of it
    paper *= np.linspace(0.6, 1.0, paper.shape[1])[None, :]
    photo = np.clip(paper + rng.normal(0, 4, paper.shape), 0, 255).astype(np.uint8)
    assert looks_like_photo(*_sample(photo))
    ink = clean_photo(photo, dark_ink=True)
    assert (ink[100:230, 30:42] > 64).mean() > 0.9


def test_a_margin_longer_than_the_digit_is_no_ink() -> None:
    """A stretch of margin drawn as thick as the pen, longer than the digit is tall and heavier
    than it: a 1 beside the digit would be about as tall as it, this is a line's remnant."""
    rng = np.random.default_rng(0)
    paper = _seven(side=400).astype(np.float32)
    paper[60:260, 30:42] = 30  # half the picture's height: too short to be found as a ruled line
    paper *= np.linspace(0.6, 1.0, paper.shape[1])[None, :]
    photo = np.clip(paper + rng.normal(0, 4, paper.shape), 0, 255).astype(np.uint8)
    assert looks_like_photo(*_sample(photo))
    _assert_only_the_seven(clean_photo(photo, dark_ink=True), top=0, left=0)


def test_a_digit_in_pencil_beside_a_dark_margin_stays() -> None:
    """The margin is darker and heavier than a digit written in pencil: the digit's strokes, not
    the margin, set how dark the pen is (else the whole digit is taken for shadow)."""
    rng = np.random.default_rng(0)
    paper = np.where(_seven(side=400) < 128, 150, 250).astype(np.float32)  # the 7 in pencil
    paper[60:260, 30:40] = 40
    paper *= np.linspace(0.6, 1.0, paper.shape[1])[None, :]
    photo = np.clip(paper + rng.normal(0, 4, paper.shape), 0, 255).astype(np.uint8)
    assert looks_like_photo(*_sample(photo))
    ink = clean_photo(photo, dark_ink=True)
    _assert_only_the_seven(ink, top=0, left=0)
    assert (ink[90:102, 90:210] > 64).mean() > 0.9  # the 7's bar is ink


def test_a_sheet_on_a_desk_is_cleaned_to_the_digit_alone() -> None:
    """The desk around a photographed sheet, and the sheet's edge, are no ink; a shadow across
    the paper, with the 7's foot in it, is not desk."""
    sheet = _seven().astype(np.float32)
    sheet[200:, :] *= 0.55  # a shadow across the sheet's foot, over the 7's stem
    photo = np.full((420, 460), 70.0, np.float32)  # a dark desk
    photo[60:360, 80:380] = sheet
    rng = np.random.default_rng(1)
    photo = np.clip(photo + rng.normal(0, 6, photo.shape), 0, 255).astype(np.uint8)
    assert looks_like_photo(*_sample(photo))

    ink = clean_photo(photo, dark_ink=False)  # the desk is most of the picture's border
    _assert_only_the_seven(ink, top=60, left=80)
    clean = normalise_digit(_seven())
    assert np.abs(normalise_digit(photo) - clean).mean() < 0.08


def test_a_shadow_as_dark_as_the_desk_reaching_into_the_sheet_is_not_desk() -> None:
    """A shadow from the sheet's edge as dark as the grey desk, over the 7's foot: it joins the
    desk in the picture, but a sheet is a convex quadrilateral, so what lies inside the sheet's
    outline is still paper (and the 7's foot in it still ink)."""
    sheet = _seven().astype(np.float32)
    sheet[170:, 150:] *= 0.5  # a shadow over the sheet's lower right corner, the 7's foot in it
    photo = np.full((420, 460), 125.0, np.float32)  # a grey desk, as dark as the shadow
    photo[60:360, 80:380] = sheet
    rng = np.random.default_rng(5)
    photo = np.clip(photo + rng.normal(0, 6, photo.shape), 0, 255).astype(np.uint8)
    assert looks_like_photo(*_sample(photo))
    ink = clean_photo(photo, dark_ink=True)
    _assert_only_the_seven(ink, top=60, left=80)
    assert (ink[60 + 210 : 60 + 228, 80 + 140 : 80 + 160] > 64).any()  # the foot is ink


def test_ruled_lines_of_a_small_sheet_on_a_desk_are_removed() -> None:
    """The sheet fills under half the picture's width, so its ruled lines cross the sheet but
    not the picture: they are looked for on the sheet."""
    sheet = _seven().astype(np.float32)
    for row in range(40, 300, 50):
        sheet[row : row + 3, :] = 150  # ruled lines, edge to edge of the sheet
    photo = np.full((520, 600), 70.0, np.float32)  # a dark desk
    photo[110:410, 150:450] = sheet
    rng = np.random.default_rng(3)
    photo = np.clip(photo + rng.normal(0, 6, photo.shape), 0, 255).astype(np.uint8)
    ink = clean_photo(photo, dark_ink=False)
    _assert_only_the_seven(ink, top=110, left=150)


def test_a_small_sheet_on_a_desk_is_cleaned_to_the_digit_alone() -> None:
    """A sheet that fills a seventh of the picture (photographed from further away): the desk
    around it is still found, and neither it nor the sheet's edge is ink."""
    photo = np.full((640, 640), 70.0, np.float32)  # a dark desk
    photo[200:440, 180:420] = _seven(side=240)
    rng = np.random.default_rng(4)
    photo = np.clip(photo + rng.normal(0, 6, photo.shape), 0, 255).astype(np.uint8)
    assert looks_like_photo(*_sample(photo))
    ink = clean_photo(photo, dark_ink=False)
    _assert_only_the_seven(ink, top=200, left=180)


def test_a_sheet_on_a_flat_desk_is_a_photo() -> None:
    """A desk with no grain (a dark surface the JPEG made flat) is a clean background; the
    sheet in front of it, filling its box and spread by its shading, is what makes it a photo."""
    sheet = _seven().astype(np.float32) * np.linspace(0.75, 1.0, 300)[None, :]
    photo = np.full((420, 460), 40, np.uint8)
    photo[60:360, 80:380] = np.clip(sheet, 0, 255).astype(np.uint8)
    assert looks_like_photo(*_sample(photo))
    assert np.abs(normalise_digit(photo) - normalise_digit(_seven())).mean() < 0.08


def test_a_small_shaded_sheet_on_a_flat_desk_is_a_photo() -> None:
    """A sheet filling a tenth of the picture, turned, with a shadow inside it that is as dark as
    the desk: its light side fills little of its own box until the shadow is filled in. The same
    outline drawn in one flat colour is strokes, not paper."""
    rows, cols = np.mgrid[0:600, 0:600]
    turned = (np.abs((rows - 300) * 0.99 + (cols - 300) * 0.14) < 100) & (
        np.abs((cols - 300) * 0.99 - (rows - 300) * 0.14) < 80
    )
    rng = np.random.default_rng(2)
    photo = np.full((600, 600), 120.0)  # a flat grey desk
    photo[turned] = 225 + rng.normal(0, 6, int(turned.sum()))  # paper is never flat
    shadow = turned & ((rows - 300) ** 2 + (cols - 290) ** 2 < 55**2)
    photo[shadow] = 118 + rng.normal(0, 4, int(shadow.sum()))
    photo[250:262, 270:330] = 30  # a stroke on the sheet
    photo = np.clip(photo, 0, 255).astype(np.uint8)
    assert looks_like_photo(*_sample(photo))
    drawn = np.where(turned & ~shadow, 225, 120).astype(np.uint8)
    assert not looks_like_photo(*_sample(drawn))


def test_a_stroke_that_runs_off_the_photo_stays_ink() -> None:
    """Dark, touching the border and meeting the paper at a sharp step, as a desk does: but it
    runs along the border only across its width."""
    rng = np.random.default_rng(3)
    paper = _seven()[:200].astype(np.float32)  # the 7's stem runs off the bottom edge
    paper *= np.linspace(0.7, 1.0, paper.shape[1])[None, :]
    photo = np.clip(paper + rng.normal(0, 6, paper.shape), 0, 255).astype(np.uint8)
    assert looks_like_photo(*_sample(photo))
    ink = clean_photo(photo, dark_ink=True)
    assert (ink[190:] > 64).any()  # the stem's foot
    assert (ink[95, 100:200] > 64).all()  # and the bar


def test_light_ink_on_a_dark_board_is_no_sheet_on_a_desk() -> None:
    """A board around light strokes is dark and meets them at sharp edges too, but it is what
    the digit is written on."""
    rng = np.random.default_rng(2)
    board = (255 - _seven()).astype(np.float32) * 0.8 + 20  # chalk on a dark board
    board *= np.linspace(0.7, 1.0, board.shape[1])[None, :]
    photo = np.clip(board + rng.normal(0, 6, board.shape), 0, 255).astype(np.uint8)
    assert looks_like_photo(*_sample(photo))
    assert np.abs(normalise_digit(photo) - normalise_digit(_seven())).mean() < 0.05


def test_exif_orientation_is_honoured() -> None:
    upright = Image.fromarray(_seven()[:, :200])  # 300 tall, 200 wide
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a phone stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    assert decode_image(buffer.getvalue(), LIMIT).shape == (300, 200)
    assert decode_image(encode(stored, "JPEG"), LIMIT).shape == (200, 300)  # no tag: as stored


def test_flat_colour_pictures_get_a_digit_or_a_clear_error() -> None:
    """Clip-art (tests/test_content_fuzz.py's flat shapes, in grey): a dark class of one flat
    grey has no Otsu split, and the desk finder raised on it (1 % of these pictures, 3 % of flat
    polygons alone), which /predict answered with a 500."""
    rng = np.random.default_rng(0)
    answered = 0
    for _ in range(300):
        try:
            digit = normalise_digit(np.asarray(flat_shapes(rng).convert("L")))
        except InputError:
            continue
        assert digit.shape == (28, 28)
        answered += 1
    assert answered > 200
