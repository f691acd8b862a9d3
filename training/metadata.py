"""The metadata file written beside a checkpoint (`mnist_cnn_model.json`) and the checksum that ties them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def metadata_path_for(weights_path: Path) -> Path:
    return weights_path.with_suffix(".json")


def confusion_png_path_for(weights_path: Path) -> Path:
    return weights_path.with_name(f"{weights_path.stem}_confusion.png")


def write_metadata(weights_path: Path, metadata: dict[str, Any]) -> Path:
    path = metadata_path_for(weights_path)
    path.write_text(json.dumps(metadata, indent=2) + "\n")
    return path


def read_metadata(weights_path: Path) -> dict[str, Any] | None:
    """The metadata beside `weights_path`, or None when there is none."""
    path = metadata_path_for(weights_path)
    if not path.is_file():
        return None
    metadata: dict[str, Any] = json.loads(path.read_text())
    return metadata
