"""Characters as pictures: Hershey stroke fonts drawn with a pen, and TrueType fonts typeset.

The fonts are ones that ship with the project's dependencies (Hershey-Fonts' built-in fonts,
matplotlib's DejaVu, STIX and Computer Modern TTFs, Pillow's default font), so CI needs nothing else.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import matplotlib
import numpy as np
from HersheyFonts import HersheyFonts
from PIL import Image, ImageDraw, ImageFont

from training.synth.pen import PenStyle, Stroke, draw_strokes

# Letters that look like no digit: O o I i l S s Z z B G b g q T are left out (0, 1, 5, 2, 8, 6, 9, 7).
LETTERS = "ACDEFHJKLMNPQRUVWXYacdefhjkmnprtuvwxy"
DIGITS = "0123456789"

# Hershey fonts with Latin letters and digits, split so the held-out ones differ in style too.
HERSHEY_FIT = ("futural", "rowmans", "rowmant", "scripts", "timesr", "timesib", "gothgbt")
HERSHEY_HELD_OUT = ("futuram", "rowmand", "scriptc", "cursive", "timesi", "timesrb", "gothiceng")

_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
TTF_FIT = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSansMono-Bold.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
)
# None stands for Pillow's built-in font.
TTF_HELD_OUT = (
    "DejaVuSerif.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "STIXGeneralBolIta.ttf",
    "cmtt10.ttf",
    "cmb10.ttf",
    None,
)


@cache
def _hershey(font: str) -> HersheyFonts:
    loaded = HersheyFonts()
    loaded.load_default_font(font)
    return loaded


def hershey_strokes(text: str, font: str) -> list[Stroke]:
    """The pen strokes of `text` in a Hershey font (y down)."""
    return [
        np.asarray(list(stroke), dtype=np.float64)
        for stroke in _hershey(font).strokes_for_text(text)
    ]


def pen_text(text: str, font: str, rng: np.random.Generator, style: PenStyle) -> np.ndarray:
    """`text` written with a pen in a Hershey font: uint8, white ink on black."""
    return draw_strokes(hershey_strokes(text, font), rng, style)


@cache
def _truetype(name: str | None, size: int) -> ImageFont.FreeTypeFont:
    if name is None:
        font = ImageFont.load_default(size)
        assert isinstance(font, ImageFont.FreeTypeFont), "Pillow was built without FreeType"
        return font
    return ImageFont.truetype(str(_FONT_DIR / name), size)


def typeset(
    text: str,
    font: str | None,
    rng: np.random.Generator,
    canvas: tuple[int, int] = (64, 256),
    max_rotation: float = 12.0,
    max_shear: float = 0.25,
) -> np.ndarray:
    """`text` typeset in a TrueType font, bold or light, slanted and turned a little; uint8, white on black."""
    side = int(rng.integers(canvas[0], canvas[1] + 1))
    size = max(
        12, int(side * rng.uniform(0.35, 0.75)) // 4 * 4
    )  # few sizes: the font cache stays small
    face = _truetype(font, size)
    weight = int(rng.choice([0, 0, 0, 1, 2])) * max(1, size // 40)
    left, top, right, bottom = face.getbbox(text, stroke_width=weight)
    width, height = right - left, bottom - top
    pad = max(width, height) // 2 + 4
    image = Image.new("L", (round(width + 2 * pad), round(height + 2 * pad)), 0)
    ink = int(rng.integers(190, 256))
    ImageDraw.Draw(image).text(
        (pad - left, pad - top), text, font=face, fill=ink, stroke_width=weight, stroke_fill=ink
    )
    shear = rng.uniform(-max_shear, max_shear)
    # An affine map from output to input pixels: a shear about the centre, then a small turn.
    cx, cy = image.width / 2, image.height / 2
    image = image.transform(
        image.size,
        Image.Transform.AFFINE,
        (1, shear, -shear * cy, 0, 1, 0),
        resample=Image.Resampling.BILINEAR,
    )
    image = image.rotate(
        rng.uniform(-max_rotation, max_rotation),
        resample=Image.Resampling.BILINEAR,
        center=(cx, cy),
    )
    return np.asarray(image)
