"""The OpenAPI document, and schemathesis-generated requests against every operation in it: whatever
the input, no request gets a 5xx (SPEC §13)."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from relata.bootstrap import Runtime
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import IdentifyObject, IdentifyPerson, Link
from relata.storage.workspaces import Credentials


def test_openapi_lists_every_api(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    paths = set(document["paths"])
    for expected in (
        "/api/v1/customers/{identifier}",
        "/api/v2/batch",
        "/v1/identify",
        "/v1/batch",
        "/v1/people/{identifier}/profile",
        "/v1/contract",
        "/v1/object_types",
    ):
        assert expected in paths
    assert client.get("/docs").status_code == 200


def test_no_operation_answers_5xx(runtime: Runtime, workspace: Credentials, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("one store is enough for the fuzzer; every other API test runs on both")
    runtime.services.ingest.apply(
        workspace.workspace.id,
        [
            IdentifyPerson(PersonRef("id", "ann"), {"email": "ann@example.com"}),
            IdentifyObject(
                ObjectRef("1", "cart_1"), {"status": "active"}, links=(Link(PersonRef("id", "ann")),)
            ),
        ],
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", runtime.app)
    headers = {"Authorization": f"Bearer {workspace.app_api_key}"}
    failures: list[str] = []
    calls: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}")

        check()
    assert failures == []
    assert len(calls) > 100
    assert any(code < 300 for code in calls)
