"""The pure segmentation functions behind POST /read: components, blobs, cuts, candidate pieces."""

from __future__ import annotations

import io
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from devtools.numbers import compose, mnist_source
from service.imaging.components import label
from service.imaging.cuts import candidate_cuts
from service.imaging.errors import NoDigitError, TooManyPiecesError
from service.imaging.normalise import find_ink, normalise_digit
from service.imaging.pieces import number_pieces
from service.imaging.segment import find_marks, several_digits

Strokes = list[list[tuple[float, float]]]


def drawing(*digits: tuple[float, Strokes], height: int = 120, pen: int = 9) -> np.ndarray:
    """White strokes on black: each digit's strokes in a unit box, placed at x = its offset."""
    width = int(max(x for x, _ in digits) * height + 2 * height)
    image = Image.new("L", (width, 2 * height), 0)
    pencil = ImageDraw.Draw(image)
    for left, strokes in digits:
        for stroke in strokes:
            points = [
                (left * height + x * height * 0.7, height / 2 + y * height) for x, y in stroke
            ]
            pencil.line(points, fill=255, width=pen, joint="curve")
    return np.asarray(image)


ONE: Strokes = [[(0.5, 0.0), (0.45, 1.0)]]
SEVEN: Strokes = [[(0.0, 0.0), (1.0, 0.0), (0.35, 1.0)]]
ZERO: Strokes = [
    [(0.5 + 0.45 * np.cos(a), 0.5 + 0.5 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 40)]
]
FIVE_APART: Strokes = [  # the flag lifted off the stem, as many people write it
    [(0.15, 0.05), (0.1, 0.45), (0.6, 0.4), (0.9, 0.7), (0.55, 1.0), (0.05, 0.9)],
    [(0.3, 0.0), (0.95, -0.02)],
]
FOUR_TWO_STROKES: Strokes = [[(0.55, 0.0), (0.0, 0.6), (0.95, 0.6)], [(0.72, 0.3), (0.72, 1.0)]]
BROKEN_ONE: Strokes = [[(0.5, 0.0), (0.48, 0.45)], [(0.48, 0.55), (0.45, 1.0)]]
NINE_WITH_DOT: Strokes = [  # the pen stopped short: the stem's end is a dot below it
    [(0.5 + 0.4 * np.cos(a), 0.3 + 0.3 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 40)],
    [(0.9, 0.3), (0.85, 0.8)],
    [(0.83, 0.95), (0.83, 0.96)],
]


def flood_fill_count(mask: np.ndarray) -> int:
    """8-connected components the slow, obvious way: the reference for `label`."""
    seen = np.zeros_like(mask)
    count = 0
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        count += 1
        queue = deque([start])
        seen[start] = True
        while queue:
            y, x = queue.popleft()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = y + dy, x + dx
                    inside = 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1]
                    if inside and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        queue.append((ny, nx))
    return count


@pytest.mark.parametrize("seed", range(40))
def test_components_match_a_flood_fill(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 40)))) < rng.uniform(0.1, 0.7)
    components = label(mask)
    assert components.count == flood_fill_count(mask)
    assert (components.labels[~mask] == 0).all() and (components.labels[mask] > 0).all()
    for index in range(components.count):
        rows, cols = np.nonzero(components.labels == index + 1)
        assert components.area[index] == len(rows)
        assert (components.top[index], components.bottom[index]) == (rows.min(), rows.max() + 1)
        assert (components.left[index], components.right[index]) == (cols.min(), cols.max() + 1)
        # One component, not several glued by the labelling: neighbours of its cells share it.
        assert flood_fill_count(components.labels == index + 1) == 1


@pytest.mark.parametrize(
    "strokes",
    [FIVE_APART, FOUR_TWO_STROKES, BROKEN_ONE, NINE_WITH_DOT, ZERO],
    ids=["5 with its flag apart", "4 in two strokes", "broken 1", "9 with a dot-like end", "0"],
)
def test_the_pieces_of_one_digit_make_one_blob(strokes: Strokes) -> None:
    mask = find_ink(drawing((0, strokes))).mask
    assert find_marks(mask).blobs == 1
    assert not several_digits(mask)


def test_specks_are_dropped_and_digits_come_left_to_right() -> None:
    gray = drawing((0, SEVEN), (1.2, ONE), (2.4, ZERO))
    gray = gray.copy()
    gray[5:8, -6:-3] = 255  # a speck in a corner
    marks = find_marks(find_ink(gray).mask)
    assert marks.blobs == 3
    assert several_digits(find_ink(gray).mask)
    lefts = [marks.components.left[marks.blob_of == b].min() for b in range(3)]
    assert lefts == sorted(lefts)


def test_a_slanted_line_of_digits_of_different_sizes_reads_left_to_right() -> None:
    image = Image.new("L", (700, 400), 0)
    pencil = ImageDraw.Draw(image)
    for index, (size, rise) in enumerate([(120, 0), (70, 60), (140, 110), (90, 170)]):
        left, bottom = 40 + index * 160, 360 - rise
        pencil.line([(left + 20, bottom - size), (left + 10, bottom)], fill=255, width=9)
    marks = find_marks(find_ink(np.asarray(image)).mask)
    assert marks.blobs == 4
    centres = [marks.components.left[marks.blob_of == b].mean() for b in range(marks.blobs)]
    assert centres == sorted(centres)


def test_touching_digits_are_one_blob_with_a_cheap_cut_where_they_meet() -> None:
    # A 7 whose bar runs into a 0: one component; a cut through the bar's end and the 0's side
    # parts them where they meet (about two thirds of the way across).
    gray = drawing((0, SEVEN), (0.6, ZERO))
    marks = find_marks(find_ink(gray).mask)
    assert marks.blobs == 1
    cells = marks.components.labels > 0
    cuts = candidate_cuts(cells, float(cells.shape[0]))
    width = cells.shape[1]
    assert any(c.cost <= 2.0 and 0.6 < c.columns.mean() / width < 0.75 for c in cuts), cuts


def test_digits_that_almost_touch_stay_apart() -> None:
    # The 0 a few pixels right of the 7's bar: a grid as coarse as 48 cells over the ink closed
    # that gap and made one blob of them.
    marks = find_marks(find_ink(drawing((0, SEVEN), (0.66, ZERO))).mask)
    assert marks.blobs == 2


def test_each_piece_is_normalised_as_predict_normalises_it_alone() -> None:
    """With gaps, the piece chosen for each digit equals /predict's normalisation of an image of
    that digit alone, and its box is where the digit was drawn."""
    source = mnist_source(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")
    number = compose(source, [0, 1, 2], "gaps", "rgb-white-on-black", np.random.default_rng(3))
    gray = np.asarray(Image.open(io.BytesIO(number.png)).convert("L"))
    pieces = number_pieces(find_ink(gray), 32, 256)
    for box in number.boxes:
        alone = np.zeros_like(gray)
        window = (slice(box.y, box.y + box.height), slice(box.x, box.x + box.width))
        alone[window] = gray[window]
        matching = [
            i
            for i, c in enumerate(pieces.candidates)
            if abs(c.box.x - box.x) <= 3 and abs(c.box.width - box.width) <= 6
        ]
        assert matching, f"no piece at {box}"
        best = min(matching, key=lambda i: np.abs(pieces.digits[i] - normalise_digit(alone)).max())
        np.testing.assert_allclose(pieces.digits[best], normalise_digit(alone), atol=0.02)


def test_blank_images_and_too_many_marks_are_refused() -> None:
    with pytest.raises(NoDigitError):
        number_pieces(find_ink(np.zeros((50, 200), np.uint8)), 32, 256)
    many = Image.new("L", (40 * 40, 100), 0)
    pencil = ImageDraw.Draw(many)
    for index in range(40):
        pencil.line([(index * 40 + 20, 20), (index * 40 + 18, 80)], fill=255, width=5)
    with pytest.raises(TooManyPiecesError, match="40 separate marks, over the limit of 32"):
        number_pieces(find_ink(np.asarray(many)), 32, 256)
