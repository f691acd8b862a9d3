"""A drawing of a number → every piece the classifier should score, each normalised as /predict does.

The blobs of segment.py are split at the cuts of cuts.py into primitives, numbered left to right
across the drawing. A candidate is a run of consecutive primitives of one blob (a whole blob, or
the part between two cuts, or a few parts together) that could be one digit. All candidates go to
the model as one batch; service/inference/reading.py then picks the runs that read best.

Each candidate's 28×28 input is MNIST's normalisation of its own ink (normalise.digit_from_crop,
with the drawing's background and contrast), the other pieces' ink blanked out. Its box is in the
pixels of the image as decoded (after EXIF orientation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.imaging.components import Grid, boxes
from service.imaging.cuts import candidate_cuts, piece_of_each_cell
from service.imaging.errors import TooManyPiecesError
from service.imaging.normalise import Digits, Ink, digit_from_crop
from service.imaging.segment import Marks, blob_box, find_marks

MAX_SPAN = 6  # a digit split by cuts into more primitives than this is not worth scoring
TRY_CUTS = 0.5  # blobs wider than this × their digit height are offered cuts
WIDER_THAN_USUAL = 1.25  # × the median blob width: wide for this writer
MAX_WIDTH = 2.0  # × digit height: no run of primitives wider than this is one digit


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Candidate:
    first: int  # primitives [first, last)
    last: int
    box: Box
    aspect: float  # width / the digit height around it
    tallness: float  # height / the digit height around it


@dataclass(frozen=True)
class NumberPieces:
    digits: Digits  # (candidates, 28, 28): one forward pass scores them all
    candidates: tuple[Candidate, ...]
    cut_cost: (
        np.ndarray
    )  # (primitives + 1,): the cut's cost where a primitive starts at a cut, else 0
    primitives: int
    blobs: int


def number_pieces(ink: Ink, max_pieces: int, max_candidates: int) -> NumberPieces:
    """Every candidate piece of a drawing's ink (normalise.find_ink: a blank image has none);
    TooManyPiecesError when it holds more than `max_pieces` blobs or offers more than
    `max_candidates` pieces to score."""
    mask = ink.mask
    marks = find_marks(mask)
    if marks.blobs > max_pieces:
        raise TooManyPiecesError(
            f"the image holds {marks.blobs} separate marks, over the limit of {max_pieces} "
            "digits; send at most that many digits in one image"
        )
    primitive = np.full(marks.grid.cells.shape, -1, dtype=np.int32)
    cut_cost = [0.0]
    spans: list[tuple[int, int, float]] = []  # each blob's primitives and digit height
    boxes = [blob_box(marks, blob) for blob in range(marks.blobs)]
    usual_width = float(np.median([right - left for _, _, left, right in boxes]))
    for blob in range(marks.blobs):
        start = len(cut_cost) - 1
        costs, height = _split_blob(marks, blob, primitive, start, usual_width)
        cut_cost += [*costs, 0.0]
        spans.append((start, len(cut_cost) - 1, height))
    cell_boxes = _CellBoxes.of(primitive, len(cut_cost) - 1)
    runs = [
        (first, last, aspect, height)
        for start, end, height in spans
        for first, last, aspect in _runs(cell_boxes, start, end, height)
    ]
    if len(runs) > max_candidates:
        raise TooManyPiecesError(
            f"the image holds too many touching digits to read at once ({len(runs)} pieces to "
            f"score, over the limit of {max_candidates}); leave gaps between the digits or send "
            "fewer of them"
        )
    owners = _Owners.of(primitive, mask, marks.grid, cell_boxes)
    candidates, digits = [], []
    for first, last, aspect, height in runs:
        digit, box = _piece(ink, mask, owners, first, last)
        tallness = box.height / (height * marks.grid.scale)
        candidates.append(Candidate(first, last, box, aspect, tallness))
        digits.append(digit)
    return NumberPieces(
        np.stack(digits).astype(np.float32, copy=False),
        tuple(candidates),
        np.array(cut_cost),
        len(cut_cost) - 1,
        marks.blobs,
    )


def _local_height(cells: np.ndarray) -> float:
    """The height of the digits in a blob: its box's height, unless the blob is a long line of
    touching digits, whose slant inflates that; then the upper decile of its columns' ink extents
    (a slanted 1 alone has short columns: its box is the better measure)."""
    height, width = cells.shape
    if width <= 1.5 * height:
        return float(height)
    filled = cells.any(axis=0)
    rows = np.arange(height)[:, None]
    first = np.where(cells, rows, height).min(axis=0)[filled]
    last = np.where(cells, rows, -1).max(axis=0)[filled]
    return float(max(np.percentile(last - first + 1, 90), 0.6 * height))


def _split_blob(
    marks: Marks, blob: int, primitive: np.ndarray, start: int, usual_width: float
) -> tuple[list[float], float]:
    """Number the blob's cells with their primitive (start, start + 1, ...); the costs of the cuts
    between its primitives, and its digit height. Cuts are tried in a blob wider than TRY_CUTS ×
    its height that is also wider than a digit: wider than tall, or clearly wider than the
    drawing's other blobs (the writer's own digit width), or the only blob."""
    top, bottom, left, right = blob_box(marks, blob)
    in_blob = np.concatenate([[False], marks.blob_of == blob])  # by label; 0 is no ink
    cells = in_blob[marks.components.labels[top:bottom, left:right]]
    height = _local_height(cells)
    width = right - left
    # Touching digits make a blob as tall as a digit and wider than one.
    tall = bottom - top >= 0.6 * marks.digit_height
    wide = (
        tall
        and width > TRY_CUTS * height
        and (marks.blobs == 1 or width > height or width > WIDER_THAN_USUAL * usual_width)
    )
    cuts = candidate_cuts(cells, height) if wide else []
    pieces = piece_of_each_cell(cells, cuts)
    # A cut may leave no ink between itself and the next one: keep only pieces that hold ink.
    present = [k for k in range(len(cuts) + 1) if (pieces == k).any()]
    renumber = np.full(len(cuts) + 2, -1, dtype=np.int32)
    renumber[present] = np.arange(len(present)) + start
    region = primitive[top:bottom, left:right]
    region[cells] = renumber[pieces[cells]]
    costs = [cuts[k - 1].cost for k in present[1:]]
    return costs, height


def _runs(
    cell_boxes: _CellBoxes, start: int, end: int, height: float
) -> list[tuple[int, int, float]]:
    """(first, last, width / height) of each run of a blob's primitives that could be one digit."""
    runs = []
    for first in range(start, end):
        for last in range(first + 1, min(end, first + MAX_SPAN) + 1):
            aspect = cell_boxes.width(first, last) / height
            whole = first == start and last == end  # the blob as one digit: always a candidate
            if last - first > 1 and aspect > MAX_WIDTH and not whole:
                break
            runs.append((first, last, aspect))
    if end - start > MAX_SPAN:
        runs.append((start, end, cell_boxes.width(start, end) / height))
    return runs


@dataclass(frozen=True)
class _CellBoxes:
    """Each primitive's box in cells, from the grid of primitives: made once per drawing, before
    any pixel-level work, so that a drawing offering too many candidates is refused cheaply."""

    top: np.ndarray  # per primitive, its first row of cells
    bottom: np.ndarray  # … its last row + 1
    left: np.ndarray
    right: np.ndarray

    @classmethod
    def of(cls, primitive: np.ndarray, count: int) -> _CellBoxes:
        rows, cols = np.nonzero(primitive >= 0)
        return cls(*boxes(primitive[rows, cols], rows, cols, cols + 1, count, primitive.shape))

    def width(self, first: int, last: int) -> float:
        """The width in cells of primitives [first, last) together."""
        return float(self.right[first:last].max() - self.left[first:last].min())


@dataclass(frozen=True)
class _Owners:
    """Which primitive each ink pixel belongs to, over the grid's window of the image (−1: none),
    and each primitive's box in cells: made once per drawing, so that each candidate's ink is one
    comparison on the pixels of its own box."""

    pixels: np.ndarray  # int32, the grid's cells scaled back to pixels and cut to the image
    cells: _CellBoxes
    scale: int
    origin: tuple[int, int]  # the image pixel of pixels[0, 0]

    @classmethod
    def of(cls, primitive: np.ndarray, mask: np.ndarray, grid: Grid, cells: _CellBoxes) -> _Owners:
        scale, top, left = grid.scale, grid.top, grid.left
        pixels = np.repeat(np.repeat(primitive, scale, axis=0), scale, axis=1)
        pixels = pixels[: mask.shape[0] - top, : mask.shape[1] - left]
        height, width = pixels.shape
        pixels = np.where(mask[top : top + height, left : left + width], pixels, -1)
        return cls(pixels, cells, scale, (top, left))


def _piece(
    ink: Ink, mask: np.ndarray, owners: _Owners, first: int, last: int
) -> tuple[np.ndarray, Box]:
    """The 28×28 input and the pixel box of primitives [first, last)."""
    scale = owners.scale
    cells = owners.cells
    top = int(cells.top[first:last].min()) * scale
    left = int(cells.left[first:last].min()) * scale
    bottom = int(cells.bottom[first:last].max()) * scale
    right = int(cells.right[first:last].max()) * scale
    window = owners.pixels[top:bottom, left:right]
    own = (window >= first) & (window < last)
    ink_rows = np.flatnonzero(own.any(axis=1))
    ink_cols = np.flatnonzero(own.any(axis=0))
    y0, y1 = ink_rows[0], ink_rows[-1] + 1
    x0, x1 = ink_cols[0], ink_cols[-1] + 1
    top += owners.origin[0]
    left += owners.origin[1]
    crop = ink.gray[top + y0 : top + y1, left + x0 : left + x1]
    # Other pieces' ink (and dropped specks) become background; this piece's faint edges stay.
    others = mask[top + y0 : top + y1, left + x0 : left + x1] & ~own[y0:y1, x0:x1]
    if others.any():
        crop = np.where(others, np.uint8(round(ink.background)), crop)
    box = Box(int(left + x0), int(top + y0), int(x1 - x0), int(y1 - y0))
    return digit_from_crop(crop, ink), box
