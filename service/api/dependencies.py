"""What routes receive as parameters: the app's model runtime and its feedback store."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from feedback.store import FeedbackStore
from service.inference.runtime import ModelRuntime


async def get_runtime(request: Request) -> ModelRuntime:
    # async on purpose: FastAPI would run a plain function in its thread pool, a hop per request.
    runtime: ModelRuntime = request.app.state.runtime
    return runtime


async def get_store(request: Request) -> FeedbackStore:
    store: FeedbackStore = request.app.state.feedback
    return store


# The runtime as a route parameter: `runtime: Runtime`.
Runtime = Annotated[ModelRuntime, Depends(get_runtime)]
