"""The model at run time: loaded, warmed up, served through the batcher and a preprocessing pool,
and swapped for another version without a restart.

The api package holds one ModelRuntime per app and hands it to the routes; this module knows nothing
of HTTP: when it cannot serve, it raises the errors of service/inference/errors.py.

Versions (training/versions.py): at start the runtime serves the version named in MODEL_DIR/current,
else the newest. `reload` loads another version, records it in that file and swaps it in; the other
worker processes follow the file (service/inference/watcher.py). A swap replaces one reference: a
request holds the ServedModel it started with, so requests in flight finish on the old weights and
new ones get the new weights, and none waits or fails.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from service import metrics
from service.imaging.normalise import Digits, RawImage, preprocess
from service.inference.batcher import DynamicBatcher, PredictFn
from service.inference.errors import (
    ModelUnavailableError,
    ReloadError,
    UnknownVersionError,
    VersionLoadError,
)
from service.inference.predictor import Predictor, Probabilities
from service.inference.watcher import CurrentVersionWatcher, signature
from service.settings import Settings
from training.checkpoint import ModelInfo, ModelLoadError, load_checkpoint
from training.model import resolve_device
from training.versions import CURRENT_FILE, list_versions, read_current, write_current

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """One loaded version. Routes take it once per request and answer with it throughout."""

    version: int
    info: ModelInfo
    predict: PredictFn  # the batch forward pass of these weights (also the batcher's grouping key)


def verdict(probabilities: Probabilities) -> list[str]:
    """What each answer is: a digit, or something else.

    HOOK(issue 14): issue 14's calibration and not-a-digit thresholds decide this; until they are
    merged every answer is "digit".
    """
    return ["digit"] * len(probabilities)


@dataclass
class ModelRuntime:
    settings: Settings
    device: torch.device | None = None
    served: ServedModel | None = None
    batcher: DynamicBatcher | None = None
    failure: str | None = "the model is still loading"
    _pool: ThreadPoolExecutor | None = None
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
            self._serve(self._load(self._startup_version()))
        except (ModelLoadError, ValueError, RuntimeError) as error:
            self.failure = str(error)
            logger.error("model not loaded: %s", error)
        interval = self.settings.model_poll_interval
        self._watcher = CurrentVersionWatcher(self.model_dir, interval, self.follow, seen).start()

    def stop(self) -> None:
        if self._watcher:
            self._watcher.stop()
        if self.batcher:
            self.batcher.stop()
        if self._pool:
            self._pool.shutdown(wait=True, cancel_futures=True)

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
        """Load and warm up a version, without serving it yet."""
        started = time.perf_counter()
        if self.device is None:
            raise ModelLoadError(self.failure or "no device to load the model on")
        weights = self.versions().get(version)
        if weights is None:
            raise ModelLoadError(f"there is no model version {version}")
        model, info = load_checkpoint(weights, self.device)
        predictor = Predictor(model, self.device)
        predictor.warm_up(self.settings.max_batch_size)
        logger.info(
            "model version %d loaded from %s (sha256 %s…) on %s in %.2fs",
            version,
            info.path,
            info.sha256[:12],
            self.device,
            time.perf_counter() - started,
        )
        return ServedModel(version, info, predictor.predict)

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

    async def preprocess(self, images: Sequence[RawImage]) -> Digits:
        """Decode and normalise off the event loop; (k, 28, 28) digits with pixels 0-1."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._preprocess_all, images)

    def _preprocess_all(self, images: Sequence[RawImage]) -> Digits:
        limit = self.settings.max_image_pixels
        return np.stack([preprocess(image, limit) for image in images])

    async def predict(self, digits: Digits, model: ServedModel | None = None) -> Probabilities:
        """(k, 10) probabilities for preprocessed digits, through the shared batcher, from `model`
        (the one a request took at its start; default: the one serving now)."""
        model = model or self.require_ready()
        assert self.batcher is not None
        return await self.batcher.submit(digits, model.predict)
