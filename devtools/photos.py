"""A photo-like test set: MNIST test digits written on paper and photographed with a phone.

Each picture: paper of a random tint with a fine texture, often ruled (blue lines, sometimes a red
margin) or squared; the digit in blue, black or red ink, written across the lines; uneven light (a
gradient and a soft shadow); a little blur and sensor noise; saved as JPEG at a random quality. A
share is stored rotated with an EXIF orientation tag, as phones do, so the upright picture is only
what a reader that honours the tag sees. `on_desk=True` photographs the sheet lying askew on a
desk that shows around it. Nothing here is used for fitting anything.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

PAPERS = {  # RGB
    "white": (245, 245, 240),
    "cream": (248, 238, 205),
    "blue tint": (222, 232, 245),
    "grey": (215, 215, 212),
    "pink": (248, 225, 228),
}
INKS = {"blue": (25, 45, 160), "black": (30, 30, 35), "red": (175, 30, 35), "pencil": (95, 95, 100)}
RULES = ("none", "ruled", "ruled + margin", "squared")
DESKS = {  # RGB
    "dark wood": (90, 60, 40),
    "black": (40, 40, 45),
    "oak": (150, 120, 90),
    "grey": (120, 122, 125),
}
# EXIF orientation → the transpose that makes the stored picture from the upright one.
STORED = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


@dataclass(frozen=True)
class Photo:
    jpeg: bytes
    label: int
    paper: str
    ink: str
    rules: str
    orientation: int
    desk: str = "none"  # what shows around the sheet


def _smooth(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    coarse = (rng.random((cells, cells)) * 255).astype(np.uint8)
    return (
        np.asarray(
            Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), np.float32
        )
        / 255
    )


def photograph(
    digit: np.ndarray, rng: np.random.Generator, size: tuple[int, int] | None = None
) -> tuple[Image.Image, dict[str, str]]:
    """One MNIST digit (28×28 uint8, white on black) written on paper, as an upright RGB photo
    (`size` width × height, or a random size of 300-900 pixels a side)."""
    width, height = size or (int(rng.integers(300, 900)), int(rng.integers(300, 900)))
    paper_name = str(rng.choice(list(PAPERS)))
    ink_name = str(rng.choice(list(INKS)))
    rules = str(rng.choice(RULES))
    paper = np.ones((height, width, 3), np.float32) * np.array(PAPERS[paper_name], np.float32)
    paper *= 1 + 0.03 * (_smooth(rng, height, width, 40)[..., None] - 0.5)  # fibre texture

    # The digit: a smooth enlargement cut at a level, a pen with soft edges.
    digit_height = int(rng.uniform(0.3, 0.7) * min(width, height))
    big = Image.fromarray(digit).resize((digit_height, digit_height), Image.Resampling.BICUBIC)
    big = big.filter(ImageFilter.GaussianBlur(digit_height / 90))
    stroke = np.clip((np.asarray(big, np.float32) - rng.uniform(40, 110)) / 60, 0, 1)
    top = int(rng.integers(0, height - digit_height))
    left = int(rng.integers(0, width - digit_height))
    coverage = np.zeros((height, width), np.float32)
    coverage[top : top + digit_height, left : left + digit_height] = stroke

    # Ruled lines about half a digit apart, so the digit crosses two or three of them.
    lines = np.zeros((height, width), np.float32)
    spacing = max(12, int(digit_height * rng.uniform(0.4, 0.75)))
    thickness = int(rng.integers(1, 4))
    offset = int(rng.integers(0, spacing))
    if rules != "none":
        for y in range(offset, height, spacing):
            tilt = np.clip(np.round(y + np.arange(width) * rng.normal(0, 0.004)), 0, height - 1)
            for t in range(thickness):
                lines[np.clip(tilt.astype(int) + t, 0, height - 1), np.arange(width)] = 1
    if rules == "squared":
        for x in range(offset, width, spacing):
            lines[:, x : x + thickness] = 1
    rule_colour = np.array([120, 160, 215], np.float32)
    paper = paper * (1 - 0.55 * lines[..., None]) + rule_colour * 0.55 * lines[..., None]
    if rules == "ruled + margin":
        x = int(width * rng.uniform(0.05, 0.2))
        paper[:, x : x + thickness + 1] = (225, 120, 120)

    strength = rng.uniform(0.75, 1.0)
    ink = np.array(INKS[ink_name], np.float32)
    alpha = coverage[..., None] * strength
    photo = paper * (1 - alpha) + ink * alpha

    # Light: a gradient across the sheet and a soft shadow (a hand, the phone).
    gradient = np.linspace(rng.uniform(0.55, 0.9), 1.0, width if rng.random() < 0.5 else height)
    light = gradient[None, :] if len(gradient) == width else gradient[:, None]
    light = light * (1 - rng.uniform(0.0, 0.35) * (_smooth(rng, height, width, 3) > 0.6))
    photo = (
        photo
        * np.asarray(
            Image.fromarray((light * 255).astype(np.uint8)).filter(
                ImageFilter.GaussianBlur(min(width, height) * 0.04)
            ),
            np.float32,
        )[..., None]
        / 255
    )
    photo += rng.normal(0, rng.uniform(1.5, 6), photo.shape)
    image = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.4)))
    return image, {"paper": paper_name, "ink": ink_name, "rules": rules}


def on_a_desk(sheet: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """The photo of a sheet as a sheet lying askew on a desk: the desk shows around it, on one to
    four sides (the sheet fills 60-97 % of each side of the picture), with or without grain."""
    share = rng.uniform(0.6, 0.97, 2)
    width, height = int(sheet.width / share[0]), int(sheet.height / share[1])
    desk_name = str(rng.choice(list(DESKS)))
    desk = np.ones((height, width, 3), np.float32) * np.array(DESKS[desk_name], np.float32)
    # Grain, or none: a dark surface a JPEG encoder made flat.
    desk += rng.normal(0, rng.choice([0.0, 3.0, 8.0]), (height, width, 1))
    picture = Image.fromarray(np.clip(desk, 0, 255).astype(np.uint8))
    angle = rng.uniform(-8, 8)
    turned = sheet.rotate(angle, expand=True, resample=Image.Resampling.BILINEAR)
    outline = Image.new("L", sheet.size, 255).rotate(
        angle, expand=True, resample=Image.Resampling.BILINEAR
    )
    x = int(rng.integers(min(0, width - turned.width), max(1, width - turned.width + 1)))
    y = int(rng.integers(min(0, height - turned.height), max(1, height - turned.height + 1)))
    picture.paste(turned, (x, y), outline)
    return picture.filter(ImageFilter.GaussianBlur(0.6)), desk_name


def photos(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0, on_desk: bool = False
) -> list[Photo]:
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(images), size=count, replace=False)
    result = []
    for index in picks:
        upright, kinds = photograph(images[index], rng)
        if on_desk:
            upright, kinds["desk"] = on_a_desk(upright, rng)
        orientation = int(rng.choice([1, 1, 3, 6, 8]))
        stored = upright.transpose(STORED[orientation]) if orientation != 1 else upright
        exif = Image.Exif()
        exif[0x0112] = orientation
        buffer = io.BytesIO()
        stored.save(buffer, "JPEG", quality=int(rng.integers(40, 92)), exif=exif.tobytes())
        result.append(
            Photo(buffer.getvalue(), int(labels[index]), orientation=orientation, **kinds)
        )
    return result


def phone_photo(
    digit: np.ndarray,
    seed: int = 0,
    size: tuple[int, int] = (4000, 3000),
    orientation: int = 6,
    quality: int = 95,
) -> bytes:
    """A phone camera's JPEG of one digit on paper: `size` upright (12 megapixels by default),
    stored turned as the sensor saw it with the EXIF tag that says how to turn it back, and with
    per-pixel sensor noise, which is what makes such files several megabytes.

    Drawn at a quarter of the size and enlarged (a sharp 12 MP paper texture costs seconds and
    a gigabyte to make, and adds nothing a reader of one digit could use).
    """
    rng = np.random.default_rng(seed)
    small, _ = photograph(digit, rng, (size[0] // 4, size[1] // 4))
    big = np.asarray(small.resize(size, Image.Resampling.BICUBIC), np.int16)
    noisy = big + rng.normal(0, 10, big.shape).astype(np.int16)
    upright = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    stored = upright.transpose(STORED[orientation]) if orientation != 1 else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=quality, exif=exif.tobytes())
    return buffer.getvalue()
