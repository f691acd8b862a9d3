"""Model versions on disk: what `python -m training.publish` writes and the service serves.

    MODEL_DIR/
      2/mnist_cnn_model.pth     a version is a folder holding all of its files: the weights, their
      2/mnist_cnn_model.json    metadata and whatever else was written beside them
      3/...
      current                   the version the service serves (written by POST /admin/reload)

The committed model (MODEL_PATH, models/mnist_cnn_model.pth) is version 1 unless MODEL_DIR holds a
folder `1/`, so a MODEL_PATH alone keeps working. A version appears all at once: publish builds the
folder under a temporary name and renames it, so a reader never sees half a version.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

WEIGHTS_FILE = "mnist_cnn_model.pth"
CURRENT_FILE = "current"
FIRST_VERSION = 1
_VERSION_NAME = re.compile(r"[1-9][0-9]{0,8}")


def version_folders(model_dir: Path) -> dict[int, Path]:
    """The numbered folders in `model_dir` (none when it does not exist)."""
    if not model_dir.is_dir():
        return {}
    return {
        int(entry.name): entry
        for entry in model_dir.iterdir()
        if entry.is_dir() and _VERSION_NAME.fullmatch(entry.name)
    }


def list_versions(model_dir: Path, default_weights: Path) -> dict[int, Path]:
    """Version number → its weights file, oldest first; version 1 is `default_weights` unless
    `model_dir` has its own folder 1."""
    versions = {n: folder / WEIGHTS_FILE for n, folder in version_folders(model_dir).items()}
    versions.setdefault(FIRST_VERSION, default_weights)
    return dict(sorted(versions.items()))


def read_current(model_dir: Path) -> int | None:
    """The version named in `model_dir/current`, or None when there is no such file or it holds no
    version number (a reader then serves the newest)."""
    try:
        text = (model_dir / CURRENT_FILE).read_text().strip()
    except OSError:
        return None
    return int(text) if _VERSION_NAME.fullmatch(text) else None


def write_current(model_dir: Path, version: int) -> None:
    """Name the served version. Atomic (write, then rename), so a reader sees the old or the new
    number, never a torn file."""
    model_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(model_dir / CURRENT_FILE, f"{version}\n")


def _write_atomically(path: Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def files_of(weights: Path) -> list[Path]:
    """The files that belong to a weights file: itself, its `.json` metadata, and whatever was
    written beside it under its name (`<stem>_confusion.png`, `<stem>_*.json` ...)."""
    siblings = sorted(weights.parent.glob(f"{weights.stem}_*"))
    metadata = weights.with_suffix(".json")
    return [weights, *([metadata] if metadata.is_file() else []), *siblings]


def publish(weights: Path, model_dir: Path) -> int:
    """Copy `weights` and the files that belong to it into `model_dir` as the next version; return
    its number. The copies take the served names (mnist_cnn_model.*), and the metadata records the
    version and when it was published."""
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=model_dir, prefix=".publishing-"))
    try:
        stem = Path(WEIGHTS_FILE).stem
        for source in files_of(weights):
            shutil.copy2(source, staging / (stem + source.name[len(weights.stem) :]))
        while True:
            version = max([FIRST_VERSION, *version_folders(model_dir)]) + 1
            _stamp_metadata(staging / Path(WEIGHTS_FILE).with_suffix(".json"), version)
            try:
                # Fails when another publish took this number first: then try the next one.
                staging.rename(model_dir / str(version))
                return version
            except OSError:
                if not (model_dir / str(version)).exists():
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stamp_metadata(path: Path, version: int) -> None:
    if not path.is_file():
        return
    metadata = json.loads(path.read_text())
    metadata.update(
        file=WEIGHTS_FILE,
        version=version,
        published=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    path.write_text(json.dumps(metadata, indent=2) + "\n")
