"""Whether an input is drawn the way digits are (service/imaging/strokes.py), and what the verdict
makes of an input the detector doubts that is not."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from service.imaging.normalise import normalise_digit
from service.imaging.strokes import drawn_as_strokes
from service.inference.verdict import VerdictPolicy


def _input(draw: Callable[[ImageDraw.ImageDraw], object]) -> np.ndarray:
    """A 200×200 white-on-black drawing, normalised as the service normalises it."""
    canvas = Image.new("L", (200, 200), 0)
    draw(ImageDraw.Draw(canvas))
    return normalise_digit(np.asarray(canvas))


def test_digits_are_strokes_and_blots_and_speckles_are_not(
    mnist_test: tuple[np.ndarray, np.ndarray],
) -> None:
    images, _ = mnist_test
    assert all(drawn_as_strokes(image.astype(np.float32) / 255) for image in images[:200])
    # A 4 in two strokes, a 5 with its flag apart: a digit may come in pieces.
    four = _input(
        lambda d: (
            d.line([(60, 20), (40, 120), (140, 120)], 255, 14),
            d.line([(120, 40), (120, 180)], 255, 14),
        )
    )
    five = _input(
        lambda d: (
            d.line([(70, 30), (60, 100), (130, 110), (120, 170), (50, 170)], 255, 14),
            d.line([(80, 25), (150, 25)], 255, 14),
        )
    )
    assert drawn_as_strokes(four) and drawn_as_strokes(five)
    blot = _input(lambda d: d.ellipse([30, 30, 170, 160], fill=255))
    speckles = _input(
        lambda d: [
            d.ellipse([x, y, x + 12, y + 12], fill=255)
            for x, y in [(20, 20), (150, 30), (90, 90), (30, 160), (160, 160)]
        ]
    )
    assert not drawn_as_strokes(blot) and not drawn_as_strokes(speckles)


def test_an_input_not_clearly_a_digit_that_is_no_strokes_is_refused() -> None:
    policy = VerdictPolicy(not_a_digit_above=4.0, doubt_above=1.0, unsure_below=0.0)
    blot = _input(lambda d: d.ellipse([30, 30, 170, 160], fill=255))
    one = _input(lambda d: d.line([(100, 20), (95, 180)], 255, 14))
    outputs = np.zeros((4, 11), np.float32)
    outputs[:, 0] = 10.0
    # Doubted; doubted; not clearly a digit to the detector (above SHAPE_CHECKED_ABOVE, -1, but
    # not doubted); clearly a digit to it: its shape is not looked at.
    outputs[:, 10] = [2.0, 2.0, 0.0, -3.0]
    inputs = np.stack([blot, one, blot, blot])
    verdicts = policy.decide(outputs, inputs=inputs).verdicts
    assert verdicts == ["not_a_digit", "unsure", "not_a_digit", "digit"]
    assert policy.decide(outputs).verdicts == ["unsure", "unsure", "digit", "digit"]  # no shape
    # A piece of a number has its shape looked at only when doubted: its neighbours vouch for it.
    pieces = policy.decide(outputs, inputs=inputs, pieces_of_a_number=True).verdicts
    assert pieces == ["not_a_digit", "unsure", "digit", "digit"]
