"""The model at run time: loaded once, warmed up, and served through the batcher and a preprocessing pool.

Routes reach it through `get_runtime`; it knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch
from fastapi import Depends, Request

from service import metrics
from service.batcher import DynamicBatcher
from service.errors import ModelUnavailableError
from service.inputs import RawImage
from service.model_loader import ModelInfo, ModelLoadError, load_model
from service.predictor import Predictor
from service.preprocessing import preprocess_image, preprocess_pixels
from service.settings import Settings
from training.model import resolve_device

logger = logging.getLogger(__name__)


@dataclass
class ModelRuntime:
    settings: Settings
    device: torch.device | None = None
    info: ModelInfo | None = None
    predictor: Predictor | None = None
    batcher: DynamicBatcher | None = None
    failure: str | None = "the model is still loading"
    _pool: ThreadPoolExecutor | None = None

    @property
    def ready(self) -> bool:
        return self.batcher is not None

    def start(self) -> None:
        """Load and warm up the model; on failure, record why (served by /health) instead of dying."""
        started = time.perf_counter()
        torch.set_num_threads(self.settings.torch_threads)
        self._pool = ThreadPoolExecutor(self.settings.preprocess_threads, "preprocess")
        try:
            self.device = resolve_device(self.settings.device)
            model, self.info = load_model(self.settings.model_path, self.device)
        except (ModelLoadError, ValueError, RuntimeError) as error:
            self.failure = str(error)
            logger.error("model not loaded: %s", error)
            return
        self.predictor = Predictor(model, self.device)
        self.predictor.warm_up(self.settings.max_batch_size)
        self.batcher = DynamicBatcher(
            self.predictor.predict,
            max_batch_size=self.settings.max_batch_size,
            max_wait_s=self.settings.max_batch_wait_ms / 1000,
            max_queue=self.settings.max_queue,
            on_batch=metrics.observe_batch,
        )
        self.batcher.start()
        self.failure = None
        metrics.bind_runtime(self.batcher)
        logger.info(
            "model %s (sha256 %s…) ready on %s in %.2fs",
            self.info.path,
            self.info.sha256[:12],
            self.device,
            time.perf_counter() - started,
        )

    def stop(self) -> None:
        if self.batcher:
            self.batcher.stop()
        if self._pool:
            self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def device_name(self) -> str:
        return str(self.device) if self.device else "none"

    def require_ready(self) -> DynamicBatcher:
        if self.batcher is None:
            raise ModelUnavailableError(self.failure or "unknown reason")
        return self.batcher

    async def preprocess(self, images: list[RawImage]) -> np.ndarray:
        """Decode and normalise off the event loop; (k, 28, 28) digits with pixels 0-1."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._preprocess_all, images)

    def _preprocess_all(self, images: list[RawImage]) -> np.ndarray:
        limit = self.settings.max_image_pixels
        return np.stack(
            [
                preprocess_image(image, limit)
                if isinstance(image, bytes)
                else preprocess_pixels(image)
                for image in images
            ]
        )

    async def predict(self, digits: np.ndarray) -> np.ndarray:
        """(k, 10) probabilities for preprocessed digits, through the shared batcher."""
        return await self.require_ready().submit(digits)


async def get_runtime(request: Request) -> ModelRuntime:
    # async on purpose: FastAPI would run a plain function in its thread pool, a hop per request.
    return request.app.state.runtime


# The runtime as a route parameter: `runtime: Runtime`.
Runtime = Annotated[ModelRuntime, Depends(get_runtime)]
