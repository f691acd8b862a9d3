"""GET /health (readiness, cheap: what load balancers poll) and GET /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from service import metrics
from service.api.dependencies import Runtime
from service.api.responses import FastJSONResponse
from service.api.schemas import Health, ModelSummary

router = APIRouter(tags=["operations"])


@router.get(
    "/health",
    summary="Whether the service can predict",
    response_model=Health,
    responses={503: {"model": Health, "description": "model missing, damaged or still loading"}},
)
async def health(runtime: Runtime) -> FastJSONResponse:
    served = runtime.served
    if served is None:
        unavailable = Health(
            status="unavailable",
            model_loaded=False,
            device=runtime.device_name,
            model=None,
            reason=runtime.failure,
        )
        return FastJSONResponse(unavailable, status_code=503)
    info = served.info
    model = ModelSummary(
        name=info.name,
        model_version=served.version,
        sha256=info.sha256,
        parameters=info.parameters,
        test_accuracy=info.test_accuracy,
        engine=served.engine,
    )
    return FastJSONResponse(
        Health(status="ok", model_loaded=True, device=runtime.device_name, model=model)
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {metrics.CONTENT_TYPE: {}}, "description": "Prometheus text"}},
)
async def prometheus_metrics() -> Response:
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)
