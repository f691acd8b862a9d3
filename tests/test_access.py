"""Access: the optional API key, the optional per-client rate limit, CORS only when configured, and
the request log (one JSON line per request, with its id, never the image; stack traces only at
debug level).

Key, rate limit and CORS are middleware, so an in-process app per setting is enough; the logs are
read from real uvicorn processes, as an operator would read them.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Route

from devtools.servers import LiveServer, free_port, start_api, wait_for
from service.api.factory import create_app
from service.api.routes import admin, feedback, health, predict, v2
from tests.conftest import make_settings
from tests.failing_app import STUB_ERROR

KEY = "s3cret-key-for-tests"
SEVEN_URL = (  # a drawn 7 as a 28×28 PNG (the OpenAPI document's example)
    "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAATUlEQVR42s3QMQ4AIAhDUcr974wTiQXKjJPx52HU7NhCbmI4"
    "9ZHEFlHGEtvGpnB1n5KQ8X+SL7BF+gtfYI0Eu4SMDJuEjAVWCRnDrq8HgOgKI18J0GgAAAAASUVORK5CYII="
)
SEVEN = base64.b64decode(SEVEN_URL)
PNG = {"Content-Type": "image/png"}


def every_route(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, concrete path) for every route the app serves, path parameters filled in: the
    app's own (OpenAPI, docs) and those of every router it includes."""
    fill = {"model_name": "mnist-cnn", "model_version": "1", "path": "anything", "feedback_id": "1"}
    routers = [health.router, predict.router, v2.router, feedback.router, admin.router]
    routes = [*app.routes, *(route for router in routers for route in router.routes)]
    for route in routes:
        if not isinstance(route, Route):  # included routers: their routes are listed above
            continue
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: fill[m.group(1)], route.path)
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                yield method, path


@pytest.fixture(scope="module")
def keyed() -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(api_key=KEY, metrics_public=True))) as client:
        yield client


def test_with_an_api_key_every_route_but_health_and_metrics_needs_it(keyed: TestClient) -> None:
    routes = list(every_route(keyed.app))
    assert ("POST", "/predict") in routes and ("GET", "/openapi.json") in routes
    assert ("POST", "/v2/models/mnist-cnn/infer") in routes
    assert {("POST", "/feedback"), ("DELETE", "/feedback/1"), ("POST", "/admin/reload")} <= set(
        routes
    )
    for method, path in routes:
        public = path in ("/health", "/metrics")
        for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY[:-1] + "X"}):
            response = keyed.request(method, path, headers=headers)
            if public:
                assert response.status_code != 401, (method, path)
            else:
                assert response.status_code == 401, (method, path, headers)
                # The Open Inference Protocol's paths answer in its shape, the others in ours.
                shape = "error" if path.startswith("/v2") else "detail"
                assert "X-API-Key" in response.json()[shape]
                assert response.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'
        with_key = keyed.request(method, path, headers={"X-API-Key": KEY})
        assert with_key.status_code != 401, (method, path)
    # Unknown paths are not a way around it either.
    assert keyed.get("/no-such-route").status_code == 401


def test_with_the_key_predictions_work(keyed: TestClient) -> None:
    response = keyed.post("/predict", content=SEVEN, headers={**PNG, "x-api-key": KEY})
    assert response.status_code == 200 and response.json()["digit"] == 7
    # Only the header counts: not a query parameter, not a cookie.
    assert keyed.post(f"/predict?api_key={KEY}", content=SEVEN, headers=PNG).status_code == 401
    keyed.cookies.set("X-API-Key", KEY)
    try:
        assert keyed.post("/predict", content=SEVEN, headers=PNG).status_code == 401
    finally:
        keyed.cookies.clear()


def test_metrics_need_the_key_when_not_public() -> None:
    with TestClient(create_app(make_settings(api_key=KEY, metrics_public=False))) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200
        assert client.get("/health").status_code == 200


def test_without_a_key_nothing_asks_for_one(client: TestClient) -> None:
    assert client.post("/predict", content=SEVEN, headers=PNG).status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_the_rate_limit_answers_429_with_retry_after_per_client_ip() -> None:
    app = create_app(make_settings(rate_limit="5/minute"))
    with TestClient(app) as first, TestClient(app, client=("10.0.0.2", 40000)) as second:
        statuses = [
            first.post("/predict", content=SEVEN, headers=PNG).status_code for _ in range(5)
        ]
        assert statuses == [200] * 5
        refused = first.post("/predict", content=SEVEN, headers=PNG)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "rate limit of 5 per 1 minute" in refused.json()["detail"]
        # Health checks are never limited, and another client has its own allowance.
        assert all(first.get("/health").status_code == 200 for _ in range(10))
        assert second.post("/predict", content=SEVEN, headers=PNG).status_code == 200


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def test_cors_is_off_by_default(client: TestClient) -> None:
    origin = {"Origin": "https://elsewhere.example"}
    assert cors_headers(client.post("/predict", content=SEVEN, headers={**PNG, **origin})) == {}
    preflight = client.options(
        "/predict", headers={**origin, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 405 and cors_headers(preflight) == {}


def test_cors_allows_only_the_configured_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://ui.example, https://other.example")
    monkeypatch.setenv("API_KEY", KEY)
    with TestClient(create_app(make_settings())) as client:
        allowed = {"Origin": "https://ui.example"}
        response = client.post(
            "/predict", content=SEVEN, headers={**PNG, **allowed, "X-API-Key": KEY}
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://ui.example"
        # The browser's preflight carries no key; it must pass, naming the headers the UI sends.
        preflight = client.options(
            "/predict",
            headers={
                **allowed,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-api-key",
            },
        )
        assert preflight.status_code == 200
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
        # A 401 still carries the CORS header, so the page can read why it was refused.
        refused = client.post("/predict", content=SEVEN, headers={**PNG, **allowed})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "https://ui.example"
        other = {"Origin": "https://evil.example"}
        stranger = client.post(
            "/predict", content=SEVEN, headers={**PNG, **other, "X-API-Key": KEY}
        )
        assert "access-control-allow-origin" not in stranger.headers
        bad_preflight = client.options(
            "/predict", headers={**other, "Access-Control-Request-Method": "POST"}
        )
        assert bad_preflight.status_code == 400
        assert "access-control-allow-origin" not in bad_preflight.headers


# --- Logs --------------------------------------------------------------------------------------


def log_entries(server: LiveServer, complete: Callable[[list[dict]], bool]) -> list[dict]:
    """The server's log lines, once `complete` says the ones a test waits for are there: the
    server writes a request's access line just after its response."""

    def entries() -> list[dict]:
        lines = [line for line in server.log().splitlines() if line.strip()]
        return [json.loads(line) for line in lines]  # every line is JSON, start-up lines too

    assert wait_for(lambda: complete(entries())), server.log()[-2000:]
    return entries()


def test_one_json_line_per_request_with_its_id_and_never_the_image() -> None:
    with (
        start_api(env={"LOG_REQUESTS": "true"}) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        data_url = "data:image/png;base64," + SEVEN_URL
        responses = [
            http.get("/health", headers={"X-Request-ID": "probe-1"}),
            http.post("/predict", json={"image": data_url}, headers={"X-Request-ID": "probe-2"}),
            http.post("/predict", content=SEVEN, headers=PNG),
            http.post("/predict/batch", files=[("files", ("7.png", SEVEN, "image/png"))] * 2),
            http.post("/predict", content=b"junk", headers=PNG),
            http.get("/no-such-route"),
            # Not a safe id (spaces, markup): replaced by a fresh one, so the log cannot be forged.
            http.get("/health", headers={"X-Request-ID": "x <script> y"}),
        ]
        ids = [response.headers["x-request-id"] for response in responses]
        entries = log_entries(
            server, lambda logged: set(ids) <= {e.get("request_id") for e in logged}
        )
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 422, 404, 200]
    access = [
        e for e in entries if e.get("logger") == "service.access" and e["message"] == "request"
    ]
    assert len(set(ids)) == len(ids)
    by_id = {entry["request_id"]: entry for entry in access}
    assert sorted(entry["request_id"] for entry in access if entry["request_id"] in ids) == sorted(
        ids
    )
    # Every other line is start_api's readiness probe.
    assert {(e["path"], e["status"]) for e in access if e["request_id"] not in ids} == {
        ("/health", 200)
    }
    expected_routes = [
        "/health",
        "/predict",
        "/predict",
        "/predict/batch",
        "/predict",
        "unmatched",
        "/health",
    ]
    for response, route in zip(responses, expected_routes, strict=True):
        request_id = response.headers["x-request-id"]
        entry = by_id[request_id]
        assert entry["route"] == route and entry["status"] == response.status_code
        assert entry["path"] == response.request.url.path
        assert isinstance(entry["latency_ms"], float | int) and entry["latency_ms"] >= 0
        assert entry["level"] == "info" and entry["time"].endswith("Z")
    assert responses[0].headers["x-request-id"] == "probe-1"
    assert re.fullmatch(r"[0-9a-f]{8,64}", responses[-1].headers["x-request-id"])  # a fresh one
    text = json.dumps(entries)
    for fragment in (SEVEN_URL[20:60], SEVEN_URL[-40:], base64.b64encode(SEVEN).decode()[30:70]):
        assert fragment not in text
    assert "junk" not in text


def errors_in(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e["level"] == "error"]


@pytest.mark.parametrize("level", ["info", "debug"])
def test_an_internal_error_logs_its_stack_trace_only_at_debug_level(level: str) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "tests.failing_app:create_failing_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with (
        start_api(env={"LOG_LEVEL": level}, command=command, port=port) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        response = http.post("/predict", content=SEVEN, headers=PNG)
        v2 = http.post(
            "/v2/models/mnist-cnn/infer",
            json={
                "inputs": [
                    {"name": "image", "datatype": "BYTES", "shape": [1], "data": [SEVEN_URL]}
                ]
            },
        )
        assert http.get("/health").status_code == 200  # the bug did not take the server down
        entries = log_entries(server, lambda logged: len(errors_in(logged)) >= 2)
    request_id = response.headers["x-request-id"]
    assert response.status_code == 500
    assert response.json()["detail"] == f"internal server error (request id {request_id})"
    assert STUB_ERROR not in response.text  # the client learns the id, not the internals
    assert v2.status_code == 500 and "internal server error" in v2.json()["error"]
    errors = errors_in(entries)
    assert len(errors) == 2
    assert errors[0]["request_id"] == request_id and STUB_ERROR in errors[0]["message"]
    assert STUB_ERROR in errors[1]["message"]
    raw = json.dumps(entries)
    if level == "debug":
        assert all("Traceback" in e["trace"] and STUB_ERROR in e["trace"] for e in errors)
    else:
        assert all("trace" not in e for e in errors) and "Traceback" not in raw
