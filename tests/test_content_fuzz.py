"""Fuzzing what a picture shows, not how it is encoded (tests/test_png_fuzz.py does that).

Valid files of strange content reach the deep parts of the imaging layer: the photo check and the
desk finder, the stroke-shape rule, segmentation and its cuts. Clip-art of flat greys once made
the desk finder raise (a 500). Every kind here must get an answer or a 413/422 that says what to
send, from /predict and from /read alike.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, ImageFilter

Maker = Callable[[np.random.Generator], Image.Image]


def flat_shapes(rng: np.random.Generator) -> Image.Image:
    """Polygons, lines and ellipses in one to three flat greys, in any image mode."""
    width, height = (int(n) for n in rng.integers(8, 400, size=2))
    image = Image.new("L", (width, height), int(rng.choice([0, 255, int(rng.integers(256))])))
    draw = ImageDraw.Draw(image)
    greys = [int(g) for g in rng.integers(0, 256, size=int(rng.integers(1, 4)))]
    for _ in range(int(rng.integers(1, 9))):
        corners = rng.integers(-50, max(width, height) + 50, size=(int(rng.integers(2, 7)), 2))
        points = [tuple(corner) for corner in corners.tolist()]
        grey = greys[int(rng.integers(len(greys)))]
        if rng.random() < 0.6:
            draw.polygon(points, fill=grey)
        else:
            draw.line(points, fill=grey, width=int(rng.integers(1, 30)))
    return image.convert(str(rng.choice(["L", "RGB", "RGBA"])))


def _sliver(rng: np.random.Generator) -> Image.Image:
    """A picture one to five pixels across and up to 2,000 long, random ink."""
    across, along = int(rng.integers(1, 6)), int(rng.integers(1, 2000))
    shape = (along, across) if rng.random() < 0.5 else (across, along)
    ink = (rng.random(shape) < rng.uniform(0, 0.5)) * 255
    return Image.fromarray((ink if rng.random() < 0.5 else 255 - ink).astype(np.uint8))


def _specks(rng: np.random.Generator) -> Image.Image:
    """Up to 300 dots of any size: more marks than /read takes, or none worth reading."""
    side = int(rng.integers(50, 600))
    image = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 300))):
        x, y = (int(n) for n in rng.integers(0, side, size=2))
        radius = int(rng.integers(0, 12))
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=255)
    return image


def _pattern(rng: np.random.Generator) -> Image.Image:
    """A frame, a grid, a checkerboard or all ink, either polarity."""
    side = int(rng.integers(8, 400))
    step = int(rng.integers(1, max(2, side // 4)))
    cells = np.zeros((side, side), np.uint8)
    kind = int(rng.integers(4))
    if kind == 0:
        cells[:step], cells[-step:], cells[:, :step], cells[:, -step:] = 255, 255, 255, 255
    elif kind == 1:
        cells[:: step + 1], cells[:, :: step + 1] = 255, 255
    elif kind == 2:
        cells[:] = 255
    else:
        cells = ((np.indices((side, side)).sum(axis=0) // step) % 2 * 255).astype(np.uint8)
    return Image.fromarray(cells if rng.random() < 0.5 else 255 - cells)


def _noise(rng: np.random.Generator) -> Image.Image:
    """Blurred noise or a wrapping gradient: texture everywhere, no strokes."""
    width, height = (int(n) for n in rng.integers(2, 300, size=2))
    if rng.random() < 0.5:
        noise = Image.fromarray(rng.integers(0, 256, size=(height, width), dtype=np.uint8))
        return noise.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 4))))
    rows, columns = np.mgrid[:height, :width]
    slope = rng.uniform(-3, 3, size=2)
    return Image.fromarray(((columns * slope[0] + rows * slope[1]) % 256).astype(np.uint8))


KINDS: dict[str, Maker] = {
    "flat shapes": flat_shapes,
    "slivers": _sliver,
    "specks": _specks,
    "patterns": _pattern,
    "noise": _noise,
}


@pytest.mark.parametrize("kind", KINDS)
def test_strange_pictures_get_an_answer_or_a_clear_error(client: TestClient, kind: str) -> None:
    rng = np.random.default_rng([42, list(KINDS).index(kind)])
    statuses: set[int] = set()
    for _ in range(40):
        buffer = io.BytesIO()
        KINDS[kind](rng).save(buffer, "PNG" if rng.random() < 0.7 else "WEBP")
        for route in ("/predict", "/read"):
            response = client.post(
                route, content=buffer.getvalue(), headers={"content-type": "image/png"}
            )
            statuses.add(response.status_code)
            assert response.status_code in (200, 413, 422), (route, response.text)
            if response.status_code != 200:
                assert "detail" in response.json()
    assert 200 in statuses  # the kind reaches the models, not only the input checks
