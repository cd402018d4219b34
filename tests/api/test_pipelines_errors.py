"""Bad input and bad credentials on the Pipelines API: 4xx in ``{code, message}`` naming the field."""

from __future__ import annotations

import base64
import gzip
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from relata.bootstrap import Runtime
from relata.core.identity import PersonRef
from relata.storage import activity, contracts, people
from relata.storage.workspaces import Credentials

ENDPOINTS = ["identify", "track", "page", "screen", "group", "alias", "batch"]


@pytest.fixture
def auth(workspace: Credentials) -> tuple[str, str]:
    return (workspace.pipelines_write_key, "")


def assert_error(
    response: Any, status: int, field: str | None = None, code: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= {"code", "message"}
    assert isinstance(body["code"], str)
    assert isinstance(body["message"], str)
    if field is not None:
        assert body["message"].startswith(f"{field}: "), body
    if code is not None:
        assert body["code"] == code
    return body


# --- credentials -----------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_missing_credentials(client: TestClient, endpoint: str) -> None:
    response = client.post(f"/v1/{endpoint}", json={"userId": "u1", "event": "e"})
    assert_error(response, 401, code="unauthorized")


def test_wrong_credentials(client: TestClient, workspace: Credentials) -> None:
    body = {"userId": "u1", "traits": {}}
    assert_error(client.post("/v1/identify", json=body, auth=("nope", "")), 401, code="unauthorized")
    bearer = {"Authorization": "Bearer nope"}
    assert_error(client.post("/v1/identify", json=body, headers=bearer), 401, code="unauthorized")
    # Another API's keys are not a write key.
    for key in (workspace.track_api_key, workspace.app_api_key, workspace.site_id):
        assert_error(client.post("/v1/identify", json=body, auth=(key, "")), 401, code="unauthorized")
    garbage = {"Authorization": "Basic %%%"}
    assert_error(client.post("/v1/identify", json=body, headers=garbage), 401, code="unauthorized")


def test_credentials_are_checked_before_the_body(client: TestClient) -> None:
    token = base64.b64encode(b"wrong:").decode()
    response = client.post("/v1/batch", content=b"{not json", headers={"Authorization": f"Basic {token}"})
    assert_error(response, 401, code="unauthorized")


# --- malformed bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_malformed_json(client: TestClient, auth: tuple[str, str], endpoint: str) -> None:
    response = client.post(f"/v1/{endpoint}", content=b'{"userId": ', auth=auth)
    assert_error(response, 400, field="body", code="malformed_json")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null", b""])
def test_body_must_be_an_object(
    client: TestClient, auth: tuple[str, str], endpoint: str, body: bytes
) -> None:
    response = client.post(f"/v1/{endpoint}", content=body, auth=auth)
    assert_error(response, 400, field="body")


def test_bad_gzip(client: TestClient, auth: tuple[str, str]) -> None:
    response = client.post("/v1/track", content=b"not gzip", headers={"Content-Encoding": "gzip"}, auth=auth)
    assert_error(response, 400, field="body")


# --- wrong types and missing fields ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("identify", {"traits": {"plan": "x"}}, "userId"),
        ("identify", {"userId": {"id": 1}}, "userId"),
        ("identify", {"userId": "  "}, "userId"),
        ("identify", {"userId": True}, "userId"),
        ("identify", {"userId": "u1", "traits": ["a"]}, "traits"),
        ("identify", {"userId": "u1", "traits": {"email": "not-an-email"}}, "traits.email"),
        ("identify", {"userId": "u1", "traits": {"bio": "x" * 2000}}, "traits.bio"),
        ("identify", {"userId": "u1", "traits": {"createdAt": "yesterday"}}, "traits.createdAt"),
        ("identify", {"userId": "u1", "timestamp": "not a time"}, "timestamp"),
        ("identify", {"userId": "u1", "context": "web"}, "context"),
        ("identify", {"userId": "u" * 200}, "userId"),
        ("identify", {"userId": "u1", "anonymousId": "a" * 200}, "anonymousId"),
        ("track", {"userId": "u1"}, "event"),
        ("track", {"userId": "u1", "event": ""}, "event"),
        ("track", {"userId": "u1", "event": ["x"]}, "event"),
        ("track", {"userId": "u1", "event": "e" * 200}, "event"),
        ("track", {"userId": "u1", "event": "e", "properties": "x"}, "properties"),
        ("track", {"userId": "u1", "event": "e", "timestamp": 1e300}, "timestamp"),
        ("identify", {"userId": "u1", "traits": {"created_at": 1e300}}, "traits.created_at"),
        ("alias", {"userId": "u1", "previousId": "p" * 200}, "previousId"),
        ("identify", {"userId": "u\u0000"}, "userId"),
        ("identify", {"userId": "u1", "traits": {"name": "a\u0000b"}}, "traits.name"),
        (
            "track",
            {"userId": "u1", "event": "e", "properties": {"items": [{"sku": "\u0000"}]}},
            "properties.items[0].sku",
        ),
        (
            "track",
            {"event": "User Deleted", "properties": None, "userId": "x" * 151},
            "userId",
        ),
        (
            "track",
            {"userId": "u1", "event": "Object Deleted", "properties": {"objectId": "o" * 151}},
            "properties.objectId",
        ),
        ("track", {"event": "e"}, "userId"),
        ("track", {"userId": "u1", "event": "e", "messageId": "m" * 200}, "messageId"),
        ("track", {"userId": "u1", "event": "e", "timestamp": -5}, "timestamp"),
        ("page", {"userId": "u1"}, "properties.url"),
        ("page", {"userId": "u1", "properties": {"url": {"href": "x"}}}, "properties.url"),
        ("screen", {"userId": "u1"}, "name"),
        ("group", {"userId": "u1"}, "groupId"),
        (
            "group",
            {"userId": "u1", "groupId": "g", "traits": {"objectTypeId": {"x": 1}}},
            "traits.objectTypeId",
        ),
        ("group", {"userId": "u1", "groupId": "g", "objectTypeId": ["1"]}, "objectTypeId"),
        (
            "group",
            {"userId": "u1", "groupId": "g", "traits": {"objectTypeId": "Not A Type"}},
            "traits.objectTypeId",
        ),
        (
            "group",
            {"userId": "u1", "groupId": "g", "traits": {"relationshipAttributes": 5}},
            "traits.relationshipAttributes",
        ),
        ("group", {"groupId": "g", "traits": {"relationshipAttributes": {"role": "x"}}}, "userId"),
        ("group", {"userId": "u1", "groupId": "g" * 200}, "groupId"),
        ("group", {"userId": "u1", "groupId": "g", "traits": {"big": "x" * 1001}}, "traits.big"),
        (
            "group",
            {"userId": "u1", "groupId": "g", "traits": {"relationshipAttributes": {"note": "x" * 1001}}},
            "traits.relationshipAttributes.note",
        ),
        ("alias", {"userId": "u1"}, "previousId"),
        ("alias", {"previousId": "u0"}, "userId"),
        ("alias", {"userId": "u1", "previousId": "u1"}, "previousId"),
    ],
)
def test_invalid_fields_are_named(
    client: TestClient, auth: tuple[str, str], endpoint: str, body: dict[str, Any], field: str
) -> None:
    assert_error(client.post(f"/v1/{endpoint}", json=body, auth=auth), 400, field=field)


def test_oversize_single_message(client: TestClient, auth: tuple[str, str]) -> None:
    body = {"userId": "u1", "event": "e", "properties": {f"k{i}": "x" * 900 for i in range(40)}}
    assert_error(client.post("/v1/track", json=body, auth=auth), 413, field="body", code="too_large")


def test_oversize_batch(client: TestClient, auth: tuple[str, str]) -> None:
    message = {"type": "track", "userId": "u1", "event": "e", "properties": {"p": "x" * 900}}
    body = {"batch": [message] * 600}
    assert_error(client.post("/v1/batch", json=body, auth=auth), 413, field="body", code="too_large")
    # Past the limit once inflated, too.
    compressed = gzip.compress(orjson.dumps(body))
    response = client.post("/v1/batch", content=compressed, headers={"Content-Encoding": "gzip"}, auth=auth)
    assert_error(response, 413, field="body", code="too_large")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "batch"),
        ({"batch": None}, "batch"),
        ({"batch": {"type": "track"}}, "batch"),
        ({"batch": [], "context": []}, "context"),
    ],
)
def test_malformed_batch(client: TestClient, auth: tuple[str, str], body: dict[str, Any], field: str) -> None:
    assert_error(client.post("/v1/batch", json=body, auth=auth), 400, field=field)


def test_batch_rejects_bad_messages_and_applies_the_rest(
    client: TestClient, runtime: Runtime, workspace: Credentials, auth: tuple[str, str]
) -> None:
    big = {
        "type": "track",
        "userId": "u1",
        "event": "big",
        "properties": {f"k{i}": "x" * 900 for i in range(40)},
    }
    batch = [
        {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
        "not a message",
        {"type": "nope", "userId": "u1"},
        {"userId": "u1", "event": "untyped"},
        {"type": "track", "userId": "u1", "event": "ok", "messageId": "m-ok"},
        {"type": "identify", "userId": "u1", "traits": {"email": "broken"}},
        big,
        {"type": "track", "userId": "u1", "event": "Device Created or Updated"},
        {"type": "page", "userId": "u1", "properties": {"url": "https://a/"}},
    ]
    response = client.post("/v1/batch", json={"batch": batch}, auth=auth)
    body = assert_error(response, 400, field="batch[1]")
    assert body["message"].endswith("(6 of 9 messages rejected, 3 applied)")
    assert [(e["index"], e["field"], e["code"]) for e in body["errors"]] == [
        (1, "batch[1]", "invalid"),
        (2, "batch[2].type", "invalid"),
        (3, "batch[3].type", "invalid"),
        (5, "batch[5].traits.email", "invalid"),
        (6, "batch[6]", "too_large"),
        (7, "batch[7].properties.device.token", "invalid"),
    ]
    assert all(isinstance(e["message"], str) and e["message"] for e in body["errors"])
    ws = workspace.workspace.id
    with runtime.services.db.read() as conn:
        person = people.find(conn, ws, PersonRef("id", "u1"))
        assert person is not None
        assert person.attributes["plan"] == "pro"
        assert "email" not in person.attributes
        names = [e.name for e in reversed(activity.events_of(conn, ws, person.pk))]
    assert names == ["ok", "https://a/"]
    # The official client gives up on a 4xx; sending the batch again applies nothing twice.
    client.post("/v1/batch", json={"batch": batch}, auth=auth)
    with runtime.services.db.read() as conn:
        assert [e.name for e in reversed(activity.events_of(conn, ws, person.pk))] == [
            "ok",
            "https://a/",
            "https://a/",
        ]


def test_contract_violation_in_enforce_mode_names_the_trait(
    client: TestClient, runtime: Runtime, workspace: Credentials, auth: tuple[str, str]
) -> None:
    document = {
        "mode": "enforce",
        "object_types": {"cart": {"id": "1", "attributes": {"total": {"type": "number", "required": True}}}},
    }
    with runtime.services.db.write() as conn:
        contracts.add_version(conn, workspace.workspace.id, document, runtime.services.clock.now())
    body = {"userId": "u1", "groupId": "c1", "traits": {"objectTypeId": "cart", "total": "lots"}}
    found = assert_error(client.post("/v1/group", json=body, auth=auth), 400, code="contract_violation")
    assert found["message"].startswith("traits.total: ")


# --- never a 500 -----------------------------------------------------------------------------------

WEIRD_VALUES: list[Any] = [None, "", " ", 0, -1, 1e308, True, [], {}, [None], {"": None}, "\u0000", "é" * 10]
FIELDS = [
    "userId",
    "anonymousId",
    "event",
    "traits",
    "properties",
    "context",
    "timestamp",
    "messageId",
    "groupId",
    "previousId",
    "name",
    "objectTypeId",
    "type",
    "relationshipAttributes",
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_never_a_server_error(client: TestClient, auth: tuple[str, str], endpoint: str) -> None:
    base = {
        "userId": "u1",
        "anonymousId": "a1",
        "event": "e",
        "groupId": "g",
        "previousId": "p",
        "name": "n",
        "properties": {"url": "https://x/"},
        "type": "track",
    }
    for name in FIELDS:
        for value in WEIRD_VALUES:
            message = {**base, name: value}
            body = {"batch": [message]} if endpoint == "batch" else message
            response = client.post(f"/v1/{endpoint}", json=body, auth=auth)
            assert response.status_code < 500, (name, value, response.text)
            if response.status_code != 200:
                assert_error(response, response.status_code)
