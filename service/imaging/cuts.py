"""Where a blob of touching digits might be split: paths from its top to its bottom through the
least ink, found by dynamic programming (as in seam carving).

A path moves down one cell a row and at most one cell sideways, so it follows the background
around a digit's curves and crosses ink only where the digits meet; its cost is the ink it crosses,
in stroke widths (two touching digits meet at about one stroke; cutting a 0 in half crosses two).
The candidates are the paths ending at local minima of that cost, never crossing one another and
never leaving a sliver: the classifier then scores the pieces between them
(service/inference/reading.py), and the best-scoring reading wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_PIECE = 0.07  # × digit height: a cut leaves at least this much on either side (a 1 is narrow)
MAX_COST = 3.0  # stroke widths: a cut through more ink than this splits no touching digits
SIDESTEP = 0.7  # the price of a sideways step, in cells of ink: straight paths win ties
CUTS_PER_HEIGHT = 6.0  # at most this many cuts per digit height of the blob's width


@dataclass(frozen=True)
class Cut:
    """A path down the blob: `columns[row]` is the first cell right of the cut on each row."""

    columns: np.ndarray  # int, one per row of the blob
    cost: float  # ink crossed, in stroke widths


def stroke_width(blob: np.ndarray) -> float:
    """The pen's width in cells: ink area over half its outline (a stroke of width w and length L
    has area wL and an outline of about 2L)."""
    padded = np.pad(blob, 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & blob
    outline = int(blob.sum() - inner.sum())
    return max(1.0, 2 * float(blob.sum()) / max(outline, 1))


def candidate_cuts(blob: np.ndarray, digit_height: float) -> list[Cut]:
    """Cuts for a blob (bool cells, cropped to its box), left to right; [] when none is worth
    trying."""
    height, width = blob.shape
    pen = stroke_width(blob)
    margin = max(2, round(MIN_PIECE * digit_height))
    # The cheapest path through each cell: down from the top to it, plus from it to the bottom
    # (found upwards from the bottom), counting the cell once. Digits may meet high or low, so
    # the cheapest paths through a few rows are offered, not only through the middle one.
    ink = blob.astype(np.float32)
    down = _cheapest_paths(ink)
    up_from_bottom = _cheapest_paths(ink[::-1])
    up = up_from_bottom[::-1]
    through = down + up - ink
    limit = max(1, int(CUTS_PER_HEIGHT * width / digit_height))
    seeds = []  # (cost, row, column) of the cheapest paths through a few rows
    for row in sorted({height // 4, height // 2, (3 * height) // 4}):
        total = through[row]
        padded = np.pad(total, margin, constant_values=np.inf)
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * margin + 1)
        columns = np.flatnonzero((total <= windows.min(axis=1)) & (total <= MAX_COST * pen))
        seeds += [(float(total[c]), row, int(c)) for c in columns]
    if not seeds:
        return []
    # Tracing is the costly part: only the cheapest seeds that are not next to a cheaper one
    # (paths through neighbouring cells, or through one path's cells on other rows, are alike).
    # On one row too: a flat stretch of cost (a straight stroke crossed anywhere along it) is a
    # minimum at every cell, and its seeds alone would fill the quota.
    kept: list[tuple[float, int, int]] = []
    for seed in sorted(seeds):
        if all(abs(seed[2] - other[2]) > margin / 2 for other in kept):
            kept.append(seed)
            if len(kept) == 3 * limit:
                break
    seeds = kept
    paths_by_row, costs = [], []
    down_steps, up_steps = _steps(down), _steps(up_from_bottom)
    for row in sorted({seed[1] for seed in seeds}):
        columns = np.array([seed[2] for seed in seeds if seed[1] == row])
        above = _trace(down_steps[: row + 1], columns)
        below = _trace(up_steps[: height - row], columns)[::-1]
        paths_by_row.append(np.concatenate((above, below[1:])))
        costs += [seed[0] for seed in seeds if seed[1] == row]
    paths = np.concatenate(paths_by_row, axis=1)
    ends = np.array(costs)
    cols = np.flatnonzero(blob.any(axis=0))
    # Each side of a cut must keep a margin's width of ink.
    row_first = np.where(blob.any(axis=1), np.argmax(blob, axis=1), width)
    row_last = np.where(blob.any(axis=1), width - 1 - np.argmax(blob[:, ::-1], axis=1), -1)
    left_extent = np.where(row_first[:, None] < paths, paths - 1, -1).max(axis=0) - cols[0] + 1
    right_extent = cols[-1] - np.where(row_last[:, None] >= paths, paths, width).min(axis=0) + 1
    usable = (left_extent >= margin) & (right_extent >= margin)
    offered = [Cut(paths[:, k], float(ends[k]) / pen) for k in np.flatnonzero(usable)]
    return _spread(offered, margin, limit)


def _cheapest_paths(ink: np.ndarray) -> np.ndarray:
    """For each cell, the cost of the cheapest path down to it from the top row."""
    rows, width = ink.shape
    cost = np.empty((rows, width + 2), dtype=np.float32)
    cost[:, 0] = cost[:, -1] = np.inf  # walls either side
    cost[0, 1:-1] = ink[0]
    for row in range(1, rows):
        above = cost[row - 1]
        best = np.minimum(above[:-2], above[2:])
        best += SIDESTEP
        np.minimum(best, above[1:-1], out=best)
        np.add(best, ink[row], out=cost[row, 1:-1])
    return cost[:, 1:-1]


def _steps(cost: np.ndarray) -> np.ndarray:
    """For each cell below the top row, the sideways step (-1, 0, 1) to the cheapest of the three
    cells above it, a sideways step paying SIDESTEP (ties: left, then straight up)."""
    padded = np.pad(cost, ((0, 0), (1, 1)), constant_values=np.inf)
    above = padded[:-1].astype(np.float64)  # as the DP compared them: no ties broken otherwise
    options = np.stack((above[:, :-2] + SIDESTEP, above[:, 1:-1], above[:, 2:] + SIDESTEP))
    steps = np.zeros(cost.shape, dtype=np.int64)
    steps[1:] = options.argmin(axis=0) - 1
    return steps


def _trace(steps: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The columns, row by row (rows, paths), of the cheapest paths down to `ends` on the last
    row (`steps` from _steps), walked back up."""
    rows = steps.shape[0]
    paths = np.empty((rows, len(ends)), dtype=np.int64)
    column = ends.astype(np.int64)
    for row in range(rows - 1, -1, -1):
        paths[row] = column
        column = column + steps[row, column]
    return paths


def _spread(offered: list[Cut], margin: int, limit: int) -> list[Cut]:
    """The cheapest cuts that stay a margin apart on average, left to right, made not to cross."""
    kept: list[tuple[float, Cut]] = []  # (mean column, cut)
    for cut in sorted(offered, key=lambda c: c.cost):
        centre = float(cut.columns.mean())
        if all(abs(centre - other) >= margin for other, _ in kept):
            kept.append((centre, cut))
            if len(kept) == limit:
                break
    chosen = [cut for _, cut in sorted(kept, key=lambda pair: pair[0])]
    # Paths may cross where they share background; hold each to the right of the one before.
    for before, index in zip(chosen, range(1, len(chosen)), strict=False):
        chosen[index] = Cut(np.maximum(chosen[index].columns, before.columns), chosen[index].cost)
    return chosen


def piece_of_each_cell(blob: np.ndarray, cuts: list[Cut]) -> np.ndarray:
    """For each ink cell of the blob, how many cuts lie left of it (0 … len(cuts)); −1 off ink."""
    cols = np.arange(blob.shape[1])[None, :]
    pieces = np.zeros(blob.shape, dtype=np.int16)
    for cut in cuts:
        pieces += cols >= cut.columns[:, None]
    return np.where(blob, pieces, -1)
