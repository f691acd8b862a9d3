"""`python -m bench.corrections`: the learning-from-corrections target, measured end to end.

Sends Semeion's lines 1-1,000 with their labels to a real `python -m service` as corrections,
fine-tunes, publishes and reloads, and reads lines 1,001-1,593 (other writers, never sent) before
and after through the service; MNIST's test set before and after comes from the fine-tune's own
check. Prints the figures and writes them to bench/results/corrections.json.

    python -m bench.corrections [--corrections 1000] [--database-url URL] [-- FINETUNE ARGS...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from devtools import learning

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.corrections", description=__doc__)
    parser.add_argument("--corrections", type=int, default=1000, help="lines 1..N (at most 1,000)")
    parser.add_argument("--database-url", help="default: SQLite in a temporary DATA_DIR")
    parser.add_argument("finetune_args", nargs="*", help="passed to python -m training after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="corrections-") as folder:
        run = learning.run(
            Path(folder), args.corrections, tuple(args.finetune_args), args.database_url
        )
    print(
        f"\n{run.corrections} corrections from Semeion's lines 1-{run.corrections}, "
        f"fine-tuned, published as version {run.version} and reloaded:\n"
        f"  Semeion lines 1,001-1,593   {run.semeion_before:.2%} → {run.semeion_after:.2%}\n"
        f'    answered "digit"         {run.answered_digit_before:.2%} → '
        f"{run.answered_digit_after:.2%}\n"
        f'    right when "digit"       {run.right_when_digit_before:.2%} → '
        f"{run.right_when_digit_after:.2%}\n"
        f"  MNIST test (10,000)         {run.mnist_before:.2%} → {run.mnist_after:.2%} "
        f"({(run.mnist_after - run.mnist_before) * 100:+.2f} points)\n"
        f"  held-out corrections        {run.heldout_before:.1%} → {run.heldout_after:.1%}\n"
        f"  fine-tune command           {run.finetune_seconds:.0f}s "
        f"({os.cpu_count()} cores, torch {torch.get_num_threads()} threads)"
    )
    RESULTS.mkdir(exist_ok=True)
    figures = asdict(run) | {"machine": platform.platform(), "cpus": os.cpu_count()}
    (RESULTS / "corrections.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
