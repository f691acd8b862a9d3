"""The detector's data: digits and non-digits as the 28×28 inputs the service makes of them.

Every picture goes through the service's own normalisation (service.imaging.normalise), so the
detector learns from exactly what it will see. Sets are generated from seeds (nothing is
downloaded) and cached as .npy files, since drawing 100,000 pictures takes minutes.

Splits:
- fit: MNIST train 0–54,999 (also enlarged, and scanned as Semeion's were), Semeion lines 1–700,
  the `fit` fonts, pens and non-digit generators;
- check (thresholds and calibration): MNIST train 55,000–59,999, Semeion lines 701–1,000, the
  `held_out` fonts, pens and generators. MNIST test and Semeion 1,001–1,593 are never used here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from service.imaging.errors import InputError
from service.imaging.normalise import normalise_digit
from training.data import default_cache_dir
from training.synth.digits import enlarged, font_digits, scanned
from training.synth.nondigits import KINDS, non_digits

MNIST_FIT = slice(0, 55_000)
MNIST_CHECK = slice(55_000, 60_000)
SEMEION_FIT = slice(0, 700)  # of lines 1-1,000
SEMEION_CHECK = slice(700, 1000)
CACHE_VERSION = 2  # bump when a generator or the normalisation changes


@dataclass(frozen=True)
class Sizes:
    """How many pictures of each source: the defaults train the committed detector; tests use tiny ones."""

    mnist_enlarged: int = 20_000
    mnist_scanned: int = 20_000  # fit only: the check families stay MNIST's and Semeion's own
    semeion_copies: int = 5
    font_digits: int = 8_000
    per_kind: int = 10_000
    check_per_kind: int = 1_000
    check_font_digits: int = 1_000


def normalise_all(pictures: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """28×28 inputs of the pictures the service would accept, and a mask of which those were."""
    inputs, kept = [], []
    for picture in pictures:
        try:
            inputs.append(normalise_digit(picture))
            kept.append(True)
        except InputError:  # blank or too thin: the service answers 422, no verdict to learn
            kept.append(False)
    stacked = np.stack(inputs) if inputs else np.zeros((0, 28, 28), np.float32)
    return stacked.astype(np.float32), np.asarray(kept, dtype=bool)


def _cached(
    cache: Path | None, key: dict[str, object], make: Callable[[], np.ndarray]
) -> np.ndarray:
    if cache is None:
        return make()
    digest = hashlib.sha1(json.dumps({**key, "v": CACHE_VERSION}, sort_keys=True).encode())
    path = cache / f"synth-{digest.hexdigest()[:16]}.npy"
    if path.is_file():
        cached: np.ndarray = np.load(path)
        return cached
    array = make()
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npy")
    np.save(partial, array)
    partial.replace(path)
    return array


def non_digit_inputs(
    kind: str, split: str, count: int, seed: int, cache: Path | None, progress: bool = True
) -> np.ndarray:
    def make() -> np.ndarray:
        pictures = non_digits(kind, split, count, seed)
        bar = tqdm(pictures, desc=f"{kind} ({split})", leave=False, disable=not progress)
        return normalise_all(bar)[0]

    return _cached(cache, {"kind": kind, "split": split, "n": count, "seed": seed}, make)


@dataclass
class DetectorData:
    """Inputs (N, 28, 28) pixels 0-1; targets (N,): 1.0 for a non-digit, 0.0 for a digit; labels
    (N,): the digit, -1 for a non-digit; `source` names where each came from."""

    inputs: np.ndarray
    targets: np.ndarray
    labels: np.ndarray
    source: np.ndarray

    @staticmethod
    def join(parts: list[tuple[str, np.ndarray, np.ndarray | None]]) -> DetectorData:
        """Parts are (source, inputs, digit labels or None for non-digits)."""
        return DetectorData(
            np.concatenate([p for _, p, _ in parts]).astype(np.float32),
            np.concatenate([np.full(len(p), float(y is None), np.float32) for _, p, y in parts]),
            np.concatenate(
                [np.full(len(p), -1, np.int64) if y is None else y for _, p, y in parts]
            ).astype(np.int64),
            np.concatenate([np.full(len(p), n, dtype=object) for n, p, _ in parts]),
        )

    def only(self, *sources: str) -> DetectorData:
        keep = np.isin(self.source, sources)
        return DetectorData(
            self.inputs[keep], self.targets[keep], self.labels[keep], self.source[keep]
        )


def build(
    split: str,
    mnist: tuple[np.ndarray, np.ndarray],
    semeion: tuple[np.ndarray, np.ndarray],
    sizes: Sizes,
    seed: int = 0,
    cache: Path | None = None,
    progress: bool = True,
) -> DetectorData:
    """The fit or check set. `mnist` (uint8 28×28 images, labels) and `semeion` (uint8 16×16,
    labels) are the split's own digits (see the module docstring)."""
    if split not in ("fit", "check"):
        raise ValueError(f"unknown split {split!r}; 'fit' or 'check'")
    cache = cache if cache is not None else default_cache_dir() / "detector"
    fit = split == "fit"
    generators = "fit" if fit else "held_out"  # the check set is drawn by the held-out generators
    rng = np.random.default_rng([seed, 0 if fit else 1])
    mnist_images, mnist_labels = mnist
    parts: list[tuple[str, np.ndarray, np.ndarray | None]] = [
        ("mnist", mnist_images.astype(np.float32) / 255, mnist_labels)
    ]
    count = min(sizes.mnist_enlarged if fit else len(mnist_images), len(mnist_images))
    picks = rng.choice(len(mnist_images), size=count, replace=False)
    inputs, kept = normalise_all(enlarged(mnist_images[picks], seed + (0 if fit else 7)))
    parts.append(("mnist enlarged", inputs, mnist_labels[picks][kept]))
    if fit:
        count = min(sizes.mnist_scanned, len(mnist_images))
        picks = rng.choice(len(mnist_images), size=count, replace=False)
        inputs, kept = normalise_all(scanned(mnist_images[picks], seed))
        parts.append(("mnist scanned", inputs, mnist_labels[picks][kept]))
    semeion_images, semeion_labels = semeion
    inputs, kept = normalise_all(semeion_images)  # as they are: 16×16, scaled up by the service
    parts.append(("semeion", inputs, semeion_labels[kept]))
    for copy in range(sizes.semeion_copies if fit else 2):
        grown = enlarged(semeion_images, seed * 100 + copy + (0 if fit else 50), "semeion")
        inputs, kept = normalise_all(grown)
        parts.append(("semeion enlarged", inputs, semeion_labels[kept]))
    count = sizes.font_digits if fit else sizes.check_font_digits
    pictures, labels = font_digits(generators, count, seed)
    inputs, kept = normalise_all(pictures)
    parts.append(("font digits", inputs, np.asarray(labels)[kept]))
    per_kind = sizes.per_kind if fit else sizes.check_per_kind
    for kind in KINDS:
        parts.append(
            (kind, non_digit_inputs(kind, generators, per_kind, seed, cache, progress), None)
        )
    return DetectorData.join(parts)
