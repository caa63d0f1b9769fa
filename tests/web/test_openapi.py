"""The OpenAPI document tells the truth: schemathesis sends generated requests (valid and not)
to every operation of a real server, read from its own `/openapi.json`, and finds no 5xx, no
status the document does not list, and no answer off its documented shape."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from web_support import Api, Serve, Tokens

from backout.operations.tokens import Role, create_token
from backout.runtime import Runtime

# Not `negative_data_rejection`: an unknown query parameter is ignored, as HTTP APIs do.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ERRORS_OF_EVERY_TOKEN_ROUTE = {"401", "403", "422", "503"}
EXAMPLES = 25
# Alertmanager's receiver answers an alert for an unknown service 202 (with why), never 404:
# a sender told 404 would retry the delivery forever.
NAMES_NOTHING_TO_FIND = {"/api/v1/alerts/alertmanager"}  # requests per operation and mode
# Headers that frame the HTTP message itself: a generated one (`content-length: X}t`) makes a
# request the HTTP server refuses (400) before any route sees it, whatever the API documents.
FRAMING_HEADERS = {"content-length", "transfer-encoding", "host", "connection"}
# The public status page needs no token: it answers 200, 304 (its ETag) or 404 (turned off).
PUBLIC_STATUS_PAGE = {"/status", "/status/summary.json", "/api/v2/summary.json"}


@pytest.fixture
def admin_token(runtime: Runtime) -> str:
    return create_token(runtime, "admin", Role.ADMIN, actor="test")


@pytest.fixture
def served_schema(serve: Serve, runtime: Runtime) -> BaseSchema:
    api = serve(runtime)
    return schemathesis.openapi.from_url(str(api.client.base_url.join("/openapi.json")))


def operations(schema: BaseSchema) -> list[APIOperation]:
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 15, "every route of the API is in the document"
    return found


def fuzz(operation: APIOperation, mode: GenerationMode, headers: dict[str, str]) -> None:
    """Send `operation` the requests Hypothesis makes of its schema; each answer is checked."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests at every run: a failure is reproducible
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def answers_as_documented(case: Case) -> None:
        assume(not FRAMING_HEADERS & {name.lower() for name in case.headers or {}})
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        answers_as_documented()
    except Unsatisfiable:
        # Nothing to send wrong: an operation without parameters or body has no invalid request.
        assert mode is GenerationMode.NEGATIVE, operation.label


@pytest.mark.parametrize("mode", list(GenerationMode), ids=str)
def test_every_operation_answers_only_what_it_documents(
    served_schema: BaseSchema, admin_token: str, mode: GenerationMode
) -> None:
    for operation in operations(served_schema):
        fuzz(operation, mode, {"Authorization": f"Bearer {admin_token}"})


def test_without_a_token_every_operation_answers_as_documented(served_schema: BaseSchema) -> None:
    for operation in operations(served_schema):
        fuzz(operation, GenerationMode.POSITIVE, {})


def test_every_route_with_a_token_documents_its_error_statuses(api: Api) -> None:
    document = api.get("/openapi.json").json()

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            if path == "/healthz":
                assert statuses == {"200"}
                continue
            if path in PUBLIC_STATUS_PAGE:
                assert statuses == {"200", "304", "404"}, path
                continue
            assert statuses >= ERRORS_OF_EVERY_TOKEN_ROUTE, (method, path)
            if ("{" in path or method == "post") and path not in NAMES_NOTHING_TO_FIND:
                assert "404" in statuses, (method, path)
            if method == "post":
                assert {"409", "413"} <= statuses, (method, path)
            for status in statuses - {"200", "202"}:
                error = operation["responses"][status]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)


def test_the_document_and_its_page_need_no_token(api: Api, tokens: Tokens) -> None:
    assert api.get("/openapi.json").status_code == 200
    assert api.get("/docs").status_code == 200
    assert api.get("/api/v1/services").status_code == 401
