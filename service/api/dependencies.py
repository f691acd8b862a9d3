"""What routes receive as parameters: the app's model runtime."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.inference.runtime import ModelRuntime


async def get_runtime(request: Request) -> ModelRuntime:
    # async on purpose: FastAPI would run a plain function in its thread pool, a hop per request.
    runtime: ModelRuntime = request.app.state.runtime
    return runtime


# The runtime as a route parameter: `runtime: Runtime`.
Runtime = Annotated[ModelRuntime, Depends(get_runtime)]
