"""Dynamic batching: requests queue up, one worker thread runs whatever is waiting as one forward pass.

The event loop never runs the model. A lone request runs at once (no fixed delay); under load, the
requests that arrived during one forward pass make up the next batch, so batches grow with the load.
The queue is bounded: when it is full, `submit` fails at once with `QueueFullError` instead of letting
latency grow without bound.

Each job names the model that must answer it, so a model swapped in while requests wait (a reload)
never answers a request that started on the old one: a batch only ever holds one model's jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from service.inference.errors import BatcherStoppedError, QueueFullError

logger = logging.getLogger(__name__)

PredictFn = Callable[[np.ndarray], np.ndarray]
BatchObserver = Callable[[int, float, float], None]  # (images, seconds in the model, oldest wait)


@dataclass
class _Job:
    images: np.ndarray
    predict: PredictFn
    future: asyncio.Future[np.ndarray]
    loop: asyncio.AbstractEventLoop
    enqueued: float = field(default_factory=time.perf_counter)


class DynamicBatcher:
    def __init__(
        self,
        predict: PredictFn | None = None,
        max_batch_size: int = 64,
        max_wait_s: float = 0.0,
        max_queue: int = 512,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._on_batch = on_batch
        self._jobs: deque[_Job] = deque()
        self._queued_images = 0
        self._wakeup = threading.Condition()
        self._running = False
        self._thread: threading.Thread | None = None

    @property
    def queued_images(self) -> int:
        return self._queued_images

    @property
    def running(self) -> bool:
        """False once `stop` was called: submissions are refused, queued work still finishes."""
        return self._running

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._work, name="inference-batcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the work already queued, then stop the worker thread."""
        with self._wakeup:
            self._running = False
            self._wakeup.notify()
        if self._thread:
            self._thread.join(timeout)

    async def submit(self, images: np.ndarray, predict: PredictFn | None = None) -> np.ndarray:
        """Queue (k, 28, 28) digits and wait for their (k, 10) probabilities, in the same order;
        `predict` (default: the batcher's own) is the model that answers them."""
        predict = predict or self._predict
        if predict is None:
            raise TypeError("no model to answer with: pass `predict`")
        loop = asyncio.get_running_loop()
        job = _Job(images, predict, loop.create_future(), loop)
        with self._wakeup:
            if not self._running:
                raise BatcherStoppedError("the server is shutting down")
            if self._queued_images + len(images) > self.max_queue:
                raise QueueFullError(
                    f"{self._queued_images} images are already waiting (limit {self.max_queue})"
                )
            self._jobs.append(job)
            self._queued_images += len(images)
            # The worker sleeps only on an empty queue, or while it waits to fill a batch.
            if len(self._jobs) == 1 or self.max_wait_s:
                self._wakeup.notify()
        return await job.future

    def _take_batch(self) -> list[_Job] | None:
        """Block until work is waiting; take whole jobs up to max_batch_size images (at least one)."""
        with self._wakeup:
            while not self._jobs:
                if not self._running:
                    return None
                self._wakeup.wait()
            if self.max_wait_s and self._queued_images < self.max_batch_size:
                deadline = self._jobs[0].enqueued + self.max_wait_s
                while self._queued_images < self.max_batch_size and self._running:
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        break
                    self._wakeup.wait(remaining)
            batch = [self._jobs.popleft()]
            size = len(batch[0].images)
            while (
                self._jobs
                and size + len(self._jobs[0].images) <= self.max_batch_size
                and self._jobs[0].predict is batch[0].predict
            ):
                job = self._jobs.popleft()
                batch.append(job)
                size += len(job.images)
            self._queued_images -= size
            return batch

    def _work(self) -> None:
        while (batch := self._take_batch()) is not None:
            # A client that went away has cancelled its future: skip its images.
            batch = [job for job in batch if not job.future.done()]
            if batch:
                self._run(batch)

    def _run(self, batch: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            images = np.concatenate([job.images for job in batch])
            probabilities = batch[0].predict(images)
        except Exception as error:
            if len(batch) > 1:
                # Run each request alone, so one bad request cannot fail its neighbours.
                for job in batch:
                    self._run([job])
                return
            # The request's own log line carries the error; the trace only at debug level.
            logger.error(
                "inference failed: %s: %s",
                type(error).__name__,
                error,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )
            self._resolve(batch, error=error)
            return
        elapsed = time.perf_counter() - started
        if self._on_batch:
            self._on_batch(len(images), elapsed, started - batch[0].enqueued)
        self._resolve(
            batch, np.split(probabilities, np.cumsum([len(j.images) for j in batch])[:-1])
        )

    @staticmethod
    def _resolve(
        batch: list[_Job], results: list[np.ndarray] | None = None, error: Exception | None = None
    ) -> None:
        def settle(jobs: list[_Job], values: list[np.ndarray] | None) -> None:
            for index, job in enumerate(jobs):
                if job.future.done():
                    continue
                if values is None:
                    job.future.set_exception(error or RuntimeError("inference failed"))
                else:
                    job.future.set_result(values[index])

        # One wake-up per event loop per batch, not one per request.
        by_loop: dict[asyncio.AbstractEventLoop, list[int]] = {}
        for index, job in enumerate(batch):
            by_loop.setdefault(job.loop, []).append(index)
        for loop, indices in by_loop.items():
            jobs = [batch[i] for i in indices]
            values = [results[i] for i in indices] if results is not None else None
            with contextlib.suppress(RuntimeError):  # a closed loop: its clients are gone
                loop.call_soon_threadsafe(settle, jobs, values)
