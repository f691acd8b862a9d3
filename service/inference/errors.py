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


class UnknownVersionError(LookupError):
    """A reload asked for a model version that MODEL_DIR does not hold."""

    def __init__(self, version: int, available: list[int]) -> None:
        super().__init__(f"there is no model version {version}")
        self.version = version
        self.available = available


class VersionLoadError(RuntimeError):
    """A reload named a version whose files do not load (missing, damaged, another network); the
    previous version is still served. `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReloadError(RuntimeError):
    """A reload could not record the served version for the other workers (MODEL_DIR is not
    writable); the previous version is still served. `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
