"""The feedback store: add a correction, undo one, count them, and read them back for fine-tuning.

Every call is a short transaction that has committed when it returns, so an id handed to a client
is on disk. Calls are blocking; `run` executes them on the store's own threads, so a slow or locked
database holds up feedback requests only, never /predict or the event loop. A database that is down,
locked for longer than the timeout or not migrated raises FeedbackUnavailableError.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, String, case, cast, delete, func, insert, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from feedback.database import describe, is_sqlite, make_engine
from feedback.errors import FeedbackUnavailableError
from feedback.tables import LABELS, NOT_A_DIGIT, feedback

logger = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")
DIGIT_SHAPE = (28, 28)


@dataclass(frozen=True)
class NewFeedback:
    label: str  # "0".."9" or "not_a_digit"
    predicted: int
    probabilities: list[float]
    verdict: str
    model_version: int
    digit: npt.NDArray[np.float32]  # the 28×28 input the model read, pixels 0-1
    original: bytes | None


@dataclass(frozen=True)
class FeedbackStats:
    total: int
    by_label: dict[str, int]
    model_right: float | None  # share of digit labels the model had right; None before any
    since: datetime | None  # the oldest row's time


@dataclass(frozen=True)
class Correction:
    """A stored correction as fine-tuning reads it."""

    id: int
    created_at: datetime
    label: str
    predicted: int
    model_version: int
    digit: npt.NDArray[np.float32]  # (28, 28), pixels 0-1


def pack_digit(digit: npt.NDArray[np.float32]) -> bytes:
    if digit.shape != DIGIT_SHAPE:
        raise ValueError(f"a stored digit is 28×28, not {digit.shape}")
    return bytes((np.clip(digit, 0, 1) * 255).round().astype(np.uint8))


def unpack_digit(data: bytes) -> npt.NDArray[np.float32]:
    pixels = np.frombuffer(data, dtype=np.uint8).reshape(DIGIT_SHAPE)
    return pixels.astype(np.float32) * np.float32(1 / 255)


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time stored here is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class FeedbackStore:
    def __init__(self, url: str, timeout: float = 5.0, threads: int = 4) -> None:
        self.url = url
        self.threads = 1 if is_sqlite(url) else threads
        self.engine = make_engine(url, timeout, pool_size=self.threads)
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one of the blocking methods on the store's own threads (started on first use, so
        a store closed by one app lifespan serves the next)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, "feedback-db")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: call(*args, **kwargs))

    def close(self) -> None:
        """Finish the calls under way, then let go of the threads and connections."""
        executor, self._executor = self._executor, None
        if executor:
            executor.shutdown(wait=True)
        self.engine.dispose()

    def add(self, row: NewFeedback) -> int:
        """Store a correction; return its id once the row is committed."""
        values = {
            "created_at": datetime.now(UTC),
            "label": row.label,
            "predicted": row.predicted,
            "probabilities": row.probabilities,
            "verdict": row.verdict,
            "model_version": row.model_version,
            "input_pixels": pack_digit(row.digit),
            "original": row.original,
        }
        with self._transaction("store the correction") as connection:
            new_id: int = connection.execute(
                insert(feedback).values(values).returning(feedback.c.id)
            ).scalar_one()
        return new_id

    def delete(self, feedback_id: int) -> bool:
        """Remove a correction; False when there is none with this id."""
        with self._transaction("delete the correction") as connection:
            deleted = connection.execute(delete(feedback).where(feedback.c.id == feedback_id))
        return deleted.rowcount > 0

    def stats(self) -> FeedbackStats:
        right = case((feedback.c.label == cast(feedback.c.predicted, String), 1), else_=0)
        query = select(
            feedback.c.label,
            func.count(),
            func.sum(right),
            func.min(feedback.c.created_at),
        ).group_by(feedback.c.label)
        with self._transaction("count the corrections") as connection:
            rows = connection.execute(query).all()
        by_label = dict.fromkeys(LABELS, 0)
        right_total = digits_total = 0
        oldest: datetime | None = None
        for label, count, right_count, first in rows:
            by_label[label] = count
            if label != NOT_A_DIGIT:
                digits_total += count
                right_total += right_count or 0
            oldest = first if oldest is None or first < oldest else oldest
        return FeedbackStats(
            total=sum(by_label.values()),
            by_label=by_label,
            model_right=right_total / digits_total if digits_total else None,
            since=_utc(oldest) if oldest else None,
        )

    def corrections(self) -> list[Correction]:
        """Every stored correction, oldest first."""
        columns = feedback.c
        query = select(
            columns.id,
            columns.created_at,
            columns.label,
            columns.predicted,
            columns.model_version,
            columns.input_pixels,
        ).order_by(columns.id)
        with self._transaction("read the corrections") as connection:
            rows = connection.execute(query).all()
        return [
            Correction(
                row.id,
                _utc(row.created_at),
                row.label,
                row.predicted,
                row.model_version,
                unpack_digit(row.input_pixels),
            )
            for row in rows
        ]

    @contextmanager
    def _transaction(self, action: str) -> Iterator[Connection]:
        """engine.begin(), with any database failure turned into FeedbackUnavailableError."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as error:
            logger.error(
                "feedback database %s: could not %s: %s", describe(self.url), action, error
            )
            raise FeedbackUnavailableError(_reason(error)) from error


def _reason(error: SQLAlchemyError) -> str:
    text = str(getattr(error, "orig", None) or error).lower()
    if "no such table" in text or "does not exist" in text:
        return (
            "the feedback database is not set up; the operator must run `python -m service migrate`"
        )
    if (
        "locked" in text
        or "timeout" in text
        or "timed out" in text
        or "canceling statement" in text
    ):
        return "the feedback database is busy"
    if isinstance(error, DBAPIError) or "connect" in text:
        return "the feedback database is not answering"
    return "the feedback database failed"
