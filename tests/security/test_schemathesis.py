"""Property-based API testing against the app's own OpenAPI schema (schemathesis, positive and negative
data): with an admin key and with a recruiter key no request gets a 5xx and every response matches the
schema (status code documented, content type, body, headers); without a key every protected operation
answers 401.

The operations are taken from the live schema, so endpoints added later are covered without touching
this file. Hypothesis drives each operation directly (the schemathesis pytest plugin does not run on
this pytest)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.services import Keys, Server

pytestmark = [pytest.mark.services, pytest.mark.slow]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
PUBLIC = {"/healthz", "/readyz"}
EXAMPLES = 20  # per operation, per generation mode
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def operations(server: Server) -> list:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(found) >= 10, [op.label for op in found]
    return found


def _prepare(case, key: str | None) -> dict[str, str]:
    for name in list(case.headers or {}):
        if name.lower() == "x-api-key":
            del case.headers[name]
    # DELETE /api/v1/keys/{id} with a generated id must not revoke the keys this test runs with.
    if case.path_parameters and isinstance(case.path_parameters.get("key_id"), int):
        case.path_parameters["key_id"] = 10**6 + abs(case.path_parameters["key_id"]) % 1000
    return {"X-API-Key": key} if key else {}


def exercise(server: Server, key: str | None) -> dict[str, int]:
    """Run every operation; returns how many cases each got. Fails on the first violation, naming it."""
    ran: dict[str, int] = {}
    for operation in operations(server):
        for mode in MODES:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case) -> None:
                headers = _prepare(case, key)
                response = case.call(base_url=server.url, headers=headers)
                case.validate_response(response, checks=CHECKS, headers=headers)
                if key is None and case.operation.path not in PUBLIC:
                    assert response.status_code == 401, (
                        case.method,
                        case.formatted_path,
                        response.status_code,
                        response.text,
                    )
                    assert response.json()["error"]["code"] == "unauthorized"
                ran[f"{case.method} {case.operation.path}"] = ran.get(f"{case.method} {case.operation.path}", 0) + 1

            try:
                run()
            except Unsatisfiable:
                # Negative data for an operation that takes no input does not exist (GET /healthz).
                assert mode is GenerationMode.NEGATIVE, operation.label
    return ran


def test_admin_requests_never_5xx_and_match_the_schema(open_api: Server, keys: Keys) -> None:
    ran = exercise(open_api, keys.admin)
    print("schemathesis admin:", sum(ran.values()), "cases over", len(ran), "operations")


def test_recruiter_requests_never_5xx_and_match_the_schema(open_api: Server, keys: Keys) -> None:
    ran = exercise(open_api, keys.recruiter)
    print("schemathesis recruiter:", sum(ran.values()), "cases over", len(ran), "operations")


def test_without_a_key_every_protected_operation_is_401(open_api: Server) -> None:
    ran = exercise(open_api, None)
    print("schemathesis no key:", sum(ran.values()), "cases over", len(ran), "operations")
