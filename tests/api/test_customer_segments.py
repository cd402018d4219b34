"""Customer.io's ``GET /v1/customers/{id}/segments`` lists the segments a person is in."""

from __future__ import annotations

from fastapi.testclient import TestClient

from relata.bootstrap import Runtime
from relata.core.identity import PersonRef
from relata.core.operations import IdentifyPerson
from relata.jobs.segments import run_until_idle
from relata.storage.workspaces import Credentials


def test_a_person_lists_the_segments_they_are_in(
    client: TestClient, app_headers: dict[str, str], runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    runtime.services.ingest.apply(
        ws,
        [
            IdentifyPerson(PersonRef("id", "ann"), {"vip": True}),
            IdentifyPerson(PersonRef("id", "bob"), {"vip": False}),
        ],
    )
    condition = {"attribute": {"field": "vip", "operator": "eq", "value": True}}
    created = client.post(
        "/v1/segments", json={"id": "vip", "name": "VIPs", "condition": condition}, headers=app_headers
    )
    assert created.status_code in (200, 201), created.text
    run_until_idle(runtime.services)
    ann = client.get("/v1/customers/ann/segments", headers=app_headers).json()["segments"]
    bob = client.get("/v1/customers/bob/segments", headers=app_headers).json()["segments"]
    assert [(s["id"], s["name"]) for s in ann] == [("vip", "VIPs")]
    assert bob == []
    assert client.get("/v1/customers/nobody/segments", headers=app_headers).status_code == 404
