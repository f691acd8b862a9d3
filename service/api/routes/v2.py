"""The Open Inference Protocol (KServe V2 REST) beside /predict, so KServe, Triton clients,
Seldon and other standard tooling can use the model unchanged.

    GET  /v2                                  server metadata (name, version, extensions)
    GET  /v2/health/live, /v2/health/ready    liveness, readiness
    GET  /v2/models/mnist-cnn[/versions/N]    model metadata: inputs, outputs, `versions` (all)
    GET  /v2/models/mnist-cnn[/versions/N]/ready   only the served version is ready
    POST /v2/models/mnist-cnn[/versions/N]/infer   N must be the served version
    GET  /v2/models/mnist-cnn[/versions/N]/stats, /v2/models/stats   Triton-style statistics

The wire format (inputs, outputs, the binary tensor extension) is in service/v2_codec.py.
Inference goes through the same runtime as /predict: its preprocessing for `image`, its batcher
for both.
Errors on these routes are the protocol's `{"error": "..."}`: service/api/errors.py renders every
refusal on a /v2 path in that shape. The routes stay out of the product's OpenAPI document; the
protocol has its own published specification.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from service import metrics, v2_codec
from service.api.dependencies import Runtime
from service.api.errors import RETRY_AFTER_SECONDS
from service.api.responses import FastJSONResponse
from service.inference.runtime import ModelRuntime
from service.v2_codec import ProtocolError
from training.metadata import read_metadata
from training.model import MODEL_NAME

SERVER_NAME = "mnist-digits"
EXTENSIONS = ["binary_tensor_data", "statistics"]
# What a version's metadata answer repeats from its .json file, under "parameters".
VERSION_FACTS = ("sha256", "test_accuracy", "created", "published", "recipe", "lineage")

router = APIRouter(prefix="/v2", include_in_schema=False, default_response_class=FastJSONResponse)


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

    def as_triton(self, version: int | None) -> dict[str, Any]:
        durations = ("success", "fail", "compute_input", "compute_infer", "compute_output")
        return {
            "name": MODEL_NAME,
            "version": str(version or ""),
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
    stats: InferStats = state.v2_stats
    return stats


def served_model(request: Request, runtime: Runtime) -> None:
    """404 unless the path names this model (and, when it names one, a version there is)."""
    name = request.path_params.get("model_name")
    if name != MODEL_NAME:
        raise ProtocolError(f"unknown model {name!r}; this server serves {MODEL_NAME!r}", 404)
    version = request.path_params.get("model_version")
    if version is not None:
        versions = runtime.versions()
        if not version.isdigit() or int(version) not in versions:
            listed = ", ".join(map(str, versions))
            raise ProtocolError(
                f"unknown version {version!r} of {MODEL_NAME}; it has versions {listed}", 404
            )


def _served_version(request: Request, runtime: ModelRuntime) -> int | None:
    """The served version, after checking that a version in the path (if any) is that one."""
    served = runtime.served.version if runtime.served else None
    named = request.path_params.get("model_version")
    if named is not None and int(named) != served:
        raise ProtocolError(
            f"version {named} of {MODEL_NAME} is not ready: this server serves version {served}; "
            f"use /v2/models/{MODEL_NAME} or its /versions/{served}",
            400,
        )
    return served


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
async def all_stats(request: Request, runtime: Runtime) -> dict[str, Any]:
    served = runtime.served.version if runtime.served else None
    return {"model_stats": [_stats(request).as_triton(served)]}


@router.get(MODEL, dependencies=[Depends(served_model)])
async def model_metadata(runtime: Runtime) -> dict[str, Any]:
    return v2_codec.model_metadata(list(runtime.versions()))


@router.get(VERSION, dependencies=[Depends(served_model)])
async def version_metadata(model_version: str, runtime: Runtime) -> dict[str, Any]:
    """One version: the model's inputs and outputs, and what its metadata file says of it."""
    version = int(model_version)
    about = read_metadata(runtime.versions()[version]) or {}
    parameters = {key: about[key] for key in VERSION_FACTS if key in about}
    served = runtime.served is not None and runtime.served.version == version
    return v2_codec.model_metadata([version]) | {"parameters": parameters | {"served": served}}


@router.get(MODEL + "/ready", dependencies=[Depends(served_model)])
@router.get(VERSION + "/ready", dependencies=[Depends(served_model)])
async def model_ready(request: Request, runtime: Runtime) -> FastJSONResponse:
    named = request.path_params.get("model_version")
    served = runtime.served.version if runtime.served else None
    if named is not None and served is not None and int(named) != served:
        # Known but not loaded: only the served version is ready (and no retry makes it so).
        error = f"version {named} is not served; version {served} is"
        return FastJSONResponse({"ready": False, "error": error}, status_code=503)
    return _readiness(runtime)


@router.get(MODEL + "/stats", dependencies=[Depends(served_model)])
@router.get(VERSION + "/stats", dependencies=[Depends(served_model)])
async def model_stats(request: Request, runtime: Runtime) -> dict[str, Any]:
    return {"model_stats": [_stats(request).as_triton(_served_version(request, runtime))]}


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
    model = runtime.require_ready()
    _served_version(request, runtime)
    settings = runtime.settings
    started = time.perf_counter_ns()
    body = await request.body()
    encoding = request.headers.get("content-encoding", "")
    if encoding.strip().lower() not in ("", "identity"):
        # zlib lets go of the GIL while it inflates, so a worker thread frees the event loop for
        # those milliseconds. The rest of the parsing is single C calls that hold the GIL (orjson,
        # base64, numpy), bounded by the body limit and the element counts: a thread would not
        # free the loop for them.
        body = await run_in_threadpool(v2_codec.decompress, body, encoding, settings.max_body_bytes)
    payload, binary = v2_codec.split_body(
        body, request.headers.get("inference-header-content-length")
    )
    parsed = v2_codec.parse_infer_request(payload, binary, settings.max_images_per_request)
    digits = parsed.digits
    if digits is None:  # `image`: encoded files, normalised exactly as /predict does
        digits = (await runtime.preprocess(parsed.images or [])).digits
    stats.compute_input.add(started)

    started = time.perf_counter_ns()
    readings = await runtime.predict(digits, model)
    stats.compute_infer.add(started)
    stats.execution_count += 1
    stats.inference_count += len(digits)

    started = time.perf_counter_ns()
    metrics.count_predictions(readings.digits, readings.verdicts)
    header, binary_out = v2_codec.encode_response(
        parsed, readings.probabilities, readings.digits, readings.verdicts, model.version
    )
    stats.compute_output.add(started)
    if not binary_out:
        return Response(header, media_type="application/json")
    return Response(
        header + binary_out,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )


# Last: any other path under /v2 gets a 404 that lists the protocol's endpoints, or a 405.
@router.api_route(
    "/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"], response_model=None
)
async def unknown(request: Request) -> NoReturn:
    for route in router.routes:
        assert isinstance(route, APIRoute)  # the router holds only its own routes
        if route.endpoint is not unknown and route.matches(request.scope)[0] is Match.PARTIAL:
            raise HTTPException(405, f"{request.method} is not allowed on {request.url.path}")
    raise HTTPException(
        404,
        f"no V2 endpoint at {request.url.path}; this server has /v2, "
        f"/v2/health/live|ready and /v2/models/{MODEL_NAME}[/ready|/infer|/stats]",
    )
