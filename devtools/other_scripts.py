"""Letters of other alphabets: a kind of non-digit that nothing the detector was fitted on holds.

Greek and Cyrillic letters written in three Hershey fonts (complex and simplex Greek, complex
Cyrillic) with the held-out hand of training.synth.nondigits (wider pens, more slant and wobble, a
pressure-varying brush), one letter or a short word. The fitting and threshold sets hold Latin
letters only, so this measures how the refusal carries over to marks made differently, as the
product's hidden sets are. Hershey maps ASCII keys to each font's glyphs; the keys below are those
whose glyph looks like no digit (left out, e.g.: ο ι σ τ ζ ξ ϑ Θ Σ, б в з о ч Б В З О Ч).
"""

from __future__ import annotations

import numpy as np

from training.synth.glyphs import pen_text
from training.synth.nondigits import HELD_OUT_BRUSH, HELD_OUT_PEN

_GREEK = "acgjklmptuvwxCDGKNPTUWX"  # α γ η κ λ μ ν π υ φ χ ψ ω, Γ Δ Η Λ Ξ Π Υ Φ Ψ Ω
LETTERS = {
    "greekc": _GREEK,
    "greeks": _GREEK,
    "cyrilc_1": "adefgijklmnpqrstuvwyzADEFGIJKLMNPQRSTUVWYZ",  # а г д е ж и й к л м н п …
}
WORD_SHARE = 0.2


def other_script_letters(count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` pictures (uint8, white ink on black), the fonts in turn."""
    rng = np.random.default_rng([9_000, seed])
    fonts = sorted(LETTERS)
    pictures = []
    for index in range(count):
        font = fonts[index % len(fonts)]
        length = int(rng.integers(2, 4)) if rng.random() < WORD_SHARE else 1
        text = "".join(rng.choice(list(LETTERS[font]), size=length))
        pen = (HELD_OUT_PEN, HELD_OUT_BRUSH)[int(rng.integers(2))]
        pictures.append(pen_text(text, font, rng, pen))
    return pictures
