"""Train the product's CNN on MNIST and write the state_dict, its metadata and a confusion-matrix picture.

python -m training                         # the seed recipe: 10 epochs, Adam 1e-3, batch 100
python -m training --recipe augmented      # the committed model: augmentation + OneCycle, 40 epochs
python -m training --recipe finetune --feedback DATABASE_URL --base BASE.pth --output OUT.pth
                                           # learn the corrections people sent (training/finetune.py)
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from training.augment import augment_batch
from training.augment import settings as augment_settings
from training.data import DataDirError, MnistSplit, default_data_dir, load_split
from training.evaluate import EvalReport, evaluate, format_report, save_confusion_png
from training.metadata import confusion_png_path_for, sha256_of, write_metadata
from training.model import (
    MNIST_MEAN,
    MNIST_STD,
    MODEL_NAME,
    MnistCNN,
    count_parameters,
    resolve_device,
    standardise,
)

DEFAULT_OUTPUT = Path("mnist_cnn_model.pth")


@dataclass(frozen=True)
class Recipe:
    name: str
    epochs: int
    batch_size: int
    lr: float
    one_cycle_max_lr: float | None  # None: constant learning rate
    conv_dropout: float
    fc_dropout: float
    augment: bool


RECIPES = {
    # The product's design: plain Adam on the raw training set.
    "seed": Recipe(
        "seed",
        epochs=10,
        batch_size=100,
        lr=1e-3,
        one_cycle_max_lr=None,
        conv_dropout=0.5,
        fc_dropout=0.5,
        augment=False,
    ),
    # Drawn digits vary more than MNIST's: augment, and train longer with a OneCycle schedule. Lighter
    # dropout, since augmentation already regularises (dropout is off at inference either way).
    "augmented": Recipe(
        "augmented",
        epochs=40,
        batch_size=100,
        lr=1e-3,
        one_cycle_max_lr=1e-2,
        conv_dropout=0.1,
        fc_dropout=0.1,
        augment=True,
    ),
}


@dataclass(frozen=True)
class EpochLog:
    epoch: int
    train_loss: float
    test_loss: float
    test_accuracy: float
    seconds: float


def train(
    recipe: Recipe,
    train_split: MnistSplit,
    test_split: MnistSplit,
    device: torch.device,
    seed: int = 0,
    progress: bool = True,
) -> tuple[MnistCNN, list[EpochLog], EvalReport]:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = MnistCNN(conv_dropout=recipe.conv_dropout, fc_dropout=recipe.fc_dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    steps_per_epoch = -(-len(train_split) // recipe.batch_size)
    scheduler = (
        torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=recipe.one_cycle_max_lr,
            epochs=recipe.epochs,
            steps_per_epoch=steps_per_epoch,
        )
        if recipe.one_cycle_max_lr
        else None
    )
    history: list[EpochLog] = []
    report: EvalReport | None = None
    for epoch in range(1, recipe.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_split), generator=generator)
        running_loss = 0.0
        batches = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch}/{recipe.epochs}",
            unit="batch",
            leave=False,
            disable=not progress,
        )
        for step in batches:
            index = order[step * recipe.batch_size : (step + 1) * recipe.batch_size]
            images = train_split.images[index]
            if recipe.augment:
                images = augment_batch(images, generator)
            images = standardise(images).to(device)
            labels = train_split.labels[index].to(device)
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
            optimizer.step()
            if scheduler:
                scheduler.step()
            running_loss += loss.item()
            batches.set_postfix(loss=f"{running_loss / (step + 1):.4f}")
        report = evaluate(model, test_split, device)
        log = EpochLog(
            epoch,
            running_loss / steps_per_epoch,
            report.loss,
            report.accuracy,
            time.perf_counter() - started,
        )
        history.append(log)
        print(
            f"epoch {epoch:>2}/{recipe.epochs}  train loss {log.train_loss:.4f}  "
            f"test loss {log.test_loss:.4f}  test accuracy {log.test_accuracy:.2%}  "
            f"{log.seconds:.1f}s",
            flush=True,
        )
    assert report is not None, "a recipe trains for at least one epoch"
    return model, history, report


def save(
    model: MnistCNN,
    output: Path,
    recipe: Recipe,
    seed: int,
    device: torch.device,
    history: list[EpochLog],
    report: EvalReport,
    train_images: int,
) -> None:
    details = {
        "recipe": asdict(recipe),
        "augmentation": augment_settings() if recipe.augment else None,
        "seed": seed,
        "epochs": recipe.epochs,
        "train_images": train_images,
        "seconds": round(sum(log.seconds for log in history), 1),
        "history": [asdict(log) for log in history],
    }
    title = f"{MODEL_NAME} ({recipe.name} recipe, {recipe.epochs} epochs)"
    write_model(model, output, report, device, title, details)


def write_model(
    model: MnistCNN,
    output: Path,
    report: EvalReport,
    device: torch.device,
    title: str,
    details: dict[str, Any],
) -> None:
    """The weights, their metadata (what every model records, then the recipe's `details`) and
    the confusion-matrix picture, side by side."""
    output.parent.mkdir(parents=True, exist_ok=True)
    # Saved from the CPU so the file loads the same on machines with and without a GPU.
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, output)
    write_metadata(
        output,
        {
            "name": MODEL_NAME,
            "file": output.name,
            "sha256": sha256_of(output),
            "parameters": count_parameters(model),
            "test_accuracy": report.accuracy,
            "test_loss": report.loss,
            "per_class_accuracy": report.per_class_accuracy,
            "confusion_matrix": report.confusion_matrix,
            **details,
            "device": str(device),
            "torch_threads": torch.get_num_threads(),
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "normalisation": {"mean": MNIST_MEAN, "std": MNIST_STD},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )
    save_confusion_png(report, confusion_png_path_for(output), title=title)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--recipe",
        choices=[*sorted(RECIPES), "finetune"],
        default="seed",
        help="seed: the design's recipe; augmented: the committed model's; finetune: a model "
        "trained further on the corrections in --feedback",
    )
    parser.add_argument(
        "--epochs", type=int, help="default: the recipe's (seed 10, augmented 40, finetune 40)"
    )
    parser.add_argument(
        "--batch-size", type=int, help="default: 100 (finetune: corrections per batch, 32)"
    )
    parser.add_argument(
        "--lr", type=float, help="Adam learning rate (default 1e-3; finetune: OneCycle peak 5e-3)"
    )
    parser.add_argument(
        "--feedback", metavar="DATABASE_URL", help="finetune: the feedback database to learn from"
    )
    parser.add_argument("--base", type=Path, help="finetune: the model to start from")
    parser.add_argument(
        "--detector",
        type=Path,
        help="finetune: the not-a-digit detector the service uses, for the refitted verdict "
        "numbers (default: models/not_a_digit.pth)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="finetune: write the model even when it loses over 0.3 points of MNIST test accuracy",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda ...")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="folder with the four MNIST gzip files (default: $MNIST_DATA_DIR; "
        "none: torchvision downloads MNIST)",
    )
    parser.add_argument(
        "--train-limit", type=int, help="train on the first N images only (a quick smoke run)"
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="hide the per-epoch progress bar"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.recipe == "finetune":
        # Imported here: only this recipe needs the feedback database's libraries.
        from training import finetune

        tuned = {"epochs": args.epochs, "corrections_per_batch": args.batch_size, "max_lr": args.lr}
        chosen = {name: value for name, value in tuned.items() if value is not None}
        return finetune.run(args, replace(finetune.FinetuneRecipe(), **chosen))
    overrides = {
        k: v
        for k, v in {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr}.items()
        if v is not None
    }
    recipe = replace(RECIPES[args.recipe], **overrides)
    try:
        device = resolve_device(args.device)
        train_split = load_split(train=True, data_dir=args.data_dir)
        test_split = load_split(train=False, data_dir=args.data_dir)
    except (DataDirError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.train_limit:
        train_split = train_split.subset(args.train_limit)

    print(
        f"training {MODEL_NAME} with the {recipe.name} recipe on {len(train_split)} images, "
        f"{device}, seed {args.seed}: {recipe}",
        flush=True,
    )
    model, history, report = train(
        recipe, train_split, test_split, device, seed=args.seed, progress=not args.no_progress
    )
    save(model, args.output, recipe, args.seed, device, history, report, len(train_split))
    print(format_report(report))
    print(
        f"wrote {args.output}, its metadata and confusion matrix "
        f"({sum(log.seconds for log in history):.0f}s of training)"
    )
    return 0
