"""Why the inference core cannot take a request right now; service/api/errors.py says how to answer."""

from __future__ import annotations


class ModelUnavailableError(RuntimeError):
    """The model is not loaded (still loading, or its file is missing or damaged); `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class QueueFullError(RuntimeError):
    """More images are waiting than the queue holds; the client should retry shortly."""


class BatcherStoppedError(RuntimeError):
    """The batcher is shutting down and takes no more work."""
