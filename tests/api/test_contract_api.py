"""The contract over the App API: YAML/JSON bodies, dry runs, errors naming the path, reports."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from relata.storage.workspaces import Credentials

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "contract.yaml").read_text()
YAML = {"Content-Type": "application/yaml"}


def test_requires_the_app_key(client: TestClient, workspace: Credentials) -> None:
    assert client.get("/v1/contract").status_code == 401
    wrong = {"Authorization": f"Bearer {workspace.track_api_key}"}
    assert client.get("/v1/contract", headers=wrong).status_code == 401


def test_put_yaml_then_get(client: TestClient, app_headers: dict[str, str]) -> None:
    empty = client.get("/v1/contract", headers=app_headers).json()
    assert empty["version"] == 0
    assert empty["summary"]["mode"] == "observe"
    response = client.put("/v1/contract", content=EXAMPLE, headers={**app_headers, **YAML})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["applied"] is True
    assert body["version"] == 1
    assert {a["name"] for a in body["object_types"]} >= {"cart", "fulfillment"}
    current = client.get("/v1/contract", headers=app_headers).json()
    assert current["version"] == 1
    assert current["document"]["object_types"]["cart"]["id"] == "1"
    assert current["summary"]["mode"] == "enforce"
    versions = client.get("/v1/contract/versions", headers=app_headers).json()["versions"]
    assert [v["version"] for v in versions] == [1]


def test_put_json_and_dry_run(client: TestClient, app_headers: dict[str, str]) -> None:
    document = {"mode": "enforce", "object_types": {"cart": {"id": "1"}}}
    dry = client.put("/v1/contract?dry_run=true", json=document, headers=app_headers)
    assert dry.status_code == 200
    assert dry.json()["applied"] is False
    assert ("mode", "changed") in {(c["path"], c["change"]) for c in dry.json()["changes"]}
    assert client.get("/v1/contract", headers=app_headers).json()["version"] == 0
    posted = client.post("/v1/contract/dry_run", content=json.dumps(document), headers=app_headers)
    assert posted.status_code == 200
    assert posted.json()["valid"] is True
    assert posted.json()["current_version"] == 0
    applied = client.put("/v1/contract", json=document, headers=app_headers)
    assert applied.json()["version"] == 1


def test_dry_run_reports_impact(
    client: TestClient, app_headers: dict[str, str], track_auth: tuple[str, str]
) -> None:
    batch = {
        "batch": [
            {
                "type": "object",
                "action": "identify",
                "identifiers": {"object_type_id": "1", "object_id": "shopify-1"},
                "attributes": {"status": "active"},
            },
        ]
    }
    assert client.post("/api/v2/batch", json=batch, auth=track_auth).status_code == 200
    response = client.post("/v1/contract/dry_run", content=EXAMPLE, headers={**app_headers, **YAML})
    assert response.status_code == 200
    impact = {(i["kind"], i["type"], i["attribute"]): i for i in response.json()["impact"]}
    assert impact[("id_pattern", "cart", None)]["samples"][0]["object_id"] == "shopify-1"
    assert impact[("required", "cart", "checkout_url")]["count"] == 1
    assert response.json()["breaks_stored_data"] is True


def test_invalid_contract_is_400_naming_the_path(client: TestClient, app_headers: dict[str, str]) -> None:
    bad = EXAMPLE.replace(
        "status: {type: enum, values: [active, converted, abandoned]",
        "status: {type: enumm, values: [active]",
        1,
    )
    for method, url in (("PUT", "/v1/contract"), ("POST", "/v1/contract/dry_run")):
        response = client.request(method, url, content=bad, headers={**app_headers, **YAML})
        assert response.status_code == 400
        (error,) = response.json()["errors"]
        assert error["field"] == "object_types.cart.attributes.status.type"
        assert "enumm" in error["message"]
    assert client.get("/v1/contract", headers=app_headers).json()["version"] == 0


def test_bad_yaml_and_json_are_400(client: TestClient, app_headers: dict[str, str]) -> None:
    response = client.put("/v1/contract", content="object_types: [cart", headers={**app_headers, **YAML})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "body"
    assert error["reason"] == "malformed_yaml"
    assert "line" in error["message"]
    response = client.put(
        "/v1/contract", content="{nope", headers={**app_headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["reason"] == "malformed_json"
    response = client.put("/v1/contract", content="- a list\n", headers={**app_headers, **YAML})
    assert response.status_code == 400
    response = client.put("/v1/contract", content=b"\xff\xfe", headers={**app_headers, **YAML})
    assert response.status_code == 400
    response = client.put("/v1/contract?dry_run=maybe", json={}, headers=app_headers)
    assert response.status_code == 400
    response = client.put("/v1/contract", content=b"x" * 1_000_001, headers={**app_headers, **YAML})
    assert response.status_code == 413


def test_violations_and_quality(
    client: TestClient, app_headers: dict[str, str], track_auth: tuple[str, str]
) -> None:
    assert client.put("/v1/contract", content=EXAMPLE, headers={**app_headers, **YAML}).status_code == 200
    batch = {
        "batch": [
            {
                "type": "object",
                "action": "identify",
                "identifiers": {"object_type_id": "1", "object_id": "cart_0123456789ab"},
                "attributes": {"status": "open"},
            },
            {
                "type": "person",
                "action": "add_relationships",
                "identifiers": {"id": "u1"},
                "cio_relationships": [{"identifiers": {"object_type_id": "3", "object_id": "ord_000001"}}],
            },
        ]
    }
    response = client.post("/api/v2/batch", json=batch, auth=track_auth)
    assert response.status_code == 207
    assert response.json()["errors"][0]["field"] == "attributes.status"
    found = client.get("/v1/contract/violations", headers=app_headers).json()
    assert found["total"] == found["violations"][0]["count"] + sum(
        v["count"] for v in found["violations"][1:]
    )
    assert ("cart", "status", "type") in {(v["type"], v["attribute"], v["kind"]) for v in found["violations"]}
    only = client.get("/v1/contract/violations?type=order", headers=app_headers).json()["violations"]
    assert all(v["type"] == "order" for v in only)
    report = client.get("/v1/contract/quality", headers=app_headers).json()
    items = {(i["kind"], i["type"]) for i in report["items"] if i["count"]}
    assert ("dangling_relationship", "order") in items
    assert report["contract_version"] == 1
