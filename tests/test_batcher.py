"""The dynamic batcher on its own, with a fake model whose forward passes the test opens and closes.

Each image carries its request's id in every pixel, and the fake model answers each image with a row
of that id, so a test can see which requests rode in which batch and that every request got its own
rows back. Waits poll a condition (the model entered a pass, the queue holds N images), never a clock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import pytest

from service.inference.batcher import DynamicBatcher
from service.inference.errors import BatcherStoppedError, QueueFullError

POISON = 13  # the fake model fails any batch holding this id


class GatedModel:
    """A stand-in forward pass: records each batch, then waits until the test opens the gate."""

    def __init__(self, gated: bool = True) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        if not gated:
            self.gate.set()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        ids = [int(image[0, 0]) for image in images]
        self.batches.append(ids)
        assert self.gate.wait(timeout=60), "the test never opened the gate"
        if POISON in ids:
            raise ValueError("a poisoned image")
        return np.repeat(images[:, :1, 0], 10, axis=1)


def images_of(request_id: int, count: int = 1) -> np.ndarray:
    return np.full((count, 28, 28), request_id, dtype=np.float32)


async def until(condition: Callable[[], bool], timeout: float = 60) -> None:
    """Poll while the event loop keeps running (the batcher resolves futures on it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.002)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def ids_of(rows: np.ndarray) -> list[int]:
    return [int(row[0]) for row in rows]


def test_a_lone_request_runs_at_once_and_gets_its_own_rows() -> None:
    model = GatedModel(gated=False)
    batcher = DynamicBatcher(model)
    batcher.start()

    async def scenario() -> None:
        rows = await batcher.submit(images_of(5, count=3))
        assert rows.shape == (3, 10) and ids_of(rows) == [5, 5, 5]

    run(scenario)
    batcher.stop()
    assert model.batches == [[5, 5, 5]]


def test_requests_that_arrive_during_a_forward_pass_form_the_next_batch() -> None:
    model = GatedModel()
    observed: list[int] = []
    batcher = DynamicBatcher(
        model, on_batch=lambda images, seconds, waited: observed.append(images)
    )
    batcher.start()

    async def scenario() -> None:
        first = asyncio.create_task(batcher.submit(images_of(1)))
        await until(lambda: len(model.batches) == 1)  # the model is busy with the first request
        later = [asyncio.create_task(batcher.submit(images_of(i))) for i in range(2, 7)]
        await until(lambda: batcher.queued_images == 5)
        model.gate.set()
        assert ids_of(await first) == [1]
        for request_id, task in enumerate(later, start=2):
            assert ids_of(await task) == [request_id]

    run(scenario)
    batcher.stop()
    assert model.batches == [[1], [2, 3, 4, 5, 6]]
    assert observed == [1, 5]


def test_a_batch_never_holds_more_than_max_batch_size_and_never_splits_a_request() -> None:
    model = GatedModel()
    batcher = DynamicBatcher(model, max_batch_size=4)
    batcher.start()
    sizes = [2, 1, 3, 2, 4, 1, 1, 2]

    async def scenario() -> None:
        first = asyncio.create_task(batcher.submit(images_of(100)))
        await until(lambda: len(model.batches) == 1)
        tasks = [
            asyncio.create_task(batcher.submit(images_of(i, size))) for i, size in enumerate(sizes)
        ]
        await until(lambda: batcher.queued_images == sum(sizes))
        model.gate.set()
        await first
        for request_id, (task, size) in enumerate(zip(tasks, sizes, strict=True)):
            assert ids_of(await task) == [request_id] * size

    run(scenario)
    batcher.stop()
    later = model.batches[1:]
    assert all(len(batch) <= 4 for batch in later)
    assert sorted(i for batch in later for i in batch) == sorted(
        i for i, size in enumerate(sizes) for _ in range(size)
    )
    for batch in later:  # whole requests only: each id's images all ride in the same batch
        for request_id in set(batch):
            assert batch.count(request_id) == sizes[request_id]
    assert len(later) < len(sizes)  # and requests were coalesced


def test_stop_finishes_the_queued_work_then_takes_no_more() -> None:
    model = GatedModel()
    batcher = DynamicBatcher(model)
    batcher.start()

    async def scenario() -> None:
        tasks = [asyncio.create_task(batcher.submit(images_of(1)))]
        await until(lambda: len(model.batches) == 1)
        tasks += [asyncio.create_task(batcher.submit(images_of(i))) for i in (2, 3)]
        await until(lambda: batcher.queued_images == 2)
        stopping = asyncio.get_running_loop().run_in_executor(None, batcher.stop)
        with pytest.raises(BatcherStoppedError, match="shutting down"):
            await until(lambda: not batcher.running)
            await batcher.submit(images_of(4))
        model.gate.set()
        await stopping
        assert [ids_of(await task) for task in tasks] == [[1], [2], [3]]

    run(scenario)
    assert model.batches == [[1], [2, 3]]


def test_a_request_cancelled_while_it_waits_is_skipped() -> None:
    model = GatedModel()
    batcher = DynamicBatcher(model)
    batcher.start()

    async def scenario() -> None:
        first = asyncio.create_task(batcher.submit(images_of(1)))
        await until(lambda: len(model.batches) == 1)
        gone = asyncio.create_task(batcher.submit(images_of(2)))
        kept = asyncio.create_task(batcher.submit(images_of(3)))
        await until(lambda: batcher.queued_images == 2)
        gone.cancel()  # the client hung up: its future is cancelled with its task
        model.gate.set()
        await first
        assert ids_of(await kept) == [3]
        with pytest.raises(asyncio.CancelledError):
            await gone

    run(scenario)
    batcher.stop()
    assert model.batches == [[1], [3]]


def test_a_failing_batch_fails_only_the_request_that_broke_it() -> None:
    model = GatedModel()
    batcher = DynamicBatcher(model)
    batcher.start()

    async def scenario() -> None:
        first = asyncio.create_task(batcher.submit(images_of(1)))
        await until(lambda: len(model.batches) == 1)
        tasks = {i: asyncio.create_task(batcher.submit(images_of(i))) for i in (2, POISON, 4)}
        await until(lambda: batcher.queued_images == 3)
        model.gate.set()
        await first
        assert ids_of(await tasks[2]) == [2] and ids_of(await tasks[4]) == [4]
        with pytest.raises(ValueError, match="poisoned"):
            await tasks[POISON]

    run(scenario)
    batcher.stop()
    # The shared batch failed, so each of its requests ran again alone.
    assert model.batches == [[1], [2, POISON, 4], [2], [POISON], [4]]


def test_a_full_queue_refuses_at_once() -> None:
    model = GatedModel()
    batcher = DynamicBatcher(model, max_queue=3)
    batcher.start()

    async def scenario() -> None:
        first = asyncio.create_task(batcher.submit(images_of(1)))
        await until(lambda: len(model.batches) == 1)  # taken off the queue: the queue is empty
        queued = [asyncio.create_task(batcher.submit(images_of(i))) for i in (2, 3, 4)]
        await until(lambda: batcher.queued_images == 3)
        with pytest.raises(QueueFullError, match=r"3 images are already waiting \(limit 3\)"):
            await batcher.submit(images_of(5))
        model.gate.set()
        await asyncio.gather(first, *queued)
        assert ids_of(await batcher.submit(images_of(6))) == [6]  # room again once drained

    run(scenario)
    batcher.stop()
    assert [i for batch in model.batches for i in batch] == [1, 2, 3, 4, 6]


def test_with_a_batch_wait_a_full_batch_runs_as_soon_as_it_is_full() -> None:
    # A wait far longer than any test may take: only a full batch can have released it.
    model = GatedModel(gated=False)
    batcher = DynamicBatcher(model, max_batch_size=4, max_wait_s=3600)
    batcher.start()

    async def scenario() -> None:
        tasks = [asyncio.create_task(batcher.submit(images_of(i))) for i in range(4)]
        assert [ids_of(await task) for task in tasks] == [[0], [1], [2], [3]]

    run(scenario)
    batcher.stop()
    assert model.batches == [[0, 1, 2, 3]]
