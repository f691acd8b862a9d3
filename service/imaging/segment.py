"""Which marks of a drawing make up which digit: the geometric half of reading a number.

Pure functions of an ink mask (no model). The marks (8-connected components, components.py) are
sorted into three kinds by their size against the height of the drawing's digits:
- specks, too small to be part of a digit: dropped;
- fragments, small or much shorter than the digits (a 5's flag drawn apart, a 7's bar, a 9's
  dot-like end, a broken-off piece of stroke): joined to the nearest stroke when close to one,
  dropped otherwise (a full stop, a dash, a stray dot);
- strokes, which are joined into one blob when they stand over one another (a 4 drawn in two
  strokes, a 7's crossbar, a broken 1): two digits of a number stand side by side, the parts of
  one digit overlap along the line.
Blobs come out left to right. A blob much wider than tall may hold touching digits: cuts.py offers
where to split it, and the classifier decides (service/inference/reading.py).

`several_digits` is the geometric half of /predict's question, "more than one digit here?": the
images it flags are then read as a number (service/inference/runtime.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from service.imaging.components import Components, Grid, label, pool
from service.imaging.normalise import Extent, Ink, ink_extent, normalise_ink

# Sizes relative to the height of the drawing's digits (the median height of its large marks).
SPECK_AREA = 0.006  # × height²: a dot this small is dirt or a full stop, never a digit's part
FRAGMENT_SIZE = 0.3  # longer side under this: part of a digit, or nothing on its own
FRAGMENT_REACH = 0.25  # a fragment this close to a stroke belongs to it
STACKED = 0.5  # strokes overlapping along the line by this share of the narrower one: one digit
SHORT = 0.5  # a mark less tall than this × the digits' height is part of a digit, not a digit
# A blob wider than this × its height may hold several digits, for /predict's check: it is then
# read as /read reads it (a single digit is at most about as wide as tall; two touching digits are
# half as wide again). Lower finds more touching pairs and sends more single digits through the
# reader: on MNIST training pairs and drawn digits, 1.3 → 51 % of pairs, 1.2 % of digits read;
# 1.2 → 58 %, 2.2 %; 1.1 → 67 %, 6.4 % (and a few more letters called several digits).
SEVERAL_WIDE = 1.2
DIGIT_HEIGHT_SHARE = 0.45  # a blob shorter than this × the digits' height is no digit of its own


@dataclass(frozen=True)
class Marks:
    """The blobs of a drawing: marks grouped into digits (or runs of touching digits)."""

    grid: Grid
    components: Components
    blob_of: np.ndarray  # for each component, its blob (−1: dropped)
    blobs: int  # blob 0 is the leftmost
    digit_height: float  # in cells


def find_marks(mask: np.ndarray, grid: Grid | None = None) -> Marks:
    """The blobs of an ink mask (bool, at least one ink pixel), left to right (`grid`: the mask
    already pooled)."""
    grid = grid or pool(mask)
    components = label(grid.cells)
    height, width = components.height, components.width
    # The digits' height: the median height of the marks at least half as tall as the tallest
    # (a 5's flag or a full stop does not pull it down; digits of different sizes do not matter).
    digit_height = float(np.median(height[height >= 0.5 * height.max()]))
    size = np.maximum(height, width)
    speck = components.area < max(1.0, SPECK_AREA * digit_height**2)
    # Small marks, and marks much shorter than the digits (a 5's flag drawn apart, a 7's bar).
    fragment = ~speck & ((size < FRAGMENT_SIZE * digit_height) | (height < SHORT * digit_height))
    stroke = ~speck & ~fragment
    if not stroke.any():  # nothing but small marks: the largest is the drawing
        stroke = height == height.max()
        fragment &= ~stroke
    parent = np.arange(components.count)
    parent[speck] = -1
    strokes = np.flatnonzero(stroke)
    _join_stacked(parent, components, strokes)
    _attach_fragments(parent, components, np.flatnonzero(fragment), strokes, digit_height)
    blob_of = _renumber_left_to_right(parent, components, digit_height)
    return Marks(grid, components, blob_of, int(blob_of.max()) + 1, digit_height)


def _overlap(start: np.ndarray, end: np.ndarray, i: int, j: int) -> int:
    return int(min(end[i], end[j]) - max(start[i], start[j]))


def _root(parent: np.ndarray, node: int) -> int:
    while parent[node] != node:
        node = int(parent[node])
    return node


def _join_stacked(parent: np.ndarray, components: Components, strokes: np.ndarray) -> None:
    """Strokes that overlap along the line by STACKED of the narrower one are one digit's."""
    left, right, width = components.left, components.right, components.width
    for index, i in enumerate(strokes):
        for j in strokes[index + 1 :]:
            if _overlap(left, right, i, j) >= STACKED * min(width[i], width[j]):
                a, b = _root(parent, i), _root(parent, j)
                parent[max(a, b)] = min(a, b)


def _gap(components: Components, i: int, j: int) -> float:
    """Distance between two components' boxes, in cells (0 when they overlap)."""
    dx = max(
        0,
        max(components.left[i], components.left[j]) - min(components.right[i], components.right[j]),
    )
    dy = max(
        0,
        max(components.top[i], components.top[j]) - min(components.bottom[i], components.bottom[j]),
    )
    return float(np.hypot(dx, dy))


def _attach_fragments(
    parent: np.ndarray,
    components: Components,
    fragments: np.ndarray,
    strokes: np.ndarray,
    digit_height: float,
) -> None:
    for i in fragments:
        gaps = [_gap(components, i, j) for j in strokes]
        nearest = int(np.argmin(gaps))
        if gaps[nearest] <= FRAGMENT_REACH * digit_height:
            parent[i] = _root(parent, strokes[nearest])
        else:
            parent[i] = -1


def _renumber_left_to_right(
    parent: np.ndarray, components: Components, digit_height: float
) -> np.ndarray:
    """Blob numbers 0, 1, ... from left to right (by the centre of each blob's box); a blob too
    small to be a digit on its own is dropped."""
    roots = np.array([_root(parent, i) if parent[i] >= 0 else -1 for i in range(len(parent))])
    blob_of = np.full(len(parent), -1)
    kept = []
    for root in np.unique(roots[roots >= 0]):
        members = roots == root
        top, bottom = components.top[members].min(), components.bottom[members].max()
        left, right = components.left[members].min(), components.right[members].max()
        if max(bottom - top, right - left) < DIGIT_HEIGHT_SHARE * digit_height:
            continue
        kept.append(((left + right) / 2, members))
    for number, (_, members) in enumerate(sorted(kept, key=lambda item: item[0])):
        blob_of[members] = number
    return blob_of


def blob_box(marks: Marks, blob: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of a blob, in cells."""
    members = marks.blob_of == blob
    c = marks.components
    return (
        int(c.top[members].min()),
        int(c.bottom[members].max()),
        int(c.left[members].min()),
        int(c.right[members].max()),
    )


def several_digits(mask: np.ndarray, extent: Extent | None = None) -> bool:
    """Whether an ink mask holds more than one digit: two blobs or more, or one much wider than
    tall (touching digits). Geometry only, no model: /predict runs it on every image."""
    marks = find_marks(mask, pool(mask, extent))
    if marks.blobs > 1:
        return True
    top, bottom, left, right = blob_box(marks, 0)
    return right - left > SEVERAL_WIDE * (bottom - top)


def single_digit(ink: Ink, check_several: bool) -> tuple[npt.NDArray[np.float32], bool]:
    """/predict's preprocessing of an image's ink (normalise.find_ink): the 28×28 digit, exactly
    as normalise.normalise_digit makes it, and whether the image holds several digits (False
    unchecked)."""
    mask = ink.mask
    extent = ink_extent(mask)
    digit = normalise_ink(ink, mask, extent)
    if not check_several:
        return digit, False
    # The common case, one digit, costs one projection: ink in every column of its box, and the
    # box no wider than tall. Labelling the components is for the rest.
    top, bottom, left, right = extent
    if right - left <= bottom - top and mask[top:bottom, left:right].any(axis=0).all():
        return digit, False
    return digit, several_digits(mask, extent)
