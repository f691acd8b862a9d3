"""Honest answers: the verdict on real digits, held-out non-digits and photos, through the real API.

The figures the README reports, measured with the committed weights on sets never fitted on: MNIST
test, the drawn-digit set (seed 2024), Semeion lines 1,001-1,593, the held-out generators of every
kind of non-digit (seed 1; the thresholds were set on seed 0), and photo-like pictures of paper.
"""

from __future__ import annotations

import base64
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from devtools.drawn_digits import drawn_digits, encode
from devtools.other_scripts import other_script_letters
from devtools.photos import photos
from service.api.factory import create_app
from service.imaging.errors import InputError
from service.imaging.normalise import preprocess_image
from service.inference.verdict import VerdictPolicy
from tests.conftest import make_settings
from training.semeion import MEASURE, load_semeion
from training.synth.nondigits import KINDS, non_digits

NON_DIGITS_PER_KIND = 300


def verdicts(server_url: str, files: list[bytes]) -> list[dict]:
    """Every file through /predict/batch, 64 at a time, answers in order."""
    chunks = [files[i : i + 64] for i in range(0, len(files), 64)]

    def ask(chunk: list[bytes]) -> list[dict]:
        body = {"images": [base64.b64encode(f).decode() for f in chunk]}
        response = httpx.post(f"{server_url}/predict/batch", json=body, timeout=60)
        response.raise_for_status()
        return response.json()["predictions"]

    with ThreadPoolExecutor(4) as pool:
        return [answer for answers in pool.map(ask, chunks) for answer in answers]


def shares(answers: list[dict]) -> Counter[str]:
    return Counter(answer["verdict"] for answer in answers)


def report(name: str, answers: list[dict], labels: np.ndarray | None = None) -> dict[str, float]:
    count = Counter(a["verdict"] for a in answers)
    figures = {v: count[v] / len(answers) for v in ("digit", "unsure", "not_a_digit")}
    if labels is not None:
        digit = np.array([a["verdict"] == "digit" for a in answers])
        right = np.array([a["digit"] for a in answers]) == labels
        figures["right_when_digit"] = float(right[digit].mean()) if digit.any() else 0.0
        figures["plain_accuracy"] = float(right.mean())
    print(f"{name} ({len(answers)}): " + ", ".join(f"{k} {v:.2%}" for k, v in figures.items()))
    return figures


@pytest.mark.slow
def test_real_digits_are_seldom_refused_and_drawn_digits_answered_right(
    api_server, mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    images, labels = mnist_test
    mnist = report("MNIST test", verdicts(api_server.url, [encode(i) for i in images]), labels)
    inverted = report(
        "MNIST test, dark on light (first 2,000)",
        verdicts(api_server.url, [encode(255 - i) for i in images[:2000]]),
        labels[:2000],
    )
    drawn = drawn_digits(images, labels, 1000, seed=2024)
    drawn_figures = report(
        "drawn digits",
        verdicts(api_server.url, [d.png for d in drawn]),
        np.array([d.label for d in drawn]),
    )
    for figures in (mnist, inverted, drawn_figures):
        assert figures["not_a_digit"] <= 0.01
    assert drawn_figures["right_when_digit"] >= 0.995
    assert drawn_figures["unsure"] <= 0.10
    assert mnist["plain_accuracy"] >= 0.993


@pytest.mark.slow
def test_semeion_writers_are_seldom_refused(api_server) -> None:
    """Semeion lines 1,001-1,593 (never fitted on), as 16×16 PNGs in both polarities."""
    try:
        images, labels = load_semeion(lines=MEASURE)
    except FileNotFoundError as error:
        pytest.skip(str(error))
    for name, pictures in (("white on black", images), ("black on white", 255 - images)):
        figures = report(
            f"Semeion 1,001-1,593, {name}",
            verdicts(api_server.url, [encode(p) for p in pictures]),
            labels,
        )
        # The 1 %, a hair over: 6 of 593 (1.01 %) since an input both networks doubt is
        # refused (4 before, README "Honest answers"); a seventh would fail.
        assert figures["not_a_digit"] <= 0.0102
        # Answering "unsure" must buy accuracy: right more often when it says "digit".
        assert figures["right_when_digit"] > figures["plain_accuracy"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_held_out_non_digits_are_refused(api_server, kind: str) -> None:
    """Each kind drawn by its held-out generator (other fonts, pens, parameters) with a seed the
    thresholds never saw."""
    pictures = non_digits(kind, "held_out", NON_DIGITS_PER_KIND, seed=1)
    figures = report(f"held-out {kind}", verdicts(api_server.url, readable(pictures)))
    assert figures["not_a_digit"] >= REFUSED_AT_LEAST[kind]
    assert figures["digit"] <= CONFIDENT_AT_MOST[kind]


@pytest.mark.slow
def test_letters_of_other_alphabets_are_refused(api_server) -> None:
    """Greek and Cyrillic letters (devtools/other_scripts.py), which no fitting or threshold set
    holds: measured 89.7 % refused."""
    answers = verdicts(api_server.url, readable(other_script_letters(NON_DIGITS_PER_KIND)))
    figures = report("other alphabets", answers)
    assert figures["not_a_digit"] >= 0.87
    assert figures["digit"] <= 0.05


def readable(pictures: list[np.ndarray]) -> list[bytes]:
    """The pictures as PNGs, less those the service finds blank or too faint: they get 422 "no
    digit found", also an honest answer, but /predict/batch would refuse the whole batch for it."""
    files = []
    for picture in pictures:
        png = encode(picture)
        try:
            preprocess_image(png, 1 << 24)
        except InputError:
            continue
        files.append(png)
    return files


# The target is 95 % not_a_digit for every kind; all but doodles and pictures fall
# short of it (README, "Honest answers", gives the figures and why): these floors are what each
# kind reaches, a little under, so that a regression fails. What matters most to a person, a
# confident digit for a non-digit, is held to at most 5 % everywhere.
REFUSED_AT_LEAST = {
    "typeset letters": 0.93,
    "pen letters": 0.87,
    "scribbles": 0.90,
    "shapes": 0.93,
    "doodles": 0.95,
    "pictures": 0.94,
}
CONFIDENT_AT_MOST = dict.fromkeys(KINDS, 0.05)


@pytest.mark.slow
def test_photos_of_paper_are_read(api_server, mnist_test: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = mnist_test
    pictures = photos(images, labels, 300, seed=11)
    answers = verdicts(api_server.url, [p.jpeg for p in pictures])
    truth = np.array([p.label for p in pictures])
    figures = report("photo-like", answers, truth)
    assert figures["plain_accuracy"] >= PHOTOS_RIGHT_AT_LEAST


PHOTOS_RIGHT_AT_LEAST = 0.97


@pytest.mark.slow
def test_photos_of_a_sheet_on_a_desk_are_read(
    api_server, mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    """The same photos with the sheet lying askew on a desk that shows around it (another
    seed): the desk and the sheet's edge must not read as ink (17 % right before that was
    handled, README "Honest answers")."""
    images, labels = mnist_test
    pictures = photos(images, labels, 300, seed=12, on_desk=True)
    answers = verdicts(api_server.url, [p.jpeg for p in pictures])
    figures = report("photo-like, on a desk", answers, np.array([p.label for p in pictures]))
    assert figures["plain_accuracy"] >= DESK_PHOTOS_RIGHT_AT_LEAST


DESK_PHOTOS_RIGHT_AT_LEAST = 0.92  # measured 94.0 %; the 97 % is not reached here


def test_verdicts_off_answers_digit_without_the_detector() -> None:
    """VERDICTS=false: the detector is not loaded and every answer is "digit" (the bench compares)."""
    cross = np.zeros((200, 200), np.uint8)
    for i in range(200):
        cross[i, max(0, i - 8) : i + 8] = 255
        cross[i, max(0, 192 - i) : 208 - i] = 255
    with TestClient(create_app(make_settings(verdicts=False))) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert runtime.detector is None and not runtime.served.policy.uses_detector
        answer = client.post(
            "/predict", content=encode(cross), headers={"Content-Type": "image/png"}
        )
    assert answer.status_code == 200
    assert answer.json()["verdict"] == "digit"


def test_policy_orders_verdicts_and_names_alternatives() -> None:
    policy = VerdictPolicy(temperature=2.0, not_a_digit_above=0.0, unsure_below=0.7)
    logits = np.full((4, 11), -5.0, np.float32)
    logits[0, 3], logits[0, 10] = 20.0, -3.0  # a clear 3
    logits[1, 4], logits[1, 9], logits[1, 10] = 2.0, 1.5, -3.0  # 4 or 9
    logits[2, 8], logits[2, 10] = 20.0, 4.0  # confident, but the detector says no
    logits[3, 1], logits[3, 10] = 20.0, -3.0
    readings = policy.decide(logits, several=np.array([False, False, False, True]))
    assert readings.verdicts == ["digit", "unsure", "not_a_digit", "several_digits"]
    assert readings.digits == [3, 4, 8, 1]
    assert readings.alternatives[0] == []
    assert [a.digit for a in readings.alternatives[1]] == [9]
    assert np.allclose(readings.probabilities.sum(axis=1), 1, atol=1e-6)
    # The temperature softens: 2.0 halves the logits before the softmax.
    assert readings.confidence[1] == pytest.approx(
        1 / (1 + np.exp(-0.25) + 8 * np.exp(-3.5)), rel=1e-4
    )


def test_an_input_both_networks_doubt_is_refused() -> None:
    """Doubted by the detector and below the classifier's unsure bar: not a digit. Either doubt
    alone leaves it unsure."""
    policy = VerdictPolicy(not_a_digit_above=4.0, doubt_above=1.0, unsure_below=0.8)
    logits = np.full((4, 11), -5.0, np.float32)
    logits[:, 3] = [0.0, 20.0, 0.0, 20.0]  # 3 unsure (0.4 against 4 or 9), a clear 3, ...
    logits[[0, 2], 4] = logits[[0, 2], 9] = -0.5
    logits[:, 10] = [2.0, 2.0, -3.0, -3.0]  # doubted, doubted, not doubted, not doubted
    verdicts = policy.decide(logits).verdicts
    assert verdicts == ["not_a_digit", "unsure", "unsure", "digit"]
