"""Schema fuzzing: schemathesis generates requests from the app's own /openapi.json and checks that
no answer is a server error and that every answer matches what the document promises (status,
content type, body schema).

Bounded and reproducible: a fixed number of examples per operation, derandomized, no deadline.
Runs in-process over ASGI against the real app with the committed model loaded, so it exercises
the same middleware, parsing, preprocessing and batcher as a deployment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import BaseOpenAPISchema

from service.api.factory import create_app
from tests.conftest import make_settings
from tests.test_error_details import assert_plain

# FastAPI writes OpenAPI 3.1; schemathesis 3.x reads it behind this switch (JSON Schema 2020-12).
schemathesis.experimental.OPEN_API_3_1.enable()

EXAMPLES_PER_OPERATION = 100  # 4 operations; hypothesis stops early on the two GETs
STATUSES: Counter[tuple[str, int]] = Counter()  # (operation, status) → requests
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)


@pytest.fixture(scope="module")
def fuzzed_app() -> Iterator[FastAPI]:
    app = create_app(make_settings())
    # schemathesis calls the app without running its lifespan, so load the model here.
    app.state.runtime.start()
    assert app.state.runtime.ready, app.state.runtime.failure
    yield app
    app.state.runtime.stop()


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: FastAPI) -> BaseOpenAPISchema:
    return schemathesis.from_asgi("/openapi.json", fuzzed_app)


schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors_and_every_answer_as_documented(case: schemathesis.Case) -> None:
    response = case.call_asgi()
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:  # every refusal in plain words, whatever the junk was
        assert_plain(response.json()["detail"])
    STATUSES[(case.operation.verbose_name, response.status_code)] += 1


def test_the_fuzzing_reached_the_model_and_the_error_paths() -> None:
    """The examples in the OpenAPI document predict, and the generated junk meets the 4xx paths:
    a fuzz run that only ever met one error would prove little."""
    if not STATUSES:
        pytest.skip("the schema fuzz test did not run in this session")
    for operation in ("POST /predict", "POST /predict/batch"):
        assert STATUSES[(operation, 200)] >= 1, STATUSES
        assert sum(n for (op, status), n in STATUSES.items() if op == operation and status == 422)
