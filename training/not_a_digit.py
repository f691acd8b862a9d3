"""Train the not-a-digit detector and fit the verdict's numbers for the classifier it sits beside.

python -m training.not_a_digit                      # detector → models/not_a_digit.pth (+ .json),
                                                    # verdict numbers → models/mnist_cnn_model.json
python -m training.not_a_digit --refit-only         # keep the detector, refit the numbers only
                                                    # (after a new classifier, e.g. a fine-tune)

The data (training.detector_data) is drawn from seeds and cached; the first run draws about 100,000
pictures (a few minutes on 2 cores), later runs reuse them. Progress bars show each stage.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from training.augment import augment_batch
from training.checkpoint import ModelLoadError, load_checkpoint, load_detector
from training.data import DataDirError, default_data_dir, load_split
from training.detector import DETECTOR_NAME, NotDigitNet
from training.detector_data import (
    MNIST_CHECK,
    MNIST_FIT,
    SEMEION_CHECK,
    SEMEION_FIT,
    DetectorData,
    Sizes,
    build,
)
from training.metadata import read_metadata, sha256_of, write_metadata
from training.model import count_parameters, resolve_device, standardise
from training.semeion import load_semeion
from training.verdict_fit import VerdictFit, fit_verdict

DEFAULT_CLASSIFIER = Path("models/mnist_cnn_model.pth")
DEFAULT_DETECTOR = Path("models/not_a_digit.pth")
# Semeion's writers are the farthest from MNIST's among the digits we may fit on: weigh them up,
# and MNIST's digits scanned as theirs were, so the detector does not learn "MNIST's style" as "a
# digit".
SOURCE_WEIGHT = {"semeion": 4.0, "semeion enlarged": 4.0, "mnist scanned": 4.0}


@dataclass(frozen=True)
class DetectorRecipe:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    max_lr: float = 5e-3
    weight_decay: float = 1e-5
    augment: bool = True


def _weights(data: DetectorData) -> torch.Tensor:
    """Per-sample loss weights: digits and non-digits count equally, Semeion counts more."""
    non_digit_share = float(data.targets.mean())
    balance = np.where(data.targets == 1, 0.5 / non_digit_share, 0.5 / (1 - non_digit_share))
    boost = np.array([SOURCE_WEIGHT.get(name, 1.0) for name in data.source])
    return torch.from_numpy((balance * boost).astype(np.float32))


def train_detector(
    fit: DetectorData, recipe: DetectorRecipe, seed: int = 0, progress: bool = True
) -> tuple[NotDigitNet, list[dict[str, float]]]:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = NotDigitNet()
    images = torch.from_numpy(fit.inputs).unsqueeze(1)
    targets = torch.from_numpy(fit.targets)
    weights = _weights(fit)
    steps = max(1, len(targets) // recipe.batch_size)
    optimiser = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=recipe.max_lr, total_steps=recipe.epochs * steps
    )
    history = []
    for epoch in range(1, recipe.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(targets), generator=generator)
        total = 0.0
        bar = tqdm(
            range(steps), desc=f"epoch {epoch}/{recipe.epochs}", leave=False, disable=not progress
        )
        for step in bar:
            index = order[step * recipe.batch_size : (step + 1) * recipe.batch_size]
            batch = images[index]
            if recipe.augment:  # the classifier's drawing-like augmentation, for both classes alike
                batch = augment_batch(batch, generator)
            loss = F.binary_cross_entropy_with_logits(
                model(standardise(batch)), targets[index], weight=weights[index]
            )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
            optimiser.step()
            schedule.step()
            total += loss.item()
            bar.set_postfix(loss=f"{total / (step + 1):.4f}")
        log = {"epoch": epoch, "loss": total / steps, "seconds": time.perf_counter() - started}
        history.append(log)
        print(
            f"epoch {epoch:>2}/{recipe.epochs}  loss {log['loss']:.4f}  {log['seconds']:.0f}s",
            flush=True,
        )
    return model.eval(), history


def save_detector(
    model: NotDigitNet,
    path: Path,
    recipe: DetectorRecipe,
    sizes: Sizes,
    seed: int,
    history: list[dict[str, float]],
) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
    sha256 = sha256_of(path)
    write_metadata(
        path,
        {
            "name": DETECTOR_NAME,
            "file": path.name,
            "sha256": sha256,
            "parameters": count_parameters(model),
            "recipe": asdict(recipe),
            "sizes": asdict(sizes),
            "seed": seed,
            "history": history,
            "torch_version": torch.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )
    return sha256


def write_verdict(classifier_path: Path, verdict: VerdictFit) -> None:
    """Put the fitted numbers into the classifier's metadata (its weights, and sha256, unchanged)."""
    metadata: dict[str, Any] = read_metadata(classifier_path) or {}
    metadata["verdict"] = verdict.as_metadata()
    write_metadata(classifier_path, metadata)


def load_data(
    data_dir: Path | None, sizes: Sizes, seed: int, progress: bool, fit_too: bool = True
) -> tuple[DetectorData | None, DetectorData]:
    train = load_split(train=True, data_dir=data_dir)
    mnist_images = (train.images.squeeze(1) * 255).round().to(torch.uint8).numpy()
    mnist_labels = train.labels.numpy()
    semeion_images, semeion_labels = load_semeion()
    check = build(
        "check",
        (mnist_images[MNIST_CHECK], mnist_labels[MNIST_CHECK]),
        (semeion_images[SEMEION_CHECK], semeion_labels[SEMEION_CHECK]),
        sizes,
        seed,
        progress=progress,
    )
    if not fit_too:
        return None, check
    fit = build(
        "fit",
        (mnist_images[MNIST_FIT], mnist_labels[MNIST_FIT]),
        (semeion_images[SEMEION_FIT], semeion_labels[SEMEION_FIT]),
        sizes,
        seed,
        progress=progress,
    )
    return fit, check


def format_fit(verdict: VerdictFit) -> str:
    lines = [
        f"temperature {verdict.temperature:.3f}; not_a_digit above detector logit "
        f"{verdict.not_a_digit_above:.3f}, unsure above {verdict.doubt_above:.3f}; "
        f"unsure below confidence {verdict.unsure_below:.3f}",
        f"{'check set':<20} {'count':>6} {'not_a_digit':>12} {'unsure':>8} {'right':>8} {'ECE before':>11} {'after':>7}",
    ]
    for name, figure in verdict.check_figures.items():
        digit = "right_when_digit" in figure
        lines.append(
            f"{name:<20} {figure['count']:>6} {figure['not_a_digit']:>12.2%} {figure['unsure']:>8.2%} "
            + (
                f"{figure['right_when_digit']:>8.2%} "
                f"{verdict.ece_before[name]:>11.4f} {verdict.ece_after[name]:>7.4f}"
                if digit
                else ""
            )
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.not_a_digit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--classifier", type=Path, default=DEFAULT_CLASSIFIER)
    parser.add_argument("--output", type=Path, default=DEFAULT_DETECTOR, help="the detector file")
    parser.add_argument("--refit-only", action="store_true", help="keep the detector at --output")
    parser.add_argument("--epochs", type=int, default=DetectorRecipe.epochs)
    parser.add_argument(
        "--per-kind", type=int, default=Sizes.per_kind, help="non-digits of each kind"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes(per_kind=args.per_kind)
    recipe = DetectorRecipe(epochs=args.epochs)
    progress = not args.no_progress
    try:
        device = resolve_device(args.device)
        classifier, _ = load_checkpoint(args.classifier, device)
        fit, check = load_data(args.data_dir, sizes, args.seed, progress, not args.refit_only)
        if args.refit_only:
            detector, info = load_detector(args.output, device)
            sha256 = info.sha256
        else:
            assert fit is not None
            print(f"training {DETECTOR_NAME} on {len(fit.targets)} pictures", flush=True)
            detector, history = train_detector(fit, recipe, args.seed, progress)
            sha256 = save_detector(detector, args.output, recipe, sizes, args.seed, history)
    except (DataDirError, ModelLoadError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    verdict = fit_verdict(classifier.cpu(), detector.cpu(), check, detector_sha256=sha256)
    write_verdict(args.classifier, verdict)
    print(format_fit(verdict))
    print(f"wrote the verdict's numbers into {args.classifier.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
