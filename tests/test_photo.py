"""Photos of paper: what is taken for a photo, EXIF orientation, ruled lines and shading removed."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from devtools.drawn_digits import encode
from service.imaging.decode import decode_image
from service.imaging.normalise import normalise_digit
from service.imaging.photo import clean_photo, looks_like_photo

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


def test_exif_orientation_is_honoured() -> None:
    upright = Image.fromarray(_seven()[:, :200])  # 300 tall, 200 wide
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a phone stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    assert decode_image(buffer.getvalue(), LIMIT).shape == (300, 200)
    assert decode_image(encode(stored, "JPEG"), LIMIT).shape == (200, 300)  # no tag: as stored
