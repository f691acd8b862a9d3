"""The model at run time: loaded, warmed up, served through the batcher and a preprocessing pool,
and swapped for another version without a restart.

The api package holds one ModelRuntime per app and hands it to the routes; this module knows nothing
of HTTP: when it cannot serve, it raises the errors of service/inference/errors.py.

Versions (training/versions.py): at start the runtime serves the version named in MODEL_DIR/current,
else the newest. `reload` loads another version, records it in that file and swaps it in; the other
worker processes follow the file (service/inference/watcher.py). A swap replaces one reference: a
request holds the ServedModel it started with, so requests in flight finish on the old weights and
new ones get the new weights, and none waits or fails.

Verdicts (service/inference/verdict.py): each version carries its own fitted numbers (the `verdict`
block of its metadata), so a ServedModel pairs weights with their VerdictPolicy and an answer's
verdict, confidence and model_version always come from the same version. The not-a-digit detector
is one file for every version (DETECTOR_PATH), loaded once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from service import metrics
from service.imaging.errors import InputError
from service.imaging.normalise import Digits, Ink, RawImage, find_ink, to_gray
from service.imaging.pieces import NumberPieces, number_pieces
from service.imaging.segment import single_digit
from service.inference.batcher import DynamicBatcher, PredictFn
from service.inference.errors import (
    ModelUnavailableError,
    ReloadError,
    UnknownVersionError,
    VersionLoadError,
)
from service.inference.predictor import make_predictor
from service.inference.reading import (
    best_reading,
    clearly_several_digits,
    holds_several_digits,
    worth_a_second_look,
)
from service.inference.verdict import NUM_CLASSES, Outputs, Readings, VerdictPolicy
from service.inference.watcher import CurrentVersionWatcher, signature
from service.settings import Settings
from training.checkpoint import ModelInfo, ModelLoadError, load_checkpoint, load_detector
from training.detector import NotDigitNet
from training.model import resolve_device
from training.versions import CURRENT_FILE, list_versions, read_current, write_current

logger = logging.getLogger(__name__)
# A /read image may offer this many pieces to score per digit allowed (cut candidates included).
CANDIDATES_PER_DIGIT = 8
# /predict reads an image that looks like several digits as a number when it offers at most this
# many pieces to score (a handful of digits, touching ones included); beyond, it is no number. At
# 32, one touching pair in ten (MNIST training digits) offered more and went unread.
SEVERAL_CANDIDATES = 48


@dataclass(frozen=True)
class ServedModel:
    """One loaded version. Routes take it once per request and answer with it throughout."""

    version: int
    info: ModelInfo
    predict: PredictFn  # the batch forward pass of these weights (also the batcher's grouping key)
    policy: VerdictPolicy  # this version's fitted verdict numbers
    engine: str  # what runs predict: "onnxruntime 1.32.0", "torch 2.14.1"


@dataclass
class ModelRuntime:
    settings: Settings
    device: torch.device | None = None
    served: ServedModel | None = None
    batcher: DynamicBatcher | None = None
    detector: NotDigitNet | None = None
    detector_info: ModelInfo | None = None
    failure: str | None = "the model is still loading"
    _pool: ThreadPoolExecutor | None = None
    _second_look_pool: ThreadPoolExecutor | None = None
    _watcher: CurrentVersionWatcher | None = None
    _switching: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ready(self) -> bool:
        return self.served is not None

    @property
    def model_dir(self) -> Path:
        return self.settings.model_versions_dir

    def start(self) -> None:
        """Load and warm up the model; on failure, record why (served by /health) instead of dying."""
        torch.set_num_threads(self.settings.torch_threads)
        self._pool = ThreadPoolExecutor(self.settings.preprocess_threads, "preprocess")
        # A second look segments an image whose first answer is already late: queued behind the
        # preprocessing of every request in flight, those few were the whole p99 at 64 clients.
        self._second_look_pool = ThreadPoolExecutor(1, "second-look")
        self.batcher = DynamicBatcher(
            max_batch_size=self.settings.max_batch_size,
            max_wait_s=self.settings.max_batch_wait_ms / 1000,
            max_queue=self.settings.max_queue,
            on_batch=metrics.observe_batch,
        )
        self.batcher.start()
        metrics.bind_runtime(self.batcher)
        # The file's identity before reading it: a reload that lands while this worker loads its
        # first model is still seen as a change by the watcher.
        seen = signature(self.model_dir / CURRENT_FILE)
        try:
            self.device = resolve_device(self.settings.device)
            self._load_detector()
            self._serve(self._load(self._startup_version()))
        except (ModelLoadError, ValueError, RuntimeError) as error:
            self.failure = str(error)  # plain text: /health and every 503 show it to clients
            cause = f" (cause: {error.__cause__})" if error.__cause__ else ""
            logger.error("model not loaded: %s%s", error, cause)
        interval = self.settings.model_poll_interval
        self._watcher = CurrentVersionWatcher(self.model_dir, interval, self.follow, seen).start()

    def _load_detector(self) -> None:
        """The detector, when verdicts are on; a broken detector file stops the service like a
        broken model (its answers would be wrong, not just less informative)."""
        if not self.settings.verdicts:
            return
        assert self.device is not None
        self.detector, self.detector_info = load_detector(self.settings.detector_path, self.device)

    def stop(self) -> None:
        if self._watcher:
            self._watcher.stop()
        if self.batcher:
            self.batcher.stop()
        for pool in (self._pool, self._second_look_pool):
            if pool:
                pool.shutdown(wait=True, cancel_futures=True)

    def versions(self) -> dict[int, Path]:
        """Every version there is: number → weights file, oldest first."""
        return list_versions(self.model_dir, self.settings.model_path)

    def _startup_version(self) -> int:
        versions = self.versions()
        pinned = read_current(self.model_dir)
        if pinned in versions:
            return pinned
        if pinned is not None:
            logger.error("%s names version %d, which does not exist", CURRENT_FILE, pinned)
        return max(versions)

    def _load(self, version: int) -> ServedModel:
        """Load and warm up a version, with its verdict numbers, without serving it yet."""
        started = time.perf_counter()
        if self.device is None:
            raise ModelLoadError(self.failure or "no device to load the model on")
        weights = self.versions().get(version)
        if weights is None:
            raise ModelLoadError(f"there is no model version {version}")
        model, info = load_checkpoint(weights, self.device)
        policy = VerdictPolicy.from_metadata(
            info.verdict,
            self.detector_info.sha256 if self.detector_info else None,
            self.settings.verdicts,
        )
        predictor, engine = make_predictor(
            model,
            weights,
            self.device,
            self.detector if policy.uses_detector else None,
            self.settings.detector_path,
            self.settings.onnxruntime,
            self.settings.torch_threads,
        )
        predictor.warm_up(self.settings.max_batch_size)
        logger.info(
            "model version %d loaded from %s (sha256 %s…) on %s with %s in %.2fs",
            version,
            info.path,
            info.sha256[:12],
            self.device,
            engine,
            time.perf_counter() - started,
        )
        return ServedModel(version, info, predictor.predict, policy, engine)

    def _serve(self, model: ServedModel) -> None:
        previous = self.served
        self.served = model  # one reference: a request sees the old model or the new, whole
        self.failure = None
        metrics.MODEL_LOADED.set(1)
        metrics.MODEL_VERSION.set(model.version)
        if previous and previous.version != model.version:
            logger.info("now serving model version %d (was %d)", model.version, previous.version)

    def reload(self, version: int | None = None) -> tuple[int | None, int]:
        """Serve `version` (default: the newest) in every worker: load it here, record it in
        MODEL_DIR/current for the other workers, swap it in. Returns (previous, now served).
        Blocking (it loads weights): call it off the event loop."""
        with self._switching:
            versions = self.versions()
            target = max(versions) if version is None else version
            if target not in versions:
                raise UnknownVersionError(target, list(versions))
            previous = self.served.version if self.served else None
            try:
                model = self.served if previous == target else self._load(target)
            except (ModelLoadError, RuntimeError) as error:
                raise VersionLoadError(f"version {target} does not load: {error}") from error
            try:
                write_current(self.model_dir, target)
            except OSError as error:
                raise ReloadError(
                    f"cannot record the served version in {self.model_dir}: {error.strerror}"
                ) from error
            assert model is not None
            self._serve(model)
            return previous, target

    def follow(self, version: int) -> None:
        """The watcher's callback: another worker's reload named `version`."""
        with self._switching:
            if self.served is None or self.served.version != version:
                self._serve(self._load(version))

    @property
    def device_name(self) -> str:
        return str(self.device) if self.device else "none"

    @property
    def info(self) -> ModelInfo | None:
        return self.served.info if self.served else None

    @property
    def model_name(self) -> str:
        return self.served.info.name if self.served else ""

    def require_ready(self) -> ServedModel:
        """The model serving now, or ModelUnavailableError saying why there is none."""
        served = self.served
        if served is None or self.batcher is None:
            raise ModelUnavailableError(self.failure or "unknown reason")
        return served

    async def preprocess(self, images: Sequence[RawImage], check_several: bool = False) -> Prepared:
        """Decode and normalise off the event loop: (k, 28, 28) digits with pixels 0-1; with
        `check_several` (and SEVERAL_DIGITS_CHECK on), also the candidate pieces of each image
        whose ink looks like more than one digit, for predict_images to read."""
        check = check_several and self.settings.several_digits_check
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._preprocess_all, images, check)

    def _preprocess_all(self, images: Sequence[RawImage], check: bool) -> Prepared:
        settings = self.settings
        digits, pieces, inks = [], {}, {}
        for index, image in enumerate(images):
            ink = find_ink(to_gray(image, settings.max_image_pixels))
            digit, looks_several = single_digit(ink, check)
            digits.append(digit)
            if looks_several:
                found = self._several_pieces(ink)
                if found is not None:
                    pieces[index] = found
            elif check:
                inks[index] = ink  # for a second look, should it read as no digit
        return Prepared(np.stack(digits), pieces, inks)

    def _several_pieces(self, ink: Ink) -> NumberPieces | None:
        """The candidate pieces of an image /predict reads as a number, or None when it offers
        more than a number's worth."""
        try:
            return number_pieces(ink, self.settings.max_read_digits, SEVERAL_CANDIDATES)
        except InputError:
            # Marks beyond reading as a number, or a piece too thin to see at 28×28: the image
            # was read as one digit all the same, and its own verdict stands.
            return None

    def _pieces_of_each(self, inks: list[Ink]) -> list[NumberPieces | None]:
        return [self._several_pieces(ink) for ink in inks]

    async def _outputs(self, digits: Digits, model: ServedModel) -> Outputs:
        """(N, 11) raw outputs of `model` (the one a request took at its start), through the
        shared batcher."""
        assert self.batcher is not None
        return await self.batcher.submit(digits, model.predict)

    async def _outputs_in_jobs(self, digits: Digits, model: ServedModel, images: int) -> Outputs:
        """(N, 11) raw outputs of a request's images (the first `images` rows) and the pieces it
        checks for several digits: the images and up to a quarter of the queue's worth of pieces in
        one job, the rest in jobs of that size, one after another. A batch of numbers neither fills
        the queue (which would refuse it, or others) nor leaves its later images unchecked: each
        image of /predict/batch gets the verdict /predict gives it alone."""
        size = max(1, self.settings.max_queue // 4)
        first = images + size
        jobs = [digits[:first], *(digits[i : i + size] for i in range(first, len(digits), size))]
        if len(jobs) == 1:
            return await self._outputs(digits, model)
        return np.concatenate([await self._outputs(job, model) for job in jobs])

    async def predict(self, digits: Digits, model: ServedModel | None = None) -> Readings:
        """What `model` (default: the one serving now) reads in preprocessed digits."""
        model = model or self.require_ready()
        return model.policy.decide(await self._outputs(digits, model), inputs=digits)

    async def predict_images(
        self, prepared: Prepared, model: ServedModel | None = None
    ) -> Readings:
        """/predict's answers: each image read as one digit, and those whose pieces read as a
        number of several digits get verdict several_digits. The images and the pieces of those
        whose ink looks like several digits are one job of the batcher, one forward pass (a few
        jobs for a batch of many numbers: _outputs_in_jobs). An image that reads as no digit
        although its ink looks like one (digits pressed together) gets a second look: its pieces
        are one more job, and must read clearly as digits."""
        model = model or self.require_ready()
        parts = [prepared.digits, *(found.digits for found in prepared.pieces.values())]
        count = len(prepared.digits)
        outputs = await self._outputs_in_jobs(np.concatenate(parts), model, images=count)
        several = np.zeros(count, dtype=bool)
        for index, found, pieces, _ in self._read_each(model, prepared.pieces, outputs[count:]):
            several[index] = holds_several_digits(pieces, found.blobs)
        readings = model.policy.decide(outputs[:count], several, prepared.digits)
        second = await self._second_look(prepared, readings, outputs[:count])
        if not second:
            return readings
        looks = np.concatenate([found.digits for found in second.values()])
        looked = await self._outputs_in_jobs(looks, model, images=0)
        for index, _, pieces, chosen in self._read_each(model, second, looked):
            several[index] = clearly_several_digits(pieces, chosen)
        return model.policy.decide(outputs[:count], several, prepared.digits)

    async def _second_look(
        self, prepared: Prepared, readings: Readings, outputs: Outputs
    ) -> dict[int, NumberPieces]:
        """The candidate pieces of each image that may be digits pressed together though its ink
        looks like one digit (reading.worth_a_second_look)."""
        doubtful = [
            index
            for index in prepared.inks
            if worth_a_second_look(readings.verdicts[index], float(outputs[index, NUM_CLASSES]))
        ]
        if not doubtful:
            return {}
        inks = [prepared.inks[index] for index in doubtful]
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(self._second_look_pool, self._pieces_of_each, inks)
        return {index: pieces for index, pieces in zip(doubtful, found, strict=True) if pieces}

    def _read_each(
        self, model: ServedModel, found: dict[int, NumberPieces], outputs: Outputs
    ) -> Iterator[tuple[int, NumberPieces, Readings, Outputs]]:
        """For each image with candidate pieces (their outputs follow one another in `outputs`):
        its index, its pieces, the readings of the pieces its best reading chose, and their raw
        outputs."""
        start = 0
        for index, pieces in found.items():
            end = start + len(pieces.candidates)
            chosen, readings = self._judge(model, pieces, outputs[start:end])
            yield index, pieces, readings, outputs[start:end][chosen]
            start = end

    async def answer(
        self, images: Sequence[RawImage], model: ServedModel
    ) -> tuple[Prepared, Readings]:
        """What /predict answers for images, and /feedback stores for one: preprocessed with the
        several-digits check, read by `model` with its verdict numbers."""
        prepared = await self.preprocess(images, check_several=True)
        return prepared, await self.predict_images(prepared, model)

    async def read(self, image: RawImage, model: ServedModel | None = None) -> Reading:
        """Read a number: segment off the event loop, score every candidate piece as one job of
        the batcher (one forward pass), pick the best reading, and judge its pieces as /predict
        judges a digit."""
        model = model or self.require_ready()
        loop = asyncio.get_running_loop()
        pieces = await loop.run_in_executor(self._pool, self._pieces_of, image)
        chosen, readings = self._judge(model, pieces, await self._outputs(pieces.digits, model))
        return Reading(pieces, chosen, readings)

    @staticmethod
    def _judge(
        model: ServedModel, pieces: NumberPieces, outputs: Outputs
    ) -> tuple[list[int], Readings]:
        """The best reading of a number's pieces, and the verdict machinery's readings of the
        pieces it is made of."""
        chosen = best_reading(pieces, outputs)
        return chosen, model.policy.decide(
            outputs[chosen], inputs=pieces.digits[chosen], pieces_of_a_number=True
        )

    def _pieces_of(self, image: RawImage) -> NumberPieces:
        settings = self.settings
        gray = to_gray(image, settings.max_image_pixels)
        # Every piece of one image is one job, and a job must fit in the queue.
        most = min(settings.max_queue, CANDIDATES_PER_DIGIT * settings.max_read_digits)
        return number_pieces(find_ink(gray), settings.max_read_digits, most)


@dataclass(frozen=True)
class Prepared:
    digits: Digits  # (k, 28, 28): each image as one digit
    pieces: dict[int, NumberPieces]  # image index → its candidate pieces, when it looks several
    inks: dict[int, Ink]  # image index → its ink, for a second look (checked, not several)


@dataclass(frozen=True)
class Reading:
    pieces: NumberPieces
    chosen: list[int]  # the candidates read, left to right (indices into pieces.candidates)
    readings: Readings  # what the models make of each chosen piece, in the same order
