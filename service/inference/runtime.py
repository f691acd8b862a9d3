"""The model at run time: loaded once, warmed up, and served through the batcher and a preprocessing pool.

The api package holds one ModelRuntime per app and hands it to the routes; this module knows nothing
of HTTP: when it cannot serve, it raises the errors of service/inference/errors.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from service import metrics
from service.imaging.normalise import Digits, RawImage, preprocess, to_gray
from service.imaging.pieces import NumberPieces, number_pieces
from service.imaging.segment import single_digit
from service.inference.batcher import DynamicBatcher
from service.inference.errors import ModelUnavailableError
from service.inference.predictor import Predictor, Probabilities
from service.inference.reading import ReadDigit, best_reading
from service.settings import Settings
from training.checkpoint import ModelInfo, ModelLoadError, load_checkpoint
from training.model import resolve_device

logger = logging.getLogger(__name__)
# A /read image may offer this many pieces to score per digit allowed (cut candidates included).
CANDIDATES_PER_DIGIT = 8


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
            model, self.info = load_checkpoint(self.settings.model_path, self.device)
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

    @property
    def model_name(self) -> str:
        return self.info.name if self.info else ""

    def require_ready(self) -> DynamicBatcher:
        """The batcher, or ModelUnavailableError saying why there is none."""
        if self.batcher is None:
            raise ModelUnavailableError(self.failure or "unknown reason")
        return self.batcher

    async def preprocess(self, images: Sequence[RawImage]) -> Digits:
        """Decode and normalise off the event loop; (k, 28, 28) digits with pixels 0-1."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._preprocess_all, images)

    def _preprocess_all(self, images: Sequence[RawImage]) -> Digits:
        limit = self.settings.max_image_pixels
        return np.stack([preprocess(image, limit) for image in images])

    async def prepare(self, images: Sequence[RawImage]) -> Prepared:
        """/predict's preprocessing, off the event loop: the digits, and which images hold
        several digits (the geometric check, when SEVERAL_DIGITS_CHECK is on)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._prepare_all, images)

    def _prepare_all(self, images: Sequence[RawImage]) -> Prepared:
        limit, check = self.settings.max_image_pixels, self.settings.several_digits_check
        singles = [single_digit(to_gray(image, limit), check) for image in images]
        return Prepared(np.stack([digit for digit, _ in singles]), [many for _, many in singles])

    async def predict(self, digits: Digits) -> Probabilities:
        """(k, 10) probabilities for preprocessed digits, through the shared batcher."""
        return await self.require_ready().submit(digits)

    async def read(self, image: RawImage) -> Reading:
        """Read a number: segment off the event loop, score every candidate piece as one job of
        the batcher (one forward pass), pick the best reading."""
        self.require_ready()
        loop = asyncio.get_running_loop()
        pieces = await loop.run_in_executor(self._pool, self._pieces_of, image)
        probabilities = await self.predict(pieces.digits)
        return Reading(pieces, best_reading(pieces, probabilities))

    def _pieces_of(self, image: RawImage) -> NumberPieces:
        settings = self.settings
        gray = to_gray(image, settings.max_image_pixels)
        # Every piece of one image is one job, and a job must fit in the queue.
        most = min(settings.max_queue, CANDIDATES_PER_DIGIT * settings.max_read_digits)
        return number_pieces(gray, settings.max_read_digits, most)


@dataclass(frozen=True)
class Prepared:
    digits: Digits
    several: list[bool]  # per image: holds more than one digit


@dataclass(frozen=True)
class Reading:
    pieces: NumberPieces
    digits: list[ReadDigit]  # left to right
