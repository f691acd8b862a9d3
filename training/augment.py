"""Batch-level augmentation that imitates how people draw: tilt, size, slant, position and stroke width.

It works on whole batches of 0-1 pixel tensors (one affine grid per image), so it costs a few
milliseconds per batch instead of a Python call per image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_ROTATION = math.radians(12)
SCALE_RANGE = (0.85, 1.12)
MAX_SHEAR = 0.15
MAX_SHIFT = 0.1  # in affine_grid's -1..1 coordinates: 0.1 is 1.4 px on a 28 px image
THICKER_SHARE = 0.2
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

    # Half-way to a 3x3 dilation or erosion: a thicker or thinner pen, without blobs or broken strokes.
    thicker = 0.5 * (out + F.max_pool2d(out, 3, stride=1, padding=1))
    thinner = 0.5 * (out - F.max_pool2d(-out, 3, stride=1, padding=1))
    stroke = stroke.to(images.device).view(n, 1, 1, 1)
    out = torch.where(stroke < THICKER_SHARE, thicker, out)
    return torch.where(stroke > 1 - THINNER_SHARE, thinner, out)
