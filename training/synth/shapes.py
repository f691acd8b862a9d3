"""Strokes of shapes, doodles and scribbles, in a unit box (y down), each with random proportions.

Every function takes a random generator and returns a list of strokes for training.synth.pen. A plain
circle or ellipse and a single straight line are left out on purpose: people write 0 and 1 that way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from training.synth.pen import Stroke

ShapeFn = Callable[[np.random.Generator], list[Stroke]]


def _arc(
    cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 32
) -> Stroke:
    t = np.linspace(start, end, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _closed(points: list[tuple[float, float]]) -> Stroke:
    array = np.asarray(points, dtype=np.float64)
    return np.concatenate([array, array[:1]])


def _polygon(rng: np.random.Generator, sides: int) -> list[Stroke]:
    start = rng.uniform(0, 2 * np.pi)
    angles = start + np.arange(sides) * 2 * np.pi / sides + rng.normal(0, 0.08, sides)
    radius = rng.uniform(0.8, 1.0, sides)
    return [_closed(list(zip(radius * np.cos(angles), radius * np.sin(angles), strict=True)))]


def triangle(rng: np.random.Generator) -> list[Stroke]:
    return _polygon(rng, 3)


def square(rng: np.random.Generator) -> list[Stroke]:
    w, h = rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0)
    strokes = [_closed([(-w, -h), (w, -h), (w, h), (-w, h)])]
    if rng.random() < 0.4:  # a box with its diagonals, or with a cross inside
        strokes += (
            [np.array([[-w, -h], [w, h]]), np.array([[w, -h], [-w, h]])]
            if rng.random() < 0.5
            else [np.array([[0, -h], [0, h]]), np.array([[-w, 0], [w, 0]])]
        )
    return strokes


def polygon(rng: np.random.Generator) -> list[Stroke]:
    return _polygon(rng, int(rng.integers(5, 9)))


def star(rng: np.random.Generator) -> list[Stroke]:
    points = int(rng.integers(5, 8))
    inner = rng.uniform(0.3, 0.55)
    angles = rng.uniform(0, 2 * np.pi) + np.arange(2 * points) * np.pi / points
    radius = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    outline = list(zip(radius * np.cos(angles), radius * np.sin(angles), strict=True))
    if rng.random() < 0.3 and points == 5:  # the pentagram drawn in one line
        tips = [outline[i] for i in (0, 4, 8, 2, 6)]
        return [_closed(tips)]
    return [_closed(outline)]


def cross(rng: np.random.Generator) -> list[Stroke]:
    """An X (a plus sign when turned): two crossing lines."""
    a = rng.uniform(0.6, 1.0)
    b = rng.uniform(0.6, 1.0)
    turn = rng.uniform(0, 0.3) if rng.random() < 0.7 else np.pi / 4
    c, s = np.cos(turn), np.sin(turn)
    rot = np.array([[c, -s], [s, c]])
    return [np.array([[-a, -b], [a, b]]) @ rot.T, np.array([[a, -b], [-a, b]]) @ rot.T]


def asterisk(rng: np.random.Generator) -> list[Stroke]:
    lines = int(rng.integers(3, 5))
    start = rng.uniform(0, np.pi)
    return [
        np.array([[np.cos(t), np.sin(t)], [-np.cos(t), -np.sin(t)]])
        for t in start + np.arange(lines) * np.pi / lines
    ]


def arrow(rng: np.random.Generator) -> list[Stroke]:
    head = rng.uniform(0.3, 0.6)
    spread = rng.uniform(0.25, 0.6)
    turn = rng.choice([0, np.pi / 2, np.pi, 3 * np.pi / 2]) + rng.normal(0, 0.2)
    strokes = [
        np.array([[-1, 0], [1, 0]]),
        np.array([[1 - head, -spread], [1, 0], [1 - head, spread]]),
    ]
    if rng.random() < 0.3:  # a double-headed arrow
        strokes.append(np.array([[-1 + head, -spread], [-1, 0], [-1 + head, spread]]))
    c, s = np.cos(turn), np.sin(turn)
    return [stroke @ np.array([[c, -s], [s, c]]).T for stroke in strokes]


def heart(rng: np.random.Generator) -> list[Stroke]:
    t = np.linspace(0, 2 * np.pi, 60)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [np.stack([x, y * rng.uniform(0.8, 1.2)], axis=1) / 16]


def hash_grid(rng: np.random.Generator) -> list[Stroke]:
    """#, tic-tac-toe or a grid: several parallel lines each way."""
    lines = int(rng.integers(2, 5))
    offsets = np.linspace(-0.6, 0.6, lines)
    slant = rng.uniform(-0.2, 0.2)
    strokes = [np.array([[o + slant, -1], [o - slant, 1]]) for o in offsets]
    strokes += [np.array([[-1, o], [1, o + slant]]) for o in offsets]
    return strokes


def lightning(rng: np.random.Generator) -> list[Stroke]:
    zig = rng.uniform(0.3, 0.7)
    return [np.array([[0.2, -1], [-zig, 0.05], [zig, -0.05], [-0.2, 1]])]


def spiral(rng: np.random.Generator) -> list[Stroke]:
    turns = rng.uniform(1.8, 3.5)
    t = np.linspace(0, turns * 2 * np.pi, 120)
    r = (t / t[-1]) * rng.uniform(0.8, 1.0)
    sign = rng.choice([-1, 1])
    return [np.stack([r * np.cos(t), sign * r * np.sin(t)], axis=1)]


def wave(rng: np.random.Generator) -> list[Stroke]:
    """A long wavy or zigzag line: ~, a saw, a row of loops."""
    x = np.linspace(-1, 1, 100)
    periods = rng.uniform(2, 4.5)
    phase = rng.uniform(0, 2 * np.pi)
    amp = rng.uniform(0.15, 0.4)
    kind = rng.integers(3)
    if kind == 0:
        y = amp * np.sin(2 * np.pi * periods * x / 2 + phase)
    elif kind == 1:
        y = amp * (2 * np.abs(((periods * (x + 1) / 2) % 1) - 0.5) * 2 - 1)
    else:  # loops: a cycloid-like coil
        t = np.linspace(0, periods * 2 * np.pi, 200)
        return [np.stack([t / t[-1] * 2 - 1 + 0.12 * np.cos(t), amp * np.sin(t)], axis=1)]
    return [np.stack([x, y], axis=1)]


def moon(rng: np.random.Generator) -> list[Stroke]:
    outer = _arc(0, 0, 1, 1, np.pi / 2, 3 * np.pi / 2)
    bulge = rng.uniform(0.3, 0.7)
    inner = _arc(0, 0, bulge, 1, 3 * np.pi / 2, np.pi / 2)
    return [np.concatenate([outer, inner])]


def smiley(rng: np.random.Generator) -> list[Stroke]:
    face = _arc(0, 0, 1, rng.uniform(0.9, 1.1), 0, 2 * np.pi, 48)
    eye = rng.uniform(0.06, 0.14)
    eyes = [_arc(x, -0.3, eye, eye * rng.uniform(1, 1.8), 0, 2 * np.pi, 12) for x in (-0.35, 0.35)]
    mood = rng.choice([-1.0, 1.0, 0.0])
    if mood == 0:
        mouth = np.array([[-0.45, 0.45], [0.45, 0.45]])
    else:
        mouth = _arc(0, 0.3 - 0.2 * mood, 0.5, 0.3, 0.15 * np.pi, 0.85 * np.pi)
        if mood < 0:
            mouth = mouth * np.array([1, -1]) + np.array([0, 1.0])
    return [face, *eyes, mouth]


def house(rng: np.random.Generator) -> list[Stroke]:
    roof = rng.uniform(0.4, 0.9)
    strokes = [
        _closed([(-0.8, 0), (0.8, 0), (0.8, 1), (-0.8, 1)]),
        np.array([[-0.9, 0.05], [0, -roof], [0.9, 0.05]]),
    ]
    if rng.random() < 0.7:
        strokes.append(np.array([[-0.2, 1], [-0.2, 0.45], [0.2, 0.45], [0.2, 1]]))
    if rng.random() < 0.5:
        strokes.append(_closed([(0.4, 0.2), (0.65, 0.2), (0.65, 0.45), (0.4, 0.45)]))
    return strokes


def sun(rng: np.random.Generator) -> list[Stroke]:
    r = rng.uniform(0.35, 0.55)
    rays = int(rng.integers(6, 13))
    strokes = [_arc(0, 0, r, r, 0, 2 * np.pi, 32)]
    for t in np.arange(rays) * 2 * np.pi / rays:
        strokes.append(
            np.array([[1.25 * r * np.cos(t), 1.25 * r * np.sin(t)], [np.cos(t), np.sin(t)]])
        )
    return strokes


def flower(rng: np.random.Generator) -> list[Stroke]:
    petals = int(rng.integers(4, 8))
    t = np.linspace(0, 2 * np.pi, 120)
    r = 0.35 + 0.3 * np.abs(np.cos(petals * t / 2))
    head = np.stack([r * np.cos(t), r * np.sin(t) - 0.35], axis=1)
    strokes = [head, np.array([[0, 0.3], [0.05, 1]])]
    if rng.random() < 0.6:
        strokes.append(_arc(-0.25, 0.65, 0.25, 0.1, 0, 2 * np.pi, 16))
    return strokes


def tree(rng: np.random.Generator) -> list[Stroke]:
    if rng.random() < 0.5:  # a fir: a zigzag triangle
        layers = int(rng.integers(2, 4))
        points = [(0.0, -1.0)]
        for i in range(layers):
            y = -1 + (i + 1) * 1.5 / layers
            points.append((0.25 + 0.6 * (i + 1) / layers, y))
            points.append((0.15 + 0.2 * (i + 1) / layers, y - 0.05))
        right = np.array(points)
        left = right[::-1] * np.array([-1, 1])
        return [
            np.concatenate([right, left]),
            np.array([[-0.12, 0.55], [-0.12, 1], [0.12, 1], [0.12, 0.55]]),
        ]
    crown = _arc(0, -0.3, 0.7, 0.6, 0.6 * np.pi, 2.4 * np.pi, 40)
    return [crown, np.array([[-0.15, 0.25], [-0.15, 1]]), np.array([[0.15, 0.25], [0.15, 1]])]


def stick_figure(rng: np.random.Generator) -> list[Stroke]:
    head = _arc(0, -0.75, 0.22, 0.22, 0, 2 * np.pi, 20)
    arms = rng.uniform(-0.4, 0.2)
    return [
        head,
        np.array([[0, -0.53], [0, 0.35]]),
        np.array([[-0.6, -0.2 + arms], [0, -0.25], [0.6, -0.2 + arms]]),
        np.array([[-0.45, 1], [0, 0.35], [0.45, 1]]),
    ]


def cloud(rng: np.random.Generator) -> list[Stroke]:
    bumps = int(rng.integers(4, 7))
    points = []
    for i in range(bumps):
        t0 = np.pi + i * np.pi / bumps
        centre = (np.cos(t0 + np.pi / (2 * bumps)) * 0.7, np.sin(t0 + np.pi / (2 * bumps)) * 0.35)
        points.append(_arc(centre[0], centre[1], 0.3, 0.3, np.pi + 0.3, 2 * np.pi - 0.3, 10))
    top = np.concatenate(points)
    return [np.concatenate([top, np.array([[0.9, 0.25], [-0.9, 0.25], top[0]])])]


def fish(rng: np.random.Generator) -> list[Stroke]:
    body = np.concatenate(
        [
            _arc(0, 0.35, 0.9, 0.75, -0.75 * np.pi, -0.25 * np.pi, 20),
            _arc(0, -0.35, 0.9, 0.75, 0.25 * np.pi, 0.75 * np.pi, 20),
        ]
    )
    tail = np.array([[-0.62, 0.05], [-1, -0.35], [-1, 0.35], [-0.62, -0.05]])
    eye = _arc(0.4, -0.08, 0.06, 0.06, 0, 2 * np.pi, 8)
    return [body, tail, eye]


def envelope(rng: np.random.Generator) -> list[Stroke]:
    h = rng.uniform(0.5, 0.8)
    return [
        _closed([(-1, -h), (1, -h), (1, h), (-1, h)]),
        np.array([[-1, -h], [0, rng.uniform(-0.1, 0.3)], [1, -h]]),
    ]


def car(rng: np.random.Generator) -> list[Stroke]:
    body = np.array(
        [
            [-1, 0.3],
            [-1, -0.1],
            [-0.5, -0.15],
            [-0.3, -0.55],
            [0.35, -0.55],
            [0.55, -0.15],
            [1, -0.1],
            [1, 0.3],
            [-1, 0.3],
        ]
    )
    return [
        body,
        _arc(-0.5, 0.35, 0.2, 0.2, 0, 2 * np.pi, 16),
        _arc(0.5, 0.35, 0.2, 0.2, 0, 2 * np.pi, 16),
    ]


def cat_face(rng: np.random.Generator) -> list[Stroke]:
    face = _arc(0, 0.1, 0.9, 0.75, -0.35 * np.pi, 1.35 * np.pi, 36)
    ears = np.array(
        [[-0.7, -0.35], [-0.65, -1], [-0.2, -0.62], [0.2, -0.62], [0.65, -1], [0.7, -0.35]]
    )
    whiskers = [
        np.array([[s * 0.25, 0.25], [s * 1.1, 0.15 + d]]) for s in (-1, 1) for d in (-0.1, 0.15)
    ]
    eyes = [_arc(x, -0.1, 0.08, 0.1, 0, 2 * np.pi, 10) for x in (-0.35, 0.35)]
    return [face, ears, *whiskers, *eyes]


def scribble_spline(rng: np.random.Generator, points: tuple[int, int] = (5, 12)) -> list[Stroke]:
    """A scribble: a smooth curve through random points (Catmull-Rom)."""
    count = int(rng.integers(*points))
    control = rng.uniform(-1, 1, size=(count, 2))
    padded = np.concatenate([control[:1], control, control[-1:]])
    out = []
    for i in range(1, count):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        t = np.linspace(0, 1, 12)[:, None]
        out.append(
            0.5
            * (
                2 * p1
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
            )
        )
    return [np.concatenate(out)]


def scribble_walk(rng: np.random.Generator, steps: tuple[int, int] = (40, 120)) -> list[Stroke]:
    """A scribble as a hand moves: a walk whose direction drifts and sometimes turns sharply."""
    count = int(rng.integers(*steps))
    turn = np.cumsum(rng.normal(0, rng.uniform(0.2, 0.6), count))
    sharp = rng.random(count) < 0.05
    turn += np.cumsum(sharp * rng.uniform(1.5, 3.0, count))
    steps_xy = np.stack([np.cos(turn), np.sin(turn)], axis=1)
    return [np.cumsum(steps_xy, axis=0)]


def scribble_hatch(rng: np.random.Generator) -> list[Stroke]:
    """Back-and-forth shading, as when crossing something out."""
    rows = int(rng.integers(4, 10))
    slant = rng.uniform(-0.6, 0.6)
    points = []
    for i in range(rows):
        y = -1 + 2 * i / (rows - 1)
        x = 1 if i % 2 else -1
        points.append((x + slant * y, y + rng.normal(0, 0.05)))
    return [np.asarray(points)]


def scribble_loops(rng: np.random.Generator) -> list[Stroke]:
    """A coil of loops, as in a cursive scribble or a tangled thread."""
    loops = rng.uniform(3, 8)
    t = np.linspace(0, loops * 2 * np.pi, 300)
    radius = rng.uniform(0.3, 0.8)
    drift = np.stack([t / t[-1] * 2 - 1, rng.uniform(-0.5, 0.5) * (t / t[-1] * 2 - 1)], axis=1)
    wobble = np.stack([np.cos(t), np.sin(t) * rng.uniform(0.5, 1.2)], axis=1) * radius
    return [drift + wobble]


def strokes_bundle(rng: np.random.Generator) -> list[Stroke]:
    """Several short random strokes scattered around: marks, ticks, a tangle of lines."""
    count = int(rng.integers(3, 8))
    strokes = []
    for _ in range(count):
        start = rng.uniform(-1, 1, 2)
        bend = rng.uniform(-1, 1, 2)
        end = rng.uniform(-1, 1, 2)
        t = np.linspace(0, 1, 10)[:, None]
        strokes.append((1 - t) ** 2 * start + 2 * (1 - t) * t * bend + t**2 * end)
    return strokes


SHAPES: dict[str, ShapeFn] = {
    "triangle": triangle,
    "square": square,
    "polygon": polygon,
    "star": star,
    "cross": cross,
    "asterisk": asterisk,
    "arrow": arrow,
    "heart": heart,
    "hash": hash_grid,
    "lightning": lightning,
    "spiral": spiral,
    "wave": wave,
    "moon": moon,
}
DOODLES: dict[str, ShapeFn] = {
    "smiley": smiley,
    "house": house,
    "sun": sun,
    "flower": flower,
    "tree": tree,
    "stick figure": stick_figure,
    "cloud": cloud,
    "fish": fish,
    "envelope": envelope,
    "car": car,
    "cat": cat_face,
}
SCRIBBLES: dict[str, ShapeFn] = {
    "spline": scribble_spline,
    "walk": scribble_walk,
    "hatch": scribble_hatch,
    "loops": scribble_loops,
    "bundle": strokes_bundle,
}
