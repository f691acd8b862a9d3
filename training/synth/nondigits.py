"""Non-digits by kind, each in a `fit` variant and a `held_out` variant made differently.

    typeset letters   letters that look like no digit, typeset in TrueType fonts (held out: other fonts)
    pen letters       the same letters written with a pen in Hershey stroke fonts (held out: other fonts,
                      another hand: wider pens, more slant and wobble, a pressure-varying pen)
    scribbles         random strokes and scribbles (held out: other parameters, other seeds)
    shapes            geometric shapes, crosses, arrows, stars, spirals, waves
    doodles           little pictures: faces, houses, suns, trees, people, animals
    pictures          filled areas, blots, textures, silhouettes: anything but strokes

Each picture is uint8, white ink on black, on a canvas of random size; the service's normalisation
makes it a 28×28 input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from training.synth.glyphs import (
    HERSHEY_FIT,
    HERSHEY_HELD_OUT,
    LETTERS,
    TTF_FIT,
    TTF_HELD_OUT,
    pen_text,
    typeset,
)
from training.synth.pen import PenStyle, draw_strokes
from training.synth.pictures import PICTURES
from training.synth.shapes import DOODLES, SCRIBBLES, SHAPES, ShapeFn

KINDS = ("typeset letters", "pen letters", "scribbles", "shapes", "doodles", "pictures")
SPLITS = ("fit", "held_out")

FIT_PEN = PenStyle()
# Another hand for the held-out sets: wider and thinner pens, more slant, a shakier line.
HELD_OUT_PEN = PenStyle(
    canvas=(64, 400),
    fill=(0.35, 0.95),
    width=(0.025, 0.16),
    rotation=20.0,
    shear=0.35,
    aspect=(0.7, 1.4),
    wobble=(0.005, 0.035),
    jitter=0.015,
    ink=(160, 255),
)
HELD_OUT_BRUSH = PenStyle(**{**HELD_OUT_PEN.__dict__, "pressure": True})


@dataclass(frozen=True)
class Variant:
    fonts: tuple[str | None, ...]
    pens: tuple[PenStyle, ...]
    word_share: float  # letters sometimes come as short words
    scribble_scale: float  # held-out scribbles are longer or shorter


VARIANTS = {
    "fit": Variant(HERSHEY_FIT + TTF_FIT, (FIT_PEN,), 0.15, 1.0),
    "held_out": Variant(HERSHEY_HELD_OUT + TTF_HELD_OUT, (HELD_OUT_PEN, HELD_OUT_BRUSH), 0.2, 1.4),
}


def _text(rng: np.random.Generator, word_share: float) -> str:
    length = int(rng.integers(2, 5)) if rng.random() < word_share else 1
    return "".join(rng.choice(list(LETTERS), size=length))


def _pen(rng: np.random.Generator, variant: Variant) -> PenStyle:
    return variant.pens[int(rng.integers(len(variant.pens)))]


def typeset_letters(rng: np.random.Generator, split: str) -> np.ndarray:
    variant = VARIANTS[split]
    fonts = [f for f in variant.fonts if f is None or f.endswith(".ttf")]
    font = fonts[int(rng.integers(len(fonts)))]
    return typeset(_text(rng, variant.word_share), font, rng)


def pen_letters(rng: np.random.Generator, split: str) -> np.ndarray:
    variant = VARIANTS[split]
    fonts = [f for f in variant.fonts if f is not None and not f.endswith(".ttf")]
    font = fonts[int(rng.integers(len(fonts)))]
    return pen_text(_text(rng, variant.word_share), font, rng, _pen(rng, variant))


def _from(table: dict[str, ShapeFn]) -> Callable[[np.random.Generator, str], np.ndarray]:
    names = sorted(table)

    def generate(rng: np.random.Generator, split: str) -> np.ndarray:
        variant = VARIANTS[split]
        strokes = table[names[int(rng.integers(len(names)))]](rng)
        return draw_strokes(strokes, rng, _pen(rng, variant))

    return generate


def scribbles(rng: np.random.Generator, split: str) -> np.ndarray:
    variant = VARIANTS[split]
    names = sorted(SCRIBBLES)
    name = names[int(rng.integers(len(names)))]
    scale = variant.scribble_scale
    if name == "spline":
        strokes = SCRIBBLES[name](rng, (5, int(12 * scale)))  # type: ignore[call-arg]
    elif name == "walk":
        strokes = SCRIBBLES[name](rng, (int(40 * scale), int(120 * scale)))  # type: ignore[call-arg]
    else:
        strokes = SCRIBBLES[name](rng)
    return draw_strokes(strokes, rng, _pen(rng, variant))


def pictures(rng: np.random.Generator, split: str) -> np.ndarray:
    names = sorted(PICTURES)
    side = int(rng.integers(64, 281 if split == "fit" else 400))
    image = PICTURES[names[int(rng.integers(len(names)))]](rng, side)
    if split == "held_out" and rng.random() < 0.5:
        image = 255 - image  # the other polarity: a light object on a dark ground
    return image


GENERATORS: dict[str, Callable[[np.random.Generator, str], np.ndarray]] = {
    "typeset letters": typeset_letters,
    "pen letters": pen_letters,
    "scribbles": scribbles,
    "shapes": _from(SHAPES),
    "doodles": _from(DOODLES),
    "pictures": pictures,
}

# Seeds of the two splits never meet: the held-out sets are drawn from another stream.
_SPLIT_SEED = {"fit": 1_000, "held_out": 2_000_000}


def non_digits(kind: str, split: str, count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` pictures of one kind of non-digit (raw canvases, uint8, white on black)."""
    if kind not in GENERATORS:
        raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; one of {SPLITS}")
    rng = np.random.default_rng([_SPLIT_SEED[split], KINDS.index(kind), seed])
    return [GENERATORS[kind](rng, split) for _ in range(count)]
