"""The fine-tune recipe's parts in-process: the held-out split, what not_a_digit corrections are
for, the loop, and the command on a small database, down to the metadata's lineage and the
refitted verdict numbers. tests/test_learning.py runs
it end to end as a separate command against a live service."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import torch

from feedback.migrate import upgrade
from feedback.store import Correction, FeedbackStore, NewFeedback
from service.inference.verdict import VerdictPolicy
from tests.conftest import BASE_MODEL_PATH, MODEL_PATH
from training import train
from training.checkpoint import load_checkpoint, load_detector
from training.data import MnistSplit
from training.finetune import (
    NON_DIGIT,
    CorrectionSet,
    FinetuneRecipe,
    finetune,
    split,
)
from training.metadata import sha256_of
from training.model import count_parameters
from training.verdict_fit import NOT_A_DIGIT_CORRECTIONS

DETECTOR_PATH = MODEL_PATH.with_name("not_a_digit.pth")


def corrections(count: int) -> list[Correction]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Correction(
            i, start + timedelta(minutes=i), str(i % 10), 0, 1, np.zeros((28, 28), np.float32)
        )
        for i in range(1, count + 1)
    ]


def test_a_tenth_is_held_out_the_same_way_every_time_and_none_of_a_handful() -> None:
    def ids(rows: list[Correction]) -> list[int]:
        return [row.id for row in rows]

    rows = corrections(50)
    kept, held = split(rows, 0.1, seed=0)
    assert len(held) == 5 and len(kept) == 45
    assert sorted(ids(kept) + ids(held)) == ids(rows)
    assert [ids(part) for part in split(rows, 0.1, seed=0)] == [ids(kept), ids(held)]
    assert ids(split(rows, 0.1, seed=1)[1]) != ids(held)
    few_kept, few_held = split(corrections(9), 0.1, seed=0)
    assert ids(few_kept) == ids(corrections(9)) and few_held == []


def test_not_a_digit_corrections_are_kept_apart_from_the_digits_the_classifier_learns() -> None:
    rows = corrections(3)
    rows.append(
        Correction(4, rows[-1].created_at, "not_a_digit", 8, 1, np.ones((28, 28), np.float32))
    )
    both = CorrectionSet.of(rows)
    assert both.labels.tolist() == [1, 2, 3, NON_DIGIT]
    assert both.digits().labels.tolist() == [1, 2, 3]  # the classifier's training data
    assert both.non_digits().shape == (1, 28, 28) and both.non_digits().min() == 1.0


def test_the_loop_keeps_the_network_and_moves_its_weights(
    mnist_test: tuple[np.ndarray, np.ndarray],
) -> None:
    images, labels = mnist_test
    base, _ = load_checkpoint(BASE_MODEL_PATH, torch.device("cpu"))
    digits = torch.from_numpy(images[:64].astype(np.float32) / 255).unsqueeze(1)
    wrong = CorrectionSet(digits[:32], (torch.from_numpy(labels[:32]) + 1) % 10)
    replay = MnistSplit(digits[32:], torch.from_numpy(labels[32:64]))
    recipe = FinetuneRecipe(epochs=2, corrections_per_batch=16, replay_per_batch=8)
    tuned = finetune(base, wrong.digits(), replay, recipe, torch.device("cpu"), progress=False)
    assert not tuned.training and count_parameters(tuned) == 21_840
    assert not torch.equal(tuned.fc2.weight, base.fc2.weight)


def test_the_command_writes_weights_and_lineage(
    mnist_dir: Path, mnist_test: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    upgrade(url)
    images, labels = mnist_test
    store = FeedbackStore(url)
    for image, label in zip(images[:40], labels[:40], strict=True):
        store.add(NewFeedback(str(label), int(label), [0.1] * 10, "digit", 1, image / 255.0, None))
    store.add(NewFeedback("not_a_digit", 4, [0.1] * 10, "digit", 1, images[40] / 255.0, None))
    store.close()
    output = tmp_path / "tuned.pth"
    argv = ["--recipe", "finetune", "--feedback", url, "--base", str(BASE_MODEL_PATH)]
    argv += ["--output", str(output), "--data-dir", str(mnist_dir), "--epochs", "1"]
    argv += ["--train-limit", "2000", "--no-progress"]
    assert train.main(argv) == 0
    metadata = json.loads(output.with_suffix(".json").read_text())
    assert metadata["sha256"] == sha256_of(output) and metadata["parameters"] == 21_840
    lineage = metadata["lineage"]
    assert lineage["base"] == {"file": str(BASE_MODEL_PATH), "sha256": sha256_of(BASE_MODEL_PATH)}
    fed = lineage["feedback"]
    assert fed["corrections"] == 41 and fed["train"] + fed["heldout"] == 41 and fed["heldout"] == 4
    assert fed["by_label"]["not_a_digit"] == 1 and fed["model_versions"] == [1]
    assert fed["first"] <= fed["last"] and "feedback.db" in fed["database"]
    accuracy = lineage["mnist_test_accuracy"]
    assert accuracy["base"] == pytest.approx(0.9934) and accuracy["finetuned"] > 0.98
    assert metadata["recipe"]["epochs"] == 1 and lineage["forced"] is False
    assert lineage["written_model_trained_on"] == 40  # after the held-out check, all the digits
    # The new weights' own verdict numbers, fitted with the detector every version uses: the
    # version answers verdicts and calibrated confidence once published.
    _, info = load_checkpoint(output, torch.device("cpu"))
    _, detector = load_detector(DETECTOR_PATH, torch.device("cpu"))
    assert info.verdict is not None and info.verdict["detector_sha256"] == detector.sha256
    assert info.verdict["temperature"] > 0
    policy = VerdictPolicy.from_metadata(info.verdict, detector.sha256, enabled=True)
    assert policy.uses_detector
    # The not_a_digit correction counted as a non-digit in the refit's check.
    assert metadata["verdict"]["check_figures"][NOT_A_DIGIT_CORRECTIONS]["count"] == 1
    assert "right_when_digit" not in metadata["verdict"]["check_figures"][NOT_A_DIGIT_CORRECTIONS]
    assert set(metadata["verdict_targets"]) >= {"mnist", "semeion", "scribbles"}
    assert output.with_name("tuned_confusion.png").is_file()
