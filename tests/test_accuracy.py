"""Does the product read digits? Accuracy measured through the HTTP API, as clients see it."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from devtools.drawn_digits import drawn_digits, encode
from tests.conftest import MODEL_PATH
from training.metadata import read_metadata

DRAWN_COUNT = 1000


@pytest.mark.slow
def test_mnist_test_digits_sent_as_pngs_score_like_offline(
    api_server, mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    """All 10,000 MNIST test digits as 28×28 PNGs, through /predict/batch: within 0.3 % of the
    accuracy measured offline on the tensors."""
    images, labels = mnist_test
    chunks = [range(start, min(start + 64, len(images))) for start in range(0, len(images), 64)]

    def predict(chunk: range) -> list[int]:
        body = {"images": [base64.b64encode(encode(images[i])).decode() for i in chunk]}
        response = httpx.post(f"{api_server.url}/predict/batch", json=body, timeout=30)
        response.raise_for_status()
        return [p["digit"] for p in response.json()["predictions"]]

    with ThreadPoolExecutor(4) as pool:
        predicted = np.concatenate([np.array(p) for p in pool.map(predict, chunks)])
    accuracy = float((predicted == labels).mean())
    offline = read_metadata(MODEL_PATH)["test_accuracy"]
    print(f"MNIST test as PNG through HTTP: {accuracy:.2%} (offline {offline:.2%})")
    assert accuracy >= offline - 0.003


@pytest.mark.slow
def test_drawn_digits_are_read_correctly(
    api_server, mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    """MNIST test digits drawn at random sizes and places on 280×280 canvases, in both polarities,
    RGBA and RGB, with thinner and thicker pens: at least 99 % read right, one request each."""
    images, labels = mnist_test
    digits = drawn_digits(images, labels, DRAWN_COUNT, seed=2024)

    def predict(png: bytes) -> int:
        response = httpx.post(
            f"{api_server.url}/predict",
            content=png,
            headers={"Content-Type": "image/png"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["digit"]

    with ThreadPoolExecutor(8) as pool:
        predicted = np.array(list(pool.map(predict, [d.png for d in digits])))
    truth = np.array([d.label for d in digits])
    styles = np.array([d.style for d in digits])
    for style in sorted(set(styles)):
        mask = styles == style
        print(f"{style}: {(predicted[mask] == truth[mask]).mean():.2%} of {mask.sum()}")
    accuracy = float((predicted == truth).mean())
    print(f"drawn digits through HTTP: {accuracy:.2%} of {len(digits)}")
    assert accuracy >= 0.99
