"""GET /docs (Swagger UI) and GET /redoc, with their JavaScript and CSS served by this service.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on a machine without internet they are
blank. The fastapi-offline package (MIT) ships the same files (Swagger UI: Apache-2.0; ReDoc: MIT); they are
mounted at /docs-assets and the pages are FastAPI's own HTML pointing there. No page loads
anything from another host: no Google Fonts, no online validator, and a Content-Security-Policy
that allows this origin only (ReDoc would otherwise fetch its "by Redocly" logo from its CDN).
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS_URL = "/docs-assets"
ASSETS_DIR = files("fastapi_offline") / "static"

router = APIRouter(include_in_schema=False)
# Everything from this origin; inline script and style because both pages configure themselves
# inline; data: and blob: for Swagger's icons and ReDoc's search worker.
SAME_ORIGIN_ONLY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:"
)


def _same_origin(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = SAME_ORIGIN_ONLY
    return page


def _assets(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}{ASSETS_URL}"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    assets = _assets(request)
    page = get_swagger_ui_html(
        openapi_url=f"{request.scope.get('root_path', '')}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
        # Swagger UI would otherwise send the whole document to validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    return _same_origin(page)


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    assets = _assets(request)
    page = get_redoc_html(
        openapi_url=f"{request.scope.get('root_path', '')}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{assets}/redoc.standalone.js",
        redoc_favicon_url=f"{assets}/favicon.png",
        with_google_fonts=False,
    )
    return _same_origin(page)


def install(app: FastAPI) -> None:
    """The two pages and their files; the app must be made with docs_url=None, redoc_url=None."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS_DIR)), name="docs-assets")
    app.include_router(router)
