"""Batch-level augmentation that imitates how people draw: tilt, slant, proportions and pen width.

The service normalises every image MNIST's way (crop, 20 px box, centre of mass), so position and
size vary little once normalised: shifts and scales stay small, and the model's few parameters go
to what normalisation cannot undo. It works on whole batches of 0-1 pixel tensors (one affine grid
per image), so it costs a few milliseconds per batch instead of a Python call per image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_ROTATION = math.radians(12)
SCALE_RANGE = (0.93, 1.07)
MAX_SHEAR = 0.15
MAX_SHIFT = 0.04  # in affine_grid's -1..1 coordinates: 0.04 is about half a pixel
# People draw with a fixed pen on a large canvas, so a small drawing becomes a bold digit once scaled
# to MNIST's 20 px box: a good share of the batches get a much thicker pen than MNIST's.
MUCH_THICKER_SHARE = 0.1
THICKER_SHARE = 0.3  # including the much thicker ones
THINNER_SHARE = 0.1


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def augment_batch(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Return a randomly transformed copy of `images` (N, 1, H, W), pixels 0-1, background 0."""
    n = images.shape[0]
    angle = _uniform(n, -MAX_ROTATION, MAX_ROTATION, generator)
    scale = _uniform(n, *SCALE_RANGE, generator)
    shear = _uniform(n, -MAX_SHEAR, MAX_SHEAR, generator)
    shift = _uniform(2 * n, -MAX_SHIFT, MAX_SHIFT, generator).view(n, 2)
    stroke = torch.rand(n, generator=generator)

    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output coordinates to input ones, so a digit grows when the matrix shrinks.
    theta = torch.stack(
        [
            torch.stack([cos, -sin + shear, shift[:, 0]], dim=1),
            torch.stack([sin, cos, shift[:, 1]], dim=1),
        ],
        dim=1,
    )
    theta[:, :, :2] /= scale.view(n, 1, 1)
    theta = theta.to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    # Pen width: a 3x3 dilation (once or twice) for bolder strokes; half an erosion for thinner
    # ones, since a full one breaks MNIST's thin strokes apart.
    thicker = F.max_pool2d(out, 3, stride=1, padding=1)
    much_thicker = F.max_pool2d(thicker, 3, stride=1, padding=1)
    thinner = 0.5 * (out - F.max_pool2d(-out, 3, stride=1, padding=1))
    stroke = stroke.to(images.device).view(n, 1, 1, 1)
    out = torch.where(stroke < THICKER_SHARE, thicker, out)
    out = torch.where(stroke < MUCH_THICKER_SHARE, much_thicker, out)
    return torch.where(stroke > 1 - THINNER_SHARE, thinner, out)


def settings() -> dict[str, float | list[float]]:
    """The augmentation's parameters, for the metadata written beside a model."""
    return {
        "max_rotation_degrees": round(math.degrees(MAX_ROTATION), 3),
        "scale_range": list(SCALE_RANGE),
        "max_shear": MAX_SHEAR,
        "max_shift": MAX_SHIFT,
        "thicker_share": THICKER_SHARE,
        "much_thicker_share": MUCH_THICKER_SHARE,
        "thinner_share": THINNER_SHARE,
    }
