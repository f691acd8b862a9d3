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
from dataclasses import dataclass, field

import numpy as np
import torch

from service import metrics
from service.imaging.errors import TooManyPiecesError
from service.imaging.normalise import Digits, RawImage, to_gray
from service.imaging.pieces import NumberPieces, number_pieces
from service.imaging.segment import single_digit
from service.inference.batcher import DynamicBatcher
from service.inference.errors import ModelUnavailableError
from service.inference.predictor import Predictor
from service.inference.reading import best_reading, holds_several_digits
from service.inference.verdict import Outputs, Readings, VerdictPolicy
from service.settings import Settings
from training.checkpoint import ModelInfo, ModelLoadError, load_checkpoint, load_detector
from training.detector import NotDigitNet
from training.model import resolve_device

logger = logging.getLogger(__name__)
# A /read image may offer this many pieces to score per digit allowed (cut candidates included).
CANDIDATES_PER_DIGIT = 8
# /predict reads an image that looks like several digits as a number when it offers at most this
# many pieces to score (a handful of digits, touching ones included); beyond, it is no number.
SEVERAL_CANDIDATES = 32


@dataclass
class ModelRuntime:
    settings: Settings
    device: torch.device | None = None
    info: ModelInfo | None = None
    predictor: Predictor | None = None
    batcher: DynamicBatcher | None = None
    policy: VerdictPolicy = field(default_factory=VerdictPolicy)
    detector_info: ModelInfo | None = None
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
            detector = self._load_detector()
        except (ModelLoadError, ValueError, RuntimeError) as error:
            self.failure = str(error)  # plain text: /health and every 503 show it to clients
            cause = f" (cause: {error.__cause__})" if error.__cause__ else ""
            logger.error("model not loaded: %s%s", error, cause)
            return
        self.policy = VerdictPolicy.from_metadata(
            self.info.verdict,
            self.detector_info.sha256 if self.detector_info else None,
            self.settings.verdicts,
        )
        self.predictor = Predictor(
            model, self.device, detector if self.policy.uses_detector else None
        )
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

    def _load_detector(self) -> NotDigitNet | None:
        """The detector, when verdicts are on; a broken detector file stops the service like a
        broken model (its answers would be wrong, not just less informative)."""
        if not self.settings.verdicts:
            return None
        assert self.device is not None
        detector, self.detector_info = load_detector(self.settings.detector_path, self.device)
        return detector

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

    async def preprocess(self, images: Sequence[RawImage], check_several: bool = False) -> Prepared:
        """Decode and normalise off the event loop: (k, 28, 28) digits with pixels 0-1; with
        `check_several` (and SEVERAL_DIGITS_CHECK on), also the candidate pieces of each image
        whose ink looks like more than one digit, for predict_images to read."""
        check = check_several and self.settings.several_digits_check
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._preprocess_all, images, check)

    def _preprocess_all(self, images: Sequence[RawImage], check: bool) -> Prepared:
        settings = self.settings
        digits, pieces = [], {}
        budget = settings.max_queue // 4  # pieces one request may add to its batcher job
        for index, image in enumerate(images):
            gray = to_gray(image, settings.max_image_pixels)
            digit, looks_several = single_digit(gray, check)
            digits.append(digit)
            if looks_several:
                try:
                    found = number_pieces(gray, settings.max_read_digits, SEVERAL_CANDIDATES)
                except TooManyPiecesError:
                    continue  # marks beyond reading as a number: the image's own verdict stands
                if len(found.candidates) <= budget:
                    budget -= len(found.candidates)
                    pieces[index] = found
        return Prepared(np.stack(digits), pieces)

    async def predict(self, digits: Digits) -> Readings:
        """What the models read in preprocessed digits, through the shared batcher."""
        return self.policy.decide(await self.require_ready().submit(digits))

    async def predict_images(self, prepared: Prepared) -> Readings:
        """/predict's answers: each image read as one digit, and those whose pieces read as a
        number of several digits (reading.holds_several_digits) get verdict several_digits. The
        images and all the pieces are one job of the batcher: one forward pass."""
        parts = [prepared.digits, *(found.digits for found in prepared.pieces.values())]
        outputs = await self.require_ready().submit(np.concatenate(parts))
        count = len(prepared.digits)
        several = np.zeros(count, dtype=bool)
        start = count
        for index, found in prepared.pieces.items():
            end = start + len(found.candidates)
            _, readings = self._judge(found, outputs[start:end])
            several[index] = holds_several_digits(readings)
            start = end
        return self.policy.decide(outputs[:count], several)

    async def read(self, image: RawImage) -> Reading:
        """Read a number: segment off the event loop, score every candidate piece as one job of
        the batcher (one forward pass), pick the best reading, and judge its pieces as /predict
        judges a digit."""
        batcher = self.require_ready()
        loop = asyncio.get_running_loop()
        pieces = await loop.run_in_executor(self._pool, self._pieces_of, image)
        chosen, readings = self._judge(pieces, await batcher.submit(pieces.digits))
        return Reading(pieces, chosen, readings)

    def _judge(self, pieces: NumberPieces, outputs: Outputs) -> tuple[list[int], Readings]:
        """The best reading of a number's pieces, and the verdict machinery's readings of the
        pieces it is made of."""
        chosen = best_reading(pieces, outputs)
        return chosen, self.policy.decide(outputs[chosen])

    def _pieces_of(self, image: RawImage) -> NumberPieces:
        settings = self.settings
        gray = to_gray(image, settings.max_image_pixels)
        # Every piece of one image is one job, and a job must fit in the queue.
        most = min(settings.max_queue, CANDIDATES_PER_DIGIT * settings.max_read_digits)
        return number_pieces(gray, settings.max_read_digits, most)


@dataclass(frozen=True)
class Prepared:
    digits: Digits  # (k, 28, 28): each image as one digit
    pieces: dict[int, NumberPieces]  # image index → its candidate pieces, when it looks several


@dataclass(frozen=True)
class Reading:
    pieces: NumberPieces
    chosen: list[int]  # the candidates read, left to right (indices into pieces.candidates)
    readings: Readings  # what the models make of each chosen piece, in the same order
