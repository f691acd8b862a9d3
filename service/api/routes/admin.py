"""POST /admin/reload: serve another model version in every worker, without a restart.

Only there when ADMIN_API_KEY is set (service/api/factory.py), and then only with that key in
X-Admin-Key (besides X-API-Key when API_KEY is set, as on every route).
"""

from __future__ import annotations

import asyncio
import hmac

import orjson
from fastapi import APIRouter, Request

from service.api.dependencies import Runtime
from service.api.errors import ApiError
from service.api.openapi import error_responses, json_request_body
from service.api.responses import FastJSONResponse
from service.api.schemas import Reloaded, ReloadJSON

router = APIRouter(prefix="/admin", tags=["admin"])
VERSION_HELP = 'send {"version": N} (a whole number from 1), or no body for the newest version'


@router.post(
    "/reload",
    summary="Serve another model version (default: the newest) in every worker",
    response_model=Reloaded,
    responses=error_responses(401, 404, 422, 503),
    openapi_extra=json_request_body(ReloadJSON, required=False),
)
async def reload(request: Request, runtime: Runtime) -> FastJSONResponse:
    """Needs the `X-Admin-Key` header. Loads the version, records it in MODEL_DIR/current (the
    other workers follow within MODEL_POLL_INTERVAL seconds) and swaps it in; requests in flight
    finish on the previous version. A version that does not load leaves the previous one served."""
    admin_key = runtime.settings.admin_api_key
    given = request.headers.get("x-admin-key", "").encode()
    if admin_key is None or not hmac.compare_digest(given, admin_key.get_secret_value().encode()):
        raise ApiError(
            401,
            "missing or wrong admin key; send it in the X-Admin-Key header",
            {"WWW-Authenticate": 'ApiKey header="X-Admin-Key"'},
        )
    version = _requested_version(await request.body())
    loop = asyncio.get_running_loop()
    # Loading weights takes tens of milliseconds of CPU: never on the event loop.
    previous, served = await loop.run_in_executor(None, runtime.reload, version)
    return FastJSONResponse(
        Reloaded(model_version=served, previous=previous, versions=list(runtime.versions()))
    )


def _requested_version(body: bytes) -> int | None:
    if not body.strip():
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError(422, f"the body is not valid JSON ({error}); {VERSION_HELP}") from error
    if not isinstance(payload, dict):
        raise ApiError(422, VERSION_HELP)
    version = payload.get("version")
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ApiError(
            422, f"'version' must be a whole number from 1, not {orjson.dumps(version).decode()}"
        )
    return version
