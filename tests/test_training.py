"""The training module: a smoke run, determinism, the files it writes, and the committed model."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tests.conftest import BASE_MODEL_PATH, MODEL_PATH, ROOT
from training.checkpoint import load_checkpoint
from training.data import DataDirError, load_split
from training.evaluate import evaluate
from training.metadata import read_metadata, sha256_of
from training.train import RECIPES, train


@pytest.fixture(scope="module")
def splits(mnist_dir: Path):
    return load_split(train=True, data_dir=mnist_dir), load_split(train=False, data_dir=mnist_dir)


def test_mnist_loads_from_the_shared_gzip_files(splits) -> None:
    train_split, test_split = splits
    assert train_split.images.shape == (60_000, 1, 28, 28)
    assert test_split.images.shape == (10_000, 1, 28, 28)
    assert float(test_split.images.min()) >= 0.0 and float(test_split.images.max()) <= 1.0
    assert torch.bincount(test_split.labels).tolist()[:2] == [980, 1135]  # as published


def test_loss_falls_in_a_short_run(splits) -> None:
    train_split, test_split = splits
    recipe = replace(RECIPES["seed"], epochs=2)
    _, history, report = train(
        recipe,
        train_split.subset(3000),
        test_split.subset(1000),
        torch.device("cpu"),
        seed=0,
        progress=False,
    )
    assert history[1].train_loss < history[0].train_loss < 2.3  # 2.3 = ln(10), a blind guess
    assert report.accuracy > 0.5  # far above the 10 % of guessing, after a few seconds


def test_augmented_recipe_trains_and_is_deterministic_for_a_seed(splits) -> None:
    train_split, test_split = splits
    recipe = replace(RECIPES["augmented"], epochs=1)
    runs = [
        train(
            recipe,
            train_split.subset(1000),
            test_split.subset(200),
            torch.device("cpu"),
            seed=3,
            progress=False,
        )[0].state_dict()
        for _ in range(2)
    ]
    for key in runs[0]:
        torch.testing.assert_close(runs[0][key], runs[1][key], rtol=0, atol=0)


@pytest.mark.slow
def test_cli_smoke_run_writes_weights_metadata_and_plot(mnist_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "mnist_cnn_model.pth"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "--epochs",
            "1",
            "--train-limit",
            "2000",
            "--data-dir",
            str(mnist_dir),
            "--output",
            str(output),
            "--seed",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "epoch  1/1" in result.stdout and "test accuracy" in result.stdout
    metadata = json.loads(output.with_suffix(".json").read_text())
    assert metadata["sha256"] == sha256_of(output)
    assert metadata["parameters"] == 21_840
    assert metadata["seed"] == 1 and metadata["epochs"] == 1 and metadata["train_images"] == 2000
    assert metadata["normalisation"] == {"mean": 0.1307, "std": 0.3081}
    assert len(metadata["confusion_matrix"]) == 10 and len(metadata["per_class_accuracy"]) == 10
    assert (tmp_path / "mnist_cnn_model_confusion.png").read_bytes().startswith(b"\x89PNG")
    model, _ = load_checkpoint(output, torch.device("cpu"))
    assert sum(p.numel() for p in model.parameters()) == 21_840


def test_committed_model_reaches_the_target_accuracy(splits) -> None:
    _, test_split = splits
    report = evaluate(
        load_checkpoint(MODEL_PATH, torch.device("cpu"))[0], test_split, torch.device("cpu")
    )
    assert report.accuracy >= 0.993
    assert min(report.per_class_accuracy) >= 0.97
    assert report.accuracy == pytest.approx(read_metadata(MODEL_PATH)["test_accuracy"], abs=1e-4)


def test_evaluate_command_prints_the_report(mnist_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "training.evaluate", str(MODEL_PATH), "--data-dir", str(mnist_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    accuracy = float(result.stdout.split("test accuracy ")[1].split("%")[0])
    assert accuracy >= 99.3
    assert "confusion matrix" in result.stdout and "per-class accuracy" in result.stdout


def test_committed_metadata_matches_the_weights_files() -> None:
    base = read_metadata(BASE_MODEL_PATH)
    assert base is not None
    assert base["sha256"] == sha256_of(BASE_MODEL_PATH)
    assert base["recipe"]["name"] == "augmented"
    # The served model is that base fine-tuned on Semeion's fitting lines, and says so.
    served = read_metadata(MODEL_PATH)
    assert served is not None
    assert served["sha256"] == sha256_of(MODEL_PATH)
    assert served["recipe"]["name"] == "finetune"
    assert served["lineage"]["base"]["sha256"] == base["sha256"]
    assert served["lineage"]["feedback"]["corrections"] == 1000


@pytest.mark.parametrize("argv", [["--data-dir", "/nonexistent/mnist"], ["--data-dir", "/tmp"]])
def test_bad_data_dir_is_a_clear_error_not_a_traceback(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "training", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "train-images-idx3-ubyte.gz" in result.stderr


def test_damaged_gzip_file_is_caught_by_the_checksum(tmp_path: Path, mnist_dir: Path) -> None:
    for name in (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ):
        (tmp_path / name).write_bytes((mnist_dir / name).read_bytes())
    (tmp_path / "SHA256SUMS").write_text((mnist_dir / "SHA256SUMS").read_text())
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")
    with pytest.raises(DataDirError, match="sha256"):
        load_split(train=False, data_dir=tmp_path, cache_dir=tmp_path / "cache")
