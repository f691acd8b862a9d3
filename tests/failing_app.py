"""A stub for one test only: the real app whose preprocessing raises an unexpected exception.

No client input can make the service fail internally (that is the point of the hardening tests),
so this is how tests/test_access.py checks what an internal error logs at each LOG_LEVEL.
Served with `uvicorn --factory tests.failing_app:create_failing_app`.
"""

from __future__ import annotations

from fastapi import FastAPI

from service.api.factory import create_app
from service.inference.runtime import ModelRuntime

STUB_ERROR = "stub: a bug in the preprocessing"


def create_failing_app() -> FastAPI:
    def broken(self: ModelRuntime, *args: object) -> None:
        raise RuntimeError(STUB_ERROR)

    ModelRuntime._preprocess_all = broken  # type: ignore[method-assign]
    return create_app()
