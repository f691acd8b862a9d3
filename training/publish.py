"""`python -m training.publish OUT.pth --model-dir DIR`: add a trained model as the next version.

The weights are checked first (they load into the product's network and match the sha256 in their
metadata), then copied with the files beside them into DIR/<next version>/. The service serves the
new version after `POST /admin/reload` (or at its next start, when no version is pinned).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from training.checkpoint import ModelLoadError, load_checkpoint
from training.versions import files_of, publish


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.publish", description=__doc__)
    parser.add_argument("weights", type=Path, help="a .pth written by python -m training")
    parser.add_argument(
        "--model-dir",
        type=Path,
        required=True,
        help="the service's MODEL_DIR (default there: <DATA_DIR>/models)",
    )
    args = parser.parse_args(argv)
    try:
        load_checkpoint(args.weights, torch.device("cpu"))
    except ModelLoadError as error:
        print(f"error: not published: {error}", file=sys.stderr)
        return 2
    try:
        version = publish(args.weights, args.model_dir)
    except OSError as error:
        print(f"error: could not write to {args.model_dir}: {error}", file=sys.stderr)
        return 2
    copied = ", ".join(path.name for path in files_of(args.weights))
    print(
        f"published {args.weights} as version {version} in {args.model_dir / str(version)} ({copied})"
    )
    print("serve it with: curl -X POST -H 'X-Admin-Key: ...' http://HOST:PORT/admin/reload")
    return 0


if __name__ == "__main__":
    sys.exit(main())
