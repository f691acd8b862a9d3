"""MNIST through `torchvision.datasets.MNIST`, fed from a local folder of the four official gzip files.

`--data-dir` / `MNIST_DATA_DIR` names a folder holding the gzip files; it may be read-only: they are
checked against its SHA256SUMS (when present) and unpacked into a cache folder (`MNIST_CACHE_DIR`,
default ~/.cache/mnist-digits). Without one, torchvision downloads MNIST into the cache folder as usual.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.datasets import MNIST

from training.metadata import sha256_of

GZIP_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


class DataDirError(ValueError):
    """The MNIST folder given does not exist or lacks some of the official gzip files."""


@dataclass(frozen=True)
class MnistSplit:
    images: torch.Tensor  # (N, 1, 28, 28) float32, pixels 0-1, white digit on black
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, count: int) -> MnistSplit:
        return MnistSplit(self.images[:count], self.labels[:count])


def default_data_dir() -> Path | None:
    value = os.environ.get("MNIST_DATA_DIR")
    return Path(value) if value else None


def default_cache_dir() -> Path:
    return Path(os.environ.get("MNIST_CACHE_DIR", Path.home() / ".cache" / "mnist-digits"))


def check_data_dir(data_dir: Path) -> Path:
    """Return the folder if it holds the four gzip files, else raise DataDirError saying what is missing."""
    if not data_dir.is_dir():
        raise DataDirError(
            f"MNIST data folder {data_dir} does not exist; point --data-dir (or MNIST_DATA_DIR) at a "
            f"folder holding {', '.join(GZIP_FILES)}"
        )
    missing = [name for name in GZIP_FILES if not (data_dir / name).is_file()]
    if missing:
        raise DataDirError(
            f"MNIST data folder {data_dir} lacks {', '.join(missing)}; it must hold the four official "
            f"gzip files: {', '.join(GZIP_FILES)}"
        )
    return data_dir.resolve()


def _verify_checksums(data_dir: Path) -> None:
    """Check the gzip files against the folder's SHA256SUMS, when it has one."""
    sums = data_dir / "SHA256SUMS"
    if not sums.is_file():
        return
    # Each line: "<sha256>  <file name>".
    expected = {
        name: digest
        for digest, name in (line.split() for line in sums.read_text().splitlines() if line.strip())
    }
    for name in GZIP_FILES:
        if name in expected and sha256_of(data_dir / name) != expected[name]:
            raise DataDirError(
                f"{data_dir / name} does not match its sha256 in {sums}: "
                "the file is damaged; fetch the official MNIST files again"
            )


def _unpack_into_cache(data_dir: Path, cache_dir: Path) -> Path:
    """Unpack the gzip files where torchvision's MNIST looks for them; return the dataset root.

    torchvision checks the MD5 of the gzip files it downloads itself, and recompressed copies of the
    same data differ in MD5; so we unpack them here, and torchvision reads the unpacked files.
    """
    root = cache_dir / hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in GZIP_FILES:
        target = raw / name.removesuffix(".gz")
        if not target.is_file():
            partial = target.with_suffix(".partial")
            with gzip.open(data_dir / name) as source, partial.open("wb") as sink:
                shutil.copyfileobj(source, sink)
            partial.replace(target)
    return root


def load_split(
    train: bool, data_dir: Path | None = None, cache_dir: Path | None = None
) -> MnistSplit:
    cache_dir = cache_dir or default_cache_dir()
    if data_dir is None:
        dataset = MNIST(str(cache_dir), train=train, download=True)
    else:
        data_dir = check_data_dir(data_dir)
        _verify_checksums(data_dir)
        dataset = MNIST(str(_unpack_into_cache(data_dir, cache_dir)), train=train, download=False)
    images = dataset.data.unsqueeze(1).to(torch.float32).div_(255.0)
    return MnistSplit(images=images, labels=dataset.targets.to(torch.int64))
