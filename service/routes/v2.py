"""The Open Inference Protocol (KServe V2 REST) beside /predict, so KServe, Triton clients,
Seldon and other standard tooling can use the model unchanged.

    GET  /v2                                  server metadata (name, version, extensions)
    GET  /v2/health/live, /v2/health/ready    liveness, readiness
    GET  /v2/models/mnist-cnn[/versions/1]    model metadata: inputs and outputs
    GET  /v2/models/mnist-cnn[/versions/1]/ready
    POST /v2/models/mnist-cnn[/versions/1]/infer
    GET  /v2/models/mnist-cnn[/versions/1]/stats, /v2/models/stats   Triton-style statistics

The wire format (inputs, outputs, the binary tensor extension) is in service/v2_protocol.py.
Inference goes through the same runtime as /predict: its preprocessing for `image`, its batcher
for both.
Errors on these routes are the protocol's `{"error": "..."}`, not the rest of the app's
`{"detail": ...}`: `V2Route` turns every exception into that shape. The routes stay out of the
product's OpenAPI document; the protocol has its own published specification.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Match

from service import metrics, v2_protocol
from service.batcher import BatcherStoppedError, QueueFullError
from service.errors import RETRY_AFTER_SECONDS, input_error_status
from service.preprocessing import InputError
from service.runtime import ModelRuntime, Runtime
from service.schemas import FastJSONResponse
from service.v2_protocol import MODEL_NAME, MODEL_VERSION, ProtocolError

logger = logging.getLogger(__name__)

SERVER_NAME = "mnist-digits"
EXTENSIONS = ["binary_tensor_data", "statistics"]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> FastJSONResponse:
    return FastJSONResponse({"error": message}, status_code=status, headers=headers)


def _busy(message: str) -> FastJSONResponse:
    return _error(503, message, {"Retry-After": RETRY_AFTER_SECONDS})


class V2Route(APIRoute):
    """Answers every failure on these routes as `{"error": ...}`, which is what V2 clients parse
    (tritonclient reads `error` from any non-200 answer), whatever raised it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def v2_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except ProtocolError as error:
                return _error(error.status, str(error))
            except InputError as error:  # the preprocessing's "not an image", "no digit", ...
                return _error(input_error_status(error), f"input 'image': {error}")
            except QueueFullError as error:
                return _busy(f"the server is at capacity ({error}); retry in a second")
            except BatcherStoppedError as error:
                return _busy(str(error))
            except StarletteHTTPException as error:  # model not loaded, body over the limit, ...
                return _error(error.status_code, str(error.detail), error.headers)
            except RequestValidationError as error:
                return _error(400, f"invalid request: {error.errors()}")
            except ClientDisconnect:  # nobody to answer: the request middleware counts it (499)
                raise
            except Exception as error:  # a bug: log it, and still answer in the protocol's shape
                request_id = getattr(request.state, "request_id", "?")
                # One line; the stack trace only at debug level, like the rest of the app.
                logger.error(
                    "V2 request %s failed: %s: %s",
                    request_id,
                    type(error).__name__,
                    error,
                    exc_info=logger.isEnabledFor(logging.DEBUG),
                )
                return _error(500, f"internal server error (request id {request_id})")

        return v2_handler


router = APIRouter(
    prefix="/v2",
    route_class=V2Route,
    include_in_schema=False,
    default_response_class=FastJSONResponse,
)


@dataclass
class _Duration:
    count: int = 0
    ns: int = 0

    def add(self, started_ns: int) -> None:
        self.count += 1
        self.ns += time.perf_counter_ns() - started_ns


@dataclass
class InferStats:
    """What /stats reports, counted for the V2 infer route of one app. compute_infer is the time a
    request waited for the shared batcher: its queueing plus the forward pass it rode in."""

    inference_count: int = 0  # images
    execution_count: int = 0  # requests that reached the model
    last_inference_ms: int = 0
    success: _Duration = field(default_factory=_Duration)
    fail: _Duration = field(default_factory=_Duration)
    compute_input: _Duration = field(default_factory=_Duration)
    compute_infer: _Duration = field(default_factory=_Duration)
    compute_output: _Duration = field(default_factory=_Duration)

    def as_triton(self) -> dict[str, Any]:
        durations = ("success", "fail", "compute_input", "compute_infer", "compute_output")
        return {
            "name": MODEL_NAME,
            "version": MODEL_VERSION,
            "last_inference": self.last_inference_ms,
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "inference_stats": {name: vars(getattr(self, name)) for name in durations},
        }


def _stats(request: Request) -> InferStats:
    # Kept on the app, not the module, so that each app (and each test's app) counts its own.
    state = request.app.state
    if not hasattr(state, "v2_stats"):
        state.v2_stats = InferStats()
    return state.v2_stats


def served_model(request: Request) -> None:
    """404 unless the path names this model (and, when it names one, version 1)."""
    name = request.path_params.get("model_name")
    version = request.path_params.get("model_version", MODEL_VERSION)
    if name != MODEL_NAME:
        raise ProtocolError(f"unknown model {name!r}; this server serves {MODEL_NAME!r}", 404)
    if version != MODEL_VERSION:
        raise ProtocolError(
            f"unknown version {version!r} of {MODEL_NAME}; it has version {MODEL_VERSION}", 404
        )


MODEL = "/models/{model_name}"
VERSION = "/models/{model_name}/versions/{model_version}"


@router.get("")
async def server_metadata(request: Request) -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": request.app.version, "extensions": EXTENSIONS}


@router.get("/health/live")
async def live() -> dict[str, bool]:
    return {"live": True}


def _readiness(runtime: ModelRuntime) -> FastJSONResponse:
    if runtime.ready:
        return FastJSONResponse({"ready": True})
    return FastJSONResponse(
        {"ready": False, "error": f"the model is not loaded: {runtime.failure}"},
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


@router.get("/health/ready")
async def server_ready(runtime: Runtime) -> FastJSONResponse:
    return _readiness(runtime)


# Before "/models/{model_name}", which would otherwise take "stats" for a model's name.
@router.get("/models/stats")
async def all_stats(request: Request) -> dict[str, Any]:
    return {"model_stats": [_stats(request).as_triton()]}


@router.get(MODEL, dependencies=[Depends(served_model)])
@router.get(VERSION, dependencies=[Depends(served_model)])
async def model_metadata() -> dict[str, Any]:
    return v2_protocol.MODEL_METADATA


@router.get(MODEL + "/ready", dependencies=[Depends(served_model)])
@router.get(VERSION + "/ready", dependencies=[Depends(served_model)])
async def model_ready(runtime: Runtime) -> FastJSONResponse:
    return _readiness(runtime)


@router.get(MODEL + "/stats", dependencies=[Depends(served_model)])
@router.get(VERSION + "/stats", dependencies=[Depends(served_model)])
async def model_stats(request: Request) -> dict[str, Any]:
    return {"model_stats": [_stats(request).as_triton()]}


@router.post(MODEL + "/infer", dependencies=[Depends(served_model)])
@router.post(VERSION + "/infer", dependencies=[Depends(served_model)])
async def infer(request: Request, runtime: Runtime) -> Response:
    """JSON, or JSON followed by binary tensors (header `Inference-Header-Content-Length`)."""
    stats, started = _stats(request), time.perf_counter_ns()
    try:
        response = await _infer(request, runtime, stats)
    except Exception:
        stats.fail.add(started)
        raise
    stats.success.add(started)
    stats.last_inference_ms = time.time_ns() // 1_000_000
    return response


async def _infer(request: Request, runtime: ModelRuntime, stats: InferStats) -> Response:
    runtime.require_ready()
    settings = runtime.settings
    started = time.perf_counter_ns()
    body = v2_protocol.decompress(
        await request.body(), request.headers.get("content-encoding", ""), settings.max_body_bytes
    )
    payload, binary = v2_protocol.split_body(
        body, request.headers.get("inference-header-content-length")
    )
    parsed = v2_protocol.parse_infer_request(payload, binary, settings.max_images_per_request)
    digits = parsed.digits
    if digits is None:  # `image`: encoded files, normalised exactly as /predict does
        digits = await runtime.preprocess(parsed.images or [])
    stats.compute_input.add(started)

    started = time.perf_counter_ns()
    probabilities = await runtime.predict(digits)
    stats.compute_infer.add(started)
    stats.execution_count += 1
    stats.inference_count += len(digits)

    started = time.perf_counter_ns()
    metrics.count_predictions(probabilities.argmax(axis=1).tolist())
    header, binary_out = v2_protocol.encode_response(parsed, probabilities)
    stats.compute_output.add(started)
    if not binary_out:
        return Response(header, media_type="application/json")
    return Response(
        header + binary_out,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )


# Last: any other path under /v2 answers in the protocol's shape too, not with {"detail": ...}.
@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
async def unknown(request: Request) -> FastJSONResponse:
    for route in router.routes:
        if route.path != "/v2/{path:path}" and route.matches(request.scope)[0] is Match.PARTIAL:
            return _error(405, f"{request.method} is not allowed on {request.url.path}")
    return _error(
        404,
        f"no V2 endpoint at {request.url.path}; this server has /v2, "
        f"/v2/health/live|ready and /v2/models/{MODEL_NAME}[/ready|/infer|/stats]",
    )
