"""The FastAPI application: lifespan (load the model once), middleware, error handlers, routers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from feedback.store import FeedbackStore
from service.api.admission import AdmissionMiddleware
from service.api.errors import install_error_handlers
from service.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from service.api.responses import FastJSONResponse
from service.api.routes import admin, docs, feedback, health, predict, read, v2
from service.api.security import AccessMiddleware
from service.inference.runtime import ModelRuntime
from service.logs import configure_logging
from service.settings import Settings, get_settings

DESCRIPTION = """
Reads handwritten digits with a small CNN trained on MNIST. Send a drawing, a photo or a scan of one
digit, in any common image format: the service normalises it the way MNIST was made (grayscale, white
on black, cropped, scaled to 20 px, centred by mass in 28×28) and answers with the digit, its
confidence and all ten probabilities. Errors come as `{"detail": "..."}` saying what to send instead.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    runtime = ModelRuntime(settings)
    # Connects on first use: a database that is down costs /feedback, never the start-up.
    store = FeedbackStore(settings.feedback_database_url, settings.database_timeout)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        # Everything alive now (torch, the app, the model) lives as long as the process: move it out
        # of the collector's sight, or each full collection rescans ~200k objects (66 ms here).
        gc.freeze()
        yield
        runtime.stop()
        store.close()

    app = FastAPI(
        title="MNIST digit recognition API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        middleware=_middleware(settings),
        default_response_class=FastJSONResponse,
        # Metrics and logs are ours (/metrics, JSON lines). FastAPI's OpenTelemetry bridge would
        # otherwise look up the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # /docs and /redoc come from routes/docs.py, with their files served from here, not a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.feedback = store
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(predict.router)
    app.include_router(read.router)
    app.include_router(feedback.router)
    if settings.admin_api_key:  # without an admin key the route does not exist (404)
        app.include_router(admin.router)
    app.include_router(v2.router)  # the Open Inference Protocol (KServe V2) beside /predict
    docs.install(app)
    return app


def _middleware(settings: Settings) -> list[Middleware]:
    """Outermost first: every request gets an id and a log line, then the body limit, CORS, access,
    admission."""
    public_paths = {"/health"} | ({"/metrics"} if settings.metrics_public else set())
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    middleware = [
        Middleware(RequestContextMiddleware, log_requests=settings.log_requests),
        Middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes),
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
            )
        )
    if api_key or settings.rate_limit:
        middleware.append(
            Middleware(
                AccessMiddleware,
                api_key=api_key,
                public_paths=frozenset(public_paths),
                rate_limit=settings.rate_limit,
            )
        )
    # Last, so that only requests allowed in are charged to the budget.
    middleware.append(
        Middleware(
            AdmissionMiddleware,
            max_inflight_bytes=settings.max_inflight_bytes,
            max_body_bytes=settings.max_body_bytes,
        )
    )
    return middleware
