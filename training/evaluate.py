"""Evaluate a checkpoint on the 10,000 MNIST test images: accuracy, per-class accuracy, confusion matrix.

python -m training.evaluate models/mnist_cnn_model.pth [--data-dir DIR] [--plot confusion.png]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from training.checkpoint import ModelLoadError, load_checkpoint
from training.data import DataDirError, MnistSplit, default_data_dir, load_split
from training.model import NUM_CLASSES, resolve_device, standardise


@dataclass(frozen=True)
class EvalReport:
    loss: float
    accuracy: float
    per_class_accuracy: list[float]
    confusion_matrix: list[list[int]]  # rows: true digit, columns: predicted digit

    @property
    def errors(self) -> int:
        return sum(sum(row) for row in self.confusion_matrix) - sum(
            self.confusion_matrix[i][i] for i in range(NUM_CLASSES)
        )


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module, split: MnistSplit, device: torch.device, batch_size: int = 1000
) -> EvalReport:
    model.eval()
    confusion = torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.int64)
    total_loss = 0.0
    for start in range(0, len(split), batch_size):
        images = standardise(split.images[start : start + batch_size]).to(device)
        labels = split.labels[start : start + batch_size].to(device)
        logits = model(images)
        total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
        pairs = labels * NUM_CLASSES + logits.argmax(dim=1)
        confusion += torch.bincount(pairs, minlength=NUM_CLASSES**2).view(NUM_CLASSES, -1).cpu()
    correct = confusion.diag()
    return EvalReport(
        loss=total_loss / len(split),
        accuracy=correct.sum().item() / len(split),
        per_class_accuracy=(correct / confusion.sum(dim=1).clamp(min=1)).tolist(),
        confusion_matrix=confusion.tolist(),
    )


def format_report(report: EvalReport) -> str:
    lines = [
        f"test accuracy {report.accuracy:.2%}  ({report.errors} errors in "
        f"{sum(map(sum, report.confusion_matrix))})  test loss {report.loss:.4f}",
        "per-class accuracy: "
        + "  ".join(f"{digit}:{acc:.2%}" for digit, acc in enumerate(report.per_class_accuracy)),
        "confusion matrix (rows: true digit, columns: predicted):",
        "       " + "".join(f"{d:>6}" for d in range(NUM_CLASSES)),
    ]
    lines += [
        f"    {digit:>2} " + "".join(f"{n:>6}" for n in row)
        for digit, row in enumerate(report.confusion_matrix)
    ]
    return "\n".join(lines)


def save_confusion_png(report: EvalReport, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 5.6), dpi=100)
    matrix = torch.tensor(report.confusion_matrix, dtype=torch.float64)
    # A log scale keeps the handful of mistakes visible beside ~1,000 correct answers per digit.
    shown = axes.imshow(torch.log10(matrix + 1), cmap="Blues")
    for true_digit in range(NUM_CLASSES):
        for predicted in range(NUM_CLASSES):
            count = report.confusion_matrix[true_digit][predicted]
            if count:
                colour = "white" if true_digit == predicted else "black"
                axes.text(
                    predicted,
                    true_digit,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=colour,
                )
    axes.set(
        xticks=range(NUM_CLASSES),
        yticks=range(NUM_CLASSES),
        xlabel="predicted digit",
        ylabel="true digit",
        title=f"{title}\ntest accuracy {report.accuracy:.2%}",
    )
    figure.colorbar(shown, ax=axes, label="log10(count + 1)")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", type=Path, help="a state_dict saved by python -m training")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="folder with the four MNIST gzip files (default: $MNIST_DATA_DIR)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument("--plot", type=Path, help="also write the confusion matrix as a PNG here")
    args = parser.parse_args(argv)

    try:
        device = resolve_device(args.device)
        test = load_split(train=False, data_dir=args.data_dir)
        model, _ = load_checkpoint(args.checkpoint, device)
    except (DataDirError, ModelLoadError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = evaluate(model, test, device)
    print(f"{args.checkpoint} on {len(test)} MNIST test images ({device})")
    print(format_report(report))
    if args.plot:
        save_confusion_png(report, args.plot, title=args.checkpoint.name)
        print(f"confusion matrix written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
