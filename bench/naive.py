"""The baseline: a straightforward one-image-per-forward FastAPI server, as a tutorial would write it.

Same model, same MNIST-style normalisation, none of the service's engineering: the work runs in
FastAPI's thread pool, Pillow and numpy step by step (a median over the whole canvas, a crop,
a Lanczos resize, centring), one forward pass per request, the default JSON response.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from fastapi import FastAPI, Request
from PIL import Image

from training.model import MnistCNN, standardise

MODEL = MnistCNN()
MODEL.load_state_dict(torch.load(Path("models/mnist_cnn_model.pth"), weights_only=True))
MODEL.eval()
app = FastAPI()


def preprocess(data: bytes) -> torch.Tensor:
    image = Image.open(io.BytesIO(data)).convert("RGBA")
    background = Image.new("RGBA", image.size, (0, 0, 0, 255))
    gray = np.array(Image.alpha_composite(background, image).convert("L"), dtype=np.float32)
    if np.median(gray) > 127:
        gray = 255 - gray
    ys, xs = np.nonzero(gray > 30)
    crop = gray[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    scale = 20 / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.array(Image.fromarray(crop.astype(np.uint8)).resize(size, Image.LANCZOS), np.float32)
    cy, cx = (np.array(np.nonzero(small)) * small[small > 0]).sum(axis=1) / small.sum()
    frame = np.zeros((28, 28), np.float32)
    top, left = round(float(14 - cy)), round(float(14 - cx))
    top, left = min(max(top, 0), 28 - small.shape[0]), min(max(left, 0), 28 - small.shape[1])
    frame[top : top + small.shape[0], left : left + small.shape[1]] = small
    return standardise(torch.from_numpy(frame) / 255).view(1, 1, 28, 28)


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/predict")
def predict(request: Request) -> dict:
    import anyio.from_thread

    data = anyio.from_thread.run(request.body)
    with torch.no_grad():
        probabilities = torch.softmax(MODEL(preprocess(data)), dim=1)[0]
    digit = int(probabilities.argmax())
    return {
        "digit": digit,
        "confidence": float(probabilities[digit]),
        "probabilities": probabilities.tolist(),
    }
