"""Pictures that are not drawings: filled shapes, blobs, textures, shaded photos of things.

What people upload by mistake, or to see what happens: anything with areas of ink rather than strokes.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _smooth_field(rng: np.random.Generator, side: int, scale: int) -> np.ndarray:
    """Random smooth values 0-1 (value noise): a coarse grid upsampled bicubically."""
    coarse = rng.random((scale, scale)).astype(np.float32)
    field = np.asarray(
        Image.fromarray((coarse * 255).astype(np.uint8)).resize(
            (side, side), Image.Resampling.BICUBIC
        ),
        dtype=np.float32,
    )
    return field / 255


def filled_shapes(
    rng: np.random.Generator, side: int, count: tuple[int, int] = (1, 5)
) -> np.ndarray:
    image = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(*count))):
        x0, y0 = rng.uniform(0, side * 0.7, 2)
        w, h = rng.uniform(side * 0.2, side * 0.7, 2)
        fill = int(rng.integers(90, 256))
        kind = rng.integers(3)
        if kind == 0:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=fill)
        elif kind == 1:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=fill)
        else:
            points = [tuple(p) for p in rng.uniform(0, side, size=(int(rng.integers(3, 7)), 2))]
            draw.polygon(points, fill=fill)
    return np.asarray(image)


def blob(rng: np.random.Generator, side: int, scale: tuple[int, int] = (3, 7)) -> np.ndarray:
    """An ink blot or a stain: a thresholded smooth field, one or a few pieces."""
    field = _smooth_field(rng, side, int(rng.integers(*scale)))
    level = rng.uniform(0.5, 0.75)
    return ((field > level) * rng.integers(150, 256)).astype(np.uint8)


def texture(rng: np.random.Generator, side: int) -> np.ndarray:
    """A photo-like patch: shading at a few scales, edges and noise."""
    field = sum(_smooth_field(rng, side, s) * w for s, w in ((3, 0.5), (9, 0.3), (27, 0.2)))
    noise = rng.normal(0, rng.uniform(0.0, 0.08), (side, side))
    values = np.clip(field + noise, 0, 1)
    if rng.random() < 0.5:  # hard-edged objects in front of the shading
        values = np.maximum(values, filled_shapes(rng, side) / 255 * rng.uniform(0.5, 1))
    return (values * 255).astype(np.uint8)


def silhouette(rng: np.random.Generator, side: int) -> np.ndarray:
    """A dark object photographed on a light ground: a big filled shape with soft edges."""
    image = Image.fromarray(blob(rng, side, (2, 4)))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 3))))


PICTURES = {
    "filled shapes": filled_shapes,
    "blob": blob,
    "texture": texture,
    "silhouette": silhouette,
}
