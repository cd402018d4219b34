"""App API reads refuse what they should: no key, a wrong kind of key, another workspace, bad parameters."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient
from test_reads_support import apply, shop

from relata.bootstrap import Runtime
from relata.core.identity import ObjectRef
from relata.core.operations import IdentifyObject
from relata.storage.workspaces import Credentials

GETS = [
    "/v1/object_types",
    "/v1/objects/cart/cart_0/attributes",
    "/v1/objects/cart/cart_0/relationships",
    "/v1/objects/cart/cart_0",
    "/v1/objects/cart/cart_0/changes",
    "/v1/customers/u1/attributes",
    "/v1/customers/u1/relationships",
    "/v1/customers/u1/activities",
    "/v1/customers/u1/messages",
    "/v1/customers/u1/segments",
    "/v1/people",
    "/v1/people/u1/profile",
    "/v1/people/u1/changes",
]
PERSON_OR_OBJECT = [p for p in GETS if p not in ("/v1/object_types", "/v1/people")]


@pytest.fixture
def stocked(runtime: Runtime, workspace: Credentials) -> None:
    shop(runtime, workspace, carts=1, items=1)


def test_reads_need_an_app_key(client: TestClient, stocked: None, workspace: Credentials) -> None:
    track_basic = base64.b64encode(f"{workspace.site_id}:{workspace.track_api_key}".encode()).decode()
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Bearer {workspace.track_api_key}"},
        {"Authorization": f"Bearer {workspace.pipelines_write_key}"},
        {"Authorization": f"Basic {track_basic}"},
    ):
        for path in GETS:
            response = client.get(path, headers=headers)
            assert response.status_code == 401, (path, headers, response.text)
            assert response.json()["errors"][0]["reason"] == "unauthorized"
        assert client.post("/v1/objects", json={"object_type_id": "1"}, headers=headers).status_code == 401


def test_workspaces_are_isolated(
    client: TestClient, runtime: Runtime, workspace: Credentials, stocked: None, app_headers: dict[str, str]
) -> None:
    other = runtime.services.workspaces.create("other")
    b_headers = {"Authorization": f"Bearer {other.app_api_key}"}
    for path in PERSON_OR_OBJECT:
        assert client.get(path, headers=app_headers).status_code == 200, path
        response = client.get(path, headers=b_headers)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["errors"][0]["reason"] == "not_found"
    assert client.get("/v1/object_types", headers=b_headers).json() == {"types": []}
    assert client.get("/v1/people", headers=b_headers).json() == {"people": [], "next": None}
    found = client.post("/v1/objects", json={"object_type_id": "cart"}, headers=b_headers)
    assert found.status_code == 400
    assert found.json()["errors"][0]["field"] == "object_type_id"

    # B has its own cart_0 with the same ids: each key sees only its own.
    apply(runtime, other, [IdentifyObject(ObjectRef("cart", "cart_0"), {"owner": "B"})])
    mine = client.get("/v1/objects/cart/cart_0/attributes", headers=app_headers).json()["object"]
    theirs = client.get("/v1/objects/cart/cart_0/attributes", headers=b_headers).json()["object"]
    assert mine["attributes"] == {"status": "active", "cart_total": 10}
    assert theirs["attributes"] == {"owner": "B"}
    assert (
        client.get("/v1/objects/cart/cart_0/relationships", headers=b_headers).json()["cio_relationships"]
        == []
    )
    cio = mine["identifiers"]["cio_object_id"]
    by_cio = client.get(
        f"/v1/objects/cart/{cio}/attributes", params={"id_type": "cio_object_id"}, headers=b_headers
    )
    assert by_cio.status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/people", {"limit": "-1"}, "limit"),
        ("/v1/people", {"limit": "0"}, "limit"),
        ("/v1/people", {"limit": "1001"}, "limit"),
        ("/v1/people", {"limit": "abc"}, "limit"),
        ("/v1/customers/u1/activities", {"limit": "1.5"}, "limit"),
        ("/v1/people/u1/profile", {"expand": "99"}, "expand"),
        ("/v1/people/u1/profile", {"expand": "-1"}, "expand"),
        ("/v1/objects/cart/cart_0", {"expand": "x"}, "expand"),
        ("/v1/people", {"cursor": "garbage!!"}, "cursor"),
        ("/v1/people", {"start": "Zm9v"}, "start"),
        ("/v1/customers/u1/activities", {"cursor": "WyJwZW9wbGUiLDFd"}, "cursor"),  # a cursor of /v1/people
        ("/v1/customers/u1/relationships", {"cursor": "WyJjdXN0b21lcl9yZWxhdGlvbnNoaXBzIiwiMSJd"}, "cursor"),
        ("/v1/people", {"cursor": "WyJwZW9wbGUiLDk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OV0"}, "cursor"),  # > bigint
        ("/v1/objects/cart/cart_0/relationships", {"id_type": "nope"}, "id_type"),
        ("/v1/people/u1/changes", {"id_type": "phone"}, "id_type"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    client: TestClient,
    stocked: None,
    app_headers: dict[str, str],
    path: str,
    params: dict[str, str],
    field: str,
) -> None:
    response = client.get(path, params=params, headers=app_headers)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["field"] == field
    assert error["message"]


def test_a_cursor_from_a_page_works_only_on_its_list(
    client: TestClient, stocked: None, app_headers: dict[str, str]
) -> None:
    page = client.get("/v1/customers/u1/activities", params={"limit": 1}, headers=app_headers).json()
    assert page["next"]
    again = client.get("/v1/customers/u1/activities", params={"cursor": page["next"]}, headers=app_headers)
    assert again.status_code == 200
    elsewhere = client.get("/v1/people/u1/changes", params={"cursor": page["next"]}, headers=app_headers)
    assert elsewhere.status_code == 400
    assert elsewhere.json()["errors"][0]["field"] == "cursor"


def test_missing_things_are_404(client: TestClient, stocked: None, app_headers: dict[str, str]) -> None:
    for path in (
        "/v1/people/nobody/profile",
        "/v1/people/nobody@example.com/changes",
        "/v1/objects/cart/nope",
        "/v1/objects/nope/cart_0",
        "/v1/objects/99/cart_0/changes",
        "/v1/customers/cio_ffff/attributes",
    ):
        response = client.get(path, headers=app_headers)
        assert response.status_code == 404, path
        assert "not found" in response.json()["errors"][0]["message"]


def test_encoded_identifiers(
    client: TestClient, runtime: Runtime, workspace: Credentials, app_headers: dict[str, str]
) -> None:
    apply(runtime, workspace, [IdentifyObject(ObjectRef("cart", "a/b c"), {"x": 1})])
    response = client.get("/v1/objects/cart/a%2Fb%20c/attributes", headers=app_headers)
    assert response.status_code == 200, response.text
    assert response.json()["object"]["identifiers"]["object_id"] == "a/b c"
