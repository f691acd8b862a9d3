"""Whether a 28×28 input is drawn the way digits are: a few strokes, none of them a filled blob.

A pure function of the model's inputs (pixels 0-1, as normalise.py makes them). A digit is one or
two pen strokes (a 4 or a 5 may come in two or three pieces); its thickest part, at MNIST's 20-pixel
digit height, is a stroke a few pixels wide. Pictures that the not-a-digit detector only doubts
are often neither: speckled textures falling apart into many marks, filled silhouettes and blots.
service/inference/verdict.py refuses an input the detector does not find clearly a digit that is
not drawn as strokes.

Thresholds chosen on issue 14's check split (MNIST train 55,000-59,999, Semeion lines 701-1,000,
the held-out generators, seed 0): among the pictures the detector doubted but did not refuse, 24 %
fall into four marks or more and 22 % hold a blob at least 5 px from its edge to its middle (10 px
thick), against 0-0.2 % of the handwritten digits it doubted (a few of Semeion's enlarged scans
fall into four pieces; none is that thick).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

INK = 0.3  # a pixel is ink at this share of full intensity
SPECK = 3  # marks of fewer pixels are anti-aliasing crumbs, not marks
MOST_MARKS = 3  # a digit falls into at most this many marks
THICKEST = 5.0  # pixels from the ink's edge to its middle: a blob, not a stroke
_NEIGHBOURS = np.ones((3, 3), dtype=bool)  # 8-connected, as strokes touch at corners


def drawn_as_strokes(digit: npt.NDArray[np.float32]) -> bool:
    """Whether one 28×28 input (pixels 0-1) is a few strokes, none of them a filled blob."""
    ink = digit >= INK
    labels, count = ndimage.label(ink, structure=_NEIGHBOURS)
    if count > MOST_MARKS:
        sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
        if int((sizes >= SPECK).sum()) > MOST_MARKS:
            return False
    return bool(ndimage.distance_transform_edt(ink).max() < THICKEST)
