"""Numbers drawn stroke by stroke with a simulated pen: a sanity set made unlike the composed ones.

No scanned digit goes in: each digit is a few pen strokes (polylines in a unit box, written the
way people form digits: a 4 in two strokes, a 5 with its flag as a second stroke, a 7 sometimes
crossed, a 9 whose stem may start apart from its loop), distorted per writer (slant, width) and
per digit (jittered points), drawn with a round pen whose width varies, sometimes with the pen
lifted a little early (a broken stroke). Used as a check that reading numbers is not tuned to the
composer of numbers.py.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from devtools.drawn_digits import STYLES, in_style, to_png
from devtools.numbers import ComposedNumber
from service.imaging.pieces import Box

Stroke = list[tuple[float, float]]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> Stroke:
    angles = np.linspace(np.radians(start), np.radians(end), 16)
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]


# Each digit: strokes in a unit box (x right, y down); angles in degrees, 0 = right, 90 = down.
STROKES: dict[int, list[Stroke]] = {
    0: [_arc(0.5, 0.5, 0.45, 0.5, -90, 270)],
    1: [[(0.25, 0.2), (0.6, 0.0), (0.55, 1.0)]],
    2: [[*_arc(0.5, 0.3, 0.4, 0.3, 190, 360), (0.85, 0.45), (0.05, 1.0), (0.95, 1.0)]],
    3: [_arc(0.45, 0.25, 0.4, 0.25, 200, 450), _arc(0.45, 0.73, 0.45, 0.27, -90, 160)],
    4: [[(0.6, 0.0), (0.05, 0.65), (0.95, 0.65)], [(0.7, 0.25), (0.7, 1.0)]],
    5: [
        [(0.2, 0.0), (0.15, 0.45), *_arc(0.5, 0.7, 0.42, 0.3, -140, 150)],
        [(0.22, 0.0), (0.9, 0.0)],
    ],
    6: [[(0.8, 0.05), (0.35, 0.3), *_arc(0.5, 0.72, 0.4, 0.28, 180, 540)]],
    7: [[(0.05, 0.0), (0.95, 0.0), (0.35, 1.0)]],
    8: [_arc(0.5, 0.25, 0.33, 0.25, 90, 450), _arc(0.5, 0.73, 0.42, 0.27, -90, 270)],
    9: [_arc(0.5, 0.28, 0.4, 0.28, 0, 360), [(0.9, 0.3), (0.8, 1.0)]],
}
WIDTHS = {1: (0.3, 0.45)}  # width / height of each digit's box; the others use (0.55, 0.8)


def _strokes(digit: int, rng: np.random.Generator) -> list[Stroke]:
    strokes = [list(s) for s in STROKES[digit]]
    if digit == 7 and rng.random() < 0.3:  # a crossed 7
        strokes.append([(0.3, 0.5), (0.85, 0.5)])
    if digit == 1 and rng.random() < 0.5:  # a bare stroke
        strokes[0] = strokes[0][1:]
    if len(strokes) > 1 and rng.random() < 0.5:  # the pen set down a little apart
        dx, dy = rng.uniform(-0.08, 0.08), rng.uniform(0.0, 0.08)
        strokes[-1] = [(x + dx, y + dy) for x, y in strokes[-1]]
    if rng.random() < 0.1 and len(strokes[0]) > 6:  # lifted early: a broken stroke
        cut = int(rng.integers(2, len(strokes[0]) - 3))
        strokes[0:1] = [strokes[0][:cut], strokes[0][cut + 1 :]]
    return strokes


def draw_pen_number(
    digits: list[int], rng: np.random.Generator, style: str | None = None
) -> ComposedNumber:
    """A number written with the simulated pen, gaps between the digits."""
    height = float(rng.uniform(40, 140))
    slant = rng.uniform(-0.3, 0.1)  # x shift per unit of height going down (right-handed lean)
    pen = max(2, round(height * rng.uniform(0.06, 0.13)))
    placed = []
    x = height * 0.5
    for digit in digits:
        low, high = WIDTHS.get(digit, (0.55, 0.8))
        size = height * rng.uniform(0.88, 1.12)
        width = size * rng.uniform(low, high)
        top = height * 0.4 + rng.uniform(-0.08, 0.08) * height
        points = [
            [
                (
                    x + (px + rng.normal(0, 0.025)) * width + slant * (0.5 - py) * size,
                    top + (py + rng.normal(0, 0.02)) * size,
                )
                for px, py in stroke
            ]
            for stroke in _strokes(digit, rng)
        ]
        placed.append(points)
        x += width + height * rng.uniform(0.15, 0.5)
    canvas = Image.new("L", (round(x + height * 0.5), round(height * 1.9)), 0)
    pencil = ImageDraw.Draw(canvas)
    boxes = []
    for points in placed:
        for stroke in points:
            pencil.line(stroke, fill=255, width=pen, joint="curve")
            for end in (stroke[0], stroke[-1]):
                pencil.ellipse(
                    (end[0] - pen / 2, end[1] - pen / 2, end[0] + pen / 2, end[1] + pen / 2),
                    fill=255,
                )
        xs = [p[0] for s in points for p in s]
        ys = [p[1] for s in points for p in s]
        boxes.append(
            Box(
                round(min(xs) - pen / 2),
                round(min(ys) - pen / 2),
                round(max(xs) - min(xs) + pen),
                round(max(ys) - min(ys) + pen),
            )
        )
    style = style or str(rng.choice(STYLES))
    text = "".join(map(str, digits))
    return ComposedNumber(to_png(in_style(canvas, style)), text, tuple(boxes), "pen", "pen", style)


def pen_numbers(count: int, seed: int, lengths: tuple[int, int] = (2, 6)) -> list[ComposedNumber]:
    rng = np.random.default_rng(seed)
    return [
        draw_pen_number(
            [int(d) for d in rng.integers(0, 10, int(rng.integers(lengths[0], lengths[1] + 1)))],
            rng,
        )
        for _ in range(count)
    ]
