"""Draw polylines with a pen: random affine, a wobbly hand, round caps, anti-aliased edges.

Strokes are lists of (x, y) points in any coordinate system with y pointing down (Hershey glyphs,
the shape generators); `draw_strokes` fits them into a random box on the canvas.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from PIL import Image, ImageDraw

Stroke = np.ndarray  # (k, 2) float, x right, y down
SUPERSAMPLE = 2


@dataclass(frozen=True)
class PenStyle:
    """How a hand draws: each range is sampled per picture."""

    canvas: tuple[int, int] = (96, 280)  # canvas side, px
    fill: tuple[float, float] = (0.45, 0.9)  # share of the canvas the drawing's longer side takes
    width: tuple[float, float] = (0.03, 0.12)  # pen width as a share of the drawing's longer side
    rotation: float = 12.0  # degrees, either way
    shear: float = 0.25
    aspect: tuple[float, float] = (0.8, 1.25)  # x stretch over y stretch
    wobble: tuple[float, float] = (0.0, 0.02)  # smooth displacement, share of the drawing's size
    jitter: float = 0.01  # per-vertex displacement before smoothing, share of the size
    ink: tuple[int, int] = (200, 255)
    pressure: bool = False  # vary the width along each stroke (a brush-like pen)


def _resample(stroke: Stroke, step: float) -> Stroke:
    """Points every `step` along the polyline (keeping its corners close enough for a pen)."""
    if len(stroke) < 2:
        return stroke
    segments = np.diff(stroke, axis=0)
    lengths = np.hypot(segments[:, 0], segments[:, 1])
    total = lengths.sum()
    if total == 0:
        return stroke[:1]
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    count = max(2, int(total / step) + 1)
    positions = np.linspace(0, total, count)
    # Keep the original vertices too, so corners stay sharp where the glyph has them.
    positions = np.unique(np.concatenate([positions, cumulative]))
    x = np.interp(positions, cumulative, stroke[:, 0])
    y = np.interp(positions, cumulative, stroke[:, 1])
    return np.stack([x, y], axis=1)


def _smooth_noise(count: int, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """A slowly drifting 2-D displacement along a stroke of `count` points."""
    if amplitude <= 0 or count < 2:
        return np.zeros((count, 2))
    noise = rng.normal(size=(count + 16, 2))
    kernel = np.hanning(17)
    kernel /= kernel.sum()
    smooth = np.stack([np.convolve(noise[:, i], kernel, mode="valid") for i in range(2)], axis=1)
    smooth = smooth[:count]
    peak = np.abs(smooth).max() or 1.0
    return smooth / peak * amplitude


def place(
    strokes: list[Stroke], rng: np.random.Generator, style: PenStyle
) -> tuple[list[Stroke], int, float]:
    """Transform strokes into canvas coordinates: (strokes, canvas side, pen width in px)."""
    points = np.concatenate(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    size = float(max(high - low)) or 1.0
    centre = (low + high) / 2
    angle = np.radians(rng.uniform(-style.rotation, style.rotation))
    shear = rng.uniform(-style.shear, style.shear)
    aspect = np.sqrt(rng.uniform(*style.aspect))
    cos, sin = np.cos(angle), np.sin(angle)
    matrix = np.array([[cos, -sin], [sin, cos]]) @ np.array([[aspect, shear], [0, 1 / aspect]])
    moved = []
    jitter = style.jitter * size
    wobble = rng.uniform(*style.wobble) * size
    for stroke in strokes:
        stroke = stroke + rng.normal(scale=jitter, size=stroke.shape) if jitter else stroke
        dense = _resample(stroke, size / 40)
        dense = dense + _smooth_noise(len(dense), rng, wobble)
        moved.append((dense - centre) @ matrix.T)
    transformed = np.concatenate(moved)
    extent = float(max(transformed.max(axis=0) - transformed.min(axis=0))) or 1.0
    canvas = int(rng.integers(style.canvas[0], style.canvas[1] + 1))
    target = canvas * rng.uniform(*style.fill)
    scale = target / extent
    pen = max(1.0, rng.uniform(*style.width) * target)
    scaled = [stroke * scale for stroke in moved]
    all_points = np.concatenate(scaled)
    low, high = all_points.min(axis=0), all_points.max(axis=0)
    margin = pen
    span = high - low
    offset = np.array(
        [rng.uniform(margin, max(margin, canvas - span[i] - margin)) - low[i] for i in range(2)]
    )
    return [stroke + offset for stroke in scaled], canvas, pen


def _corners(points: np.ndarray, degrees: float = 25.0) -> list[tuple[float, float]]:
    """Vertices where the stroke turns sharply: a wide line leaves a notch there unless capped."""
    if len(points) < 3:
        return []
    before, after = np.diff(points[:-1], axis=0), np.diff(points[1:], axis=0)
    cross = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0]
    dot = (before * after).sum(axis=1)
    turn = np.abs(np.degrees(np.arctan2(cross, dot)))
    return [tuple(p) for p in points[1:-1][turn > degrees]]


def draw_strokes(strokes: list[Stroke], rng: np.random.Generator, style: PenStyle) -> np.ndarray:
    """The strokes drawn in a random hand on a square canvas: uint8, white ink on black."""
    placed, canvas, pen = place(strokes, rng, style)
    size = canvas * SUPERSAMPLE
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    ink = int(rng.integers(style.ink[0], style.ink[1] + 1))
    for stroke in placed:
        points = stroke * SUPERSAMPLE
        if style.pressure and len(points) > 2:
            widths = pen * SUPERSAMPLE * (0.55 + 0.9 * _smooth_noise(len(points), rng, 0.5)[:, 0])
            for (a, b), width in zip(pairwise(points), widths, strict=False):
                radius = max(1.0, abs(width)) / 2
                draw.line([tuple(a), tuple(b)], fill=ink, width=max(1, round(2 * radius)))
                draw.ellipse([b[0] - radius, b[1] - radius, b[0] + radius, b[1] + radius], fill=ink)
            continue
        width = max(1, round(pen * SUPERSAMPLE))
        radius = width / 2
        flat = [tuple(p) for p in points]
        if len(flat) > 1:
            draw.line(flat, fill=ink, width=width)  # one C call; joints are patched below
        for x, y in (flat[0], flat[-1], *_corners(points)):
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=ink)
    return np.asarray(image.reduce(SUPERSAMPLE))
