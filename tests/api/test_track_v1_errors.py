"""Track API v1: bad input is a 4xx naming the field on every endpoint, never a 500; auth; isolation."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from relata.bootstrap import Runtime, build
from relata.core.clock import FakeClock
from relata.core.identity import PersonRef
from relata.core.limits import Limits
from relata.settings import Settings
from relata.storage import people
from relata.storage.schema import changes, devices, events
from relata.storage.schema import people as people_table
from relata.storage.workspaces import Credentials

Auth = tuple[str, str]

# (method, path, a valid body or None when the endpoint reads no body)
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("PUT", "/api/v1/customers/u1", {"a": 1}),
    ("DELETE", "/api/v1/customers/u1", None),
    ("PUT", "/api/v1/customers/u1/devices", {"device": {"id": "tok", "platform": "ios"}}),
    ("DELETE", "/api/v1/customers/u1/devices/tok", None),
    ("POST", "/api/v1/customers/u1/events", {"name": "viewed"}),
    ("POST", "/api/v1/events", {"anonymous_id": "anon", "name": "viewed"}),
    ("POST", "/api/v1/merge_customers", {"primary": {"id": "u1"}, "secondary": {"id": "u2"}}),
    ("POST", "/api/v1/customers/u1/suppress", None),
    ("POST", "/api/v1/customers/u1/unsuppress", None),
]
WITH_BODY = [e for e in ENDPOINTS if e[2] is not None]
WITH_IDENTIFIER = [e for e in ENDPOINTS if "/customers/u1" in e[1]]


def ids(endpoint: tuple[str, str, Any]) -> str:
    return f"{endpoint[0]} {endpoint[1].removeprefix('/api/v1')}"


def error_of(response: Any, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"meta"}
    (message,) = body["meta"]["errors"]
    assert isinstance(message, str)
    return message


def stored_count(runtime: Runtime) -> int:
    with runtime.services.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(changes)).scalar_one())


def call(client: TestClient, method: str, path: str, auth: Any = None, **kwargs: Any) -> Any:
    return client.request(method, path, auth=auth, **kwargs)


# --- each endpoint works with a valid request (baseline for the cases below) ----------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
def test_valid_request_is_200(client: TestClient, track_auth: Auth, endpoint: tuple[str, str, Any]) -> None:
    method, path, body = endpoint
    response = call(client, method, path, track_auth, json=body if body is not None else {})
    assert (response.status_code, response.json()) == (200, {})


# --- credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
def test_wrong_credentials_are_401(
    client: TestClient, runtime: Runtime, workspace: Credentials, endpoint: tuple[str, str, Any]
) -> None:
    method, path, body = endpoint
    before = stored_count(runtime)
    attempts: list[dict[str, Any]] = [
        {},
        {"auth": (workspace.site_id, "wrong")},
        {"auth": ("wrong", workspace.track_api_key)},
        {"auth": (workspace.track_api_key, workspace.site_id)},
        {"auth": (workspace.site_id, workspace.pipelines_write_key)},
        {"headers": {"Authorization": f"Bearer {workspace.track_api_key}"}},
        {"headers": {"Authorization": f"Bearer {workspace.app_api_key}"}},
        {"headers": {"Authorization": "Basic !!!not-base64"}},
    ]
    for attempt in attempts:
        response = client.request(method, path, json=body or {}, **attempt)
        assert response.status_code == 401, (attempt, response.text)
        assert response.headers["www-authenticate"].startswith("Basic")
        assert response.json()["meta"]["errors"]
    assert stored_count(runtime) == before


def test_workspace_isolation(client: TestClient, runtime: Runtime, workspace: Credentials) -> None:
    other = runtime.services.workspaces.create("other")
    a_auth = (workspace.site_id, workspace.track_api_key)
    b_auth = (other.site_id, other.track_api_key)
    assert client.put("/api/v1/customers/u1", json={"owner": "a"}, auth=a_auth).status_code == 200
    assert client.put("/api/v1/customers/u1", json={"owner": "b"}, auth=b_auth).status_code == 200
    # A's site id with B's key (and the reverse) is no one's credentials.
    for mixed in ((workspace.site_id, other.track_api_key), (other.site_id, workspace.track_api_key)):
        assert client.put("/api/v1/customers/u1", json={"owner": "x"}, auth=mixed).status_code == 401
    assert client.delete("/api/v1/customers/u1", auth=a_auth).status_code == 200
    assert client.post("/api/v1/customers/u2/suppress", auth=a_auth).status_code == 200
    with runtime.services.db.read() as conn:
        assert people.find(conn, workspace.workspace.id, PersonRef("id", "u1")) is None
        mine = people.find(conn, other.workspace.id, PersonRef("id", "u1"))
    assert mine is not None
    assert mine.attributes["owner"] == "b"
    # A's suppression of u2 does not block u2 in B.
    assert client.put("/api/v1/customers/u2", json={"a": 1}, auth=b_auth).status_code == 200
    with runtime.services.db.read() as conn:
        assert people.find(conn, other.workspace.id, PersonRef("id", "u2")) is not None


def test_merge_cannot_reach_another_workspace(
    client: TestClient, runtime: Runtime, workspace: Credentials
) -> None:
    other = runtime.services.workspaces.create("other")
    b_auth = (other.site_id, other.track_api_key)
    a_auth = (workspace.site_id, workspace.track_api_key)
    assert client.put("/api/v1/customers/victim", json={"secret": 1}, auth=b_auth).status_code == 200
    body = {"primary": {"id": "thief"}, "secondary": {"id": "victim"}}
    assert client.post("/api/v1/merge_customers", json=body, auth=a_auth).status_code == 200
    with runtime.services.db.read() as conn:
        victim = people.find(conn, other.workspace.id, PersonRef("id", "victim"))
        thief = people.find(conn, workspace.workspace.id, PersonRef("id", "thief"))
    assert victim is not None
    assert victim.attributes["secret"] == 1
    assert thief is None  # the secondary does not exist in A: nothing to merge


# --- malformed bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=ids)
def test_malformed_json(
    client: TestClient, runtime: Runtime, track_auth: Auth, endpoint: tuple[str, str, Any]
) -> None:
    method, path, _ = endpoint
    before = stored_count(runtime)
    response = call(
        client, method, path, track_auth, content=b'{"a": ', headers={"content-type": "application/json"}
    )
    assert error_of(response).startswith("body: is not valid JSON")
    response = call(client, method, path, track_auth, json=["a", 1])
    assert error_of(response) == "body: must be a JSON object"
    response = call(client, method, path, track_auth, content=b"\xff\xfe", headers={"content-encoding": "br"})
    assert error_of(response).startswith("content-encoding:")
    response = call(
        client, method, path, track_auth, content=b"not gzip", headers={"content-encoding": "gzip"}
    )
    assert error_of(response).startswith("body: is not valid gzip data")
    assert stored_count(runtime) == before


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=ids)
def test_gzip_body_is_accepted(client: TestClient, track_auth: Auth, endpoint: tuple[str, str, Any]) -> None:
    method, path, body = endpoint
    response = call(
        client,
        method,
        path,
        track_auth,
        content=gzip.compress(orjson.dumps(body)),
        headers={"content-encoding": "gzip", "content-type": "application/json"},
    )
    assert (response.status_code, response.json()) == (200, {})


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=ids)
def test_oversize_body_is_413(
    client: TestClient, runtime: Runtime, track_auth: Auth, endpoint: tuple[str, str, Any]
) -> None:
    method, path, body = endpoint
    limit = 132_000 if path.endswith("/events") else 32_000  # an event's data may be 100 KB
    padded = {**body, "padding": "x" * limit}
    response = call(client, method, path, track_auth, json=padded)
    assert error_of(response, 413) == f"body: is larger than {limit} bytes"
    bomb = gzip.compress(orjson.dumps({**body, "padding": "x" * 400_000}))
    assert len(bomb) < 32_000
    response = call(client, method, path, track_auth, content=bomb, headers={"content-encoding": "gzip"})
    assert error_of(response, 413) == f"body: is larger than {limit} bytes"


def test_empty_bodies(client: TestClient, runtime: Runtime, track_auth: Auth) -> None:
    # An identify without a body is an identify without attributes.
    assert client.put("/api/v1/customers/u1", auth=track_auth).status_code == 200
    for path in ("/api/v1/customers/u1/events", "/api/v1/events", "/api/v1/merge_customers"):
        assert error_of(client.post(path, auth=track_auth)) == "body: is empty; expected a JSON object"
    response = client.put("/api/v1/customers/u1/devices", auth=track_auth)
    assert error_of(response) == "body: is empty; expected a JSON object"


# --- identifiers ---------------------------------------------------------------------------------


def test_too_long_identifier(client: TestClient, runtime: Runtime, track_auth: Auth) -> None:
    before = stored_count(runtime)
    for endpoint in WITH_IDENTIFIER:
        _too_long_identifier(client, track_auth, endpoint)
    assert stored_count(runtime) == before


def _too_long_identifier(client: TestClient, track_auth: Auth, endpoint: tuple[str, str, Any]) -> None:
    method, path, body = endpoint
    for identifier, kind in (
        ("x" * 151, "id"),
        ("a" * 140 + "@example.com", "email"),
        ("cio_" + "c" * 151, ""),
    ):
        response = call(client, method, path.replace("/u1", f"/{identifier}"), track_auth, json=body or {})
        assert error_of(response) == "identifier: is longer than 150 bytes", kind
    # 150 bytes of multi-byte characters is fewer than 150 characters: bytes are what count.
    response = call(client, method, path.replace("/u1", "/" + "é" * 76), track_auth, json=body or {})
    assert error_of(response) == "identifier: is longer than 150 bytes"


def test_bad_identifiers(client: TestClient, track_auth: Auth) -> None:
    for endpoint in WITH_IDENTIFIER:
        _bad_identifiers(client, track_auth, endpoint)


def _bad_identifiers(client: TestClient, track_auth: Auth, endpoint: tuple[str, str, Any]) -> None:
    method, path, body = endpoint
    for bad, message in (("%00x", "must not contain NUL characters"), ("%20%20", "must not be empty")):
        response = call(client, method, path.replace("/u1", f"/{bad}"), track_auth, json=body or {})
        assert error_of(response) == f"identifier: {message}"
    # Bytes that are not UTF-8 are replaced, not a 500.
    response = call(client, method, path.replace("/u1", "/%ff%fe"), track_auth, json=body or {})
    assert response.status_code == 200, response.text


def test_other_too_long_identifiers(client: TestClient, track_auth: Auth) -> None:
    long = "x" * 151
    cases = [
        ("POST", "/api/v1/events", {"anonymous_id": long, "name": "n"}, "anonymous_id"),
        ("PUT", "/api/v1/customers/u1", {"anonymous_id": long}, "anonymous_id"),
        ("POST", "/api/v1/customers/u1/events", {"name": "n", "id": long}, "id"),
        ("POST", "/api/v1/events", {"name": "n", "id": long, "anonymous_id": "a"}, "id"),
        (
            "POST",
            "/api/v1/merge_customers",
            {"primary": {"id": long}, "secondary": {"id": "b"}},
            "primary.id",
        ),
        (
            "POST",
            "/api/v1/merge_customers",
            {"primary": {"id": "a"}, "secondary": {"email": long + "@x.io"}},
            "secondary.email",
        ),
        ("PUT", "/api/v1/customers/x@y.io", {"id": long}, "attributes.id"),
        (
            "PUT",
            "/api/v1/customers/u1",
            {"cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": long}}]},
            "cio_relationships[0].identifiers.object_id",
        ),
        (
            "PUT",
            "/api/v1/customers/u1/devices",
            {"device": {"id": "t" * 1001, "platform": "ios"}},
            "device.id",
        ),
        ("DELETE", f"/api/v1/customers/u1/devices/{'t' * 1001}", None, "token"),
    ]
    for method, path, body, field in cases:
        response = call(client, method, path, track_auth, json=body)
        message = error_of(response)
        assert message.startswith(f"{field}: "), (field, message)
        assert "longer than" in message or "not found" in message or "no person" in message, message


# --- wrong types ---------------------------------------------------------------------------------

WRONG_TYPES: list[tuple[str, str, Any, str]] = [
    ("PUT", "/api/v1/customers/u1", {"_timestamp": "yesterday"}, "_timestamp"),
    ("PUT", "/api/v1/customers/u1", {"_timestamp": True}, "_timestamp"),
    ("PUT", "/api/v1/customers/u1", {"_timestamp": -5}, "_timestamp"),
    ("PUT", "/api/v1/customers/u1", {"_update": "yes"}, "_update"),
    ("PUT", "/api/v1/customers/u1", {"anonymous_id": {"a": 1}}, "anonymous_id"),
    ("PUT", "/api/v1/customers/u1", {"created_at": "soon"}, "created_at"),
    ("PUT", "/api/v1/customers/u1", {"cio_relationships": "cart_1"}, "cio_relationships"),
    ("PUT", "/api/v1/customers/u1", {"cio_relationships": [5]}, "cio_relationships[0]"),
    ("PUT", "/api/v1/customers/u1", {"email": "not-an-email"}, "attributes.email"),
    ("PUT", "/api/v1/customers/u1", {"email": 42}, "attributes.email"),
    ("PUT", "/api/v1/customers/cio_x", {"id": ["u1"]}, "attributes.id"),
    ("PUT", "/api/v1/customers/u1/devices", {"device": "tok"}, "device"),
    ("PUT", "/api/v1/customers/u1/devices", {"devices": {"id": "t"}}, "device"),
    ("PUT", "/api/v1/customers/u1/devices", {"device": {"platform": "ios"}}, "device.id"),
    ("PUT", "/api/v1/customers/u1/devices", {"device": {"id": {"t": 1}, "platform": "ios"}}, "device.id"),
    ("PUT", "/api/v1/customers/u1/devices", {"device": {"id": "t"}}, "device.platform"),
    ("PUT", "/api/v1/customers/u1/devices", {"device": {"id": "t", "platform": []}}, "device.platform"),
    (
        "PUT",
        "/api/v1/customers/u1/devices",
        {"device": {"id": "t", "platform": "ios", "last_used": "x"}},
        "device.last_used",
    ),
    (
        "PUT",
        "/api/v1/customers/u1/devices",
        {"device": {"id": "t", "platform": "ios", "attributes": [1]}},
        "device.attributes",
    ),
    ("POST", "/api/v1/customers/u1/events", {}, "name"),
    ("POST", "/api/v1/customers/u1/events", {"name": {"a": 1}}, "name"),
    ("POST", "/api/v1/customers/u1/events", {"name": "   "}, "name"),
    ("POST", "/api/v1/customers/u1/events", {"name": "n", "data": [1, 2]}, "data"),
    ("POST", "/api/v1/customers/u1/events", {"name": "n", "data": "x"}, "data"),
    ("POST", "/api/v1/customers/u1/events", {"name": "n", "type": "click"}, "type"),
    ("POST", "/api/v1/customers/u1/events", {"name": "n", "timestamp": "later"}, "timestamp"),
    ("POST", "/api/v1/customers/u1/events", {"name": "n", "id": {"x": 1}}, "id"),
    ("POST", "/api/v1/events", {"name": "n", "anonymous_id": ["a"]}, "anonymous_id"),
    ("POST", "/api/v1/events", {"anonymous_id": "a"}, "name"),
    ("POST", "/api/v1/events", {"anonymous_id": "a", "name": "n", "type": 3}, "type"),
    ("POST", "/api/v1/events", {"anonymous_id": "a", "name": "n", "data": 3}, "data"),
    ("POST", "/api/v1/merge_customers", {}, "primary"),
    ("POST", "/api/v1/merge_customers", {"primary": {"id": "a"}}, "secondary"),
    ("POST", "/api/v1/merge_customers", {"primary": "a", "secondary": {"id": "b"}}, "primary"),
    (
        "POST",
        "/api/v1/merge_customers",
        {"primary": {"phone": "1"}, "secondary": {"id": "b"}},
        "primary.phone",
    ),
    (
        "POST",
        "/api/v1/merge_customers",
        {"primary": {"id": "a", "email": "a@x.io"}, "secondary": {"id": "b"}},
        "primary",
    ),
    (
        "POST",
        "/api/v1/merge_customers",
        {"primary": {"email": "nope"}, "secondary": {"id": "b"}},
        "primary.email",
    ),
    ("POST", "/api/v1/merge_customers", {"primary": {"id": "a"}, "secondary": {"id": "a"}}, "secondary"),
    ("POST", "/api/v1/merge_customers", {"primary": {"cio_id": "zz"}, "secondary": {"id": "b"}}, None),
]


def test_wrong_types_name_the_field(client: TestClient, runtime: Runtime, track_auth: Auth) -> None:
    # A real secondary makes the merge reach the write path, where primary and secondary are checked.
    client.put("/api/v1/customers/b", json={}, auth=track_auth)
    before = stored_count(runtime)
    for method, path, body, field in WRONG_TYPES:
        message = error_of(call(client, method, path, track_auth, json=body))
        expected = field or "primary.cio_id"
        assert message.startswith(f"{expected}: "), (method, path, body, message)
    assert stored_count(runtime) == before


def test_rejected_identify_stores_nothing(client: TestClient, runtime: Runtime, track_auth: Auth) -> None:
    body = {
        "a": 1,
        "email": "bad",
        "anonymous_id": "anon",
        "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "c1"}}],
    }
    error_of(client.put("/api/v1/customers/u1", json=body, auth=track_auth))
    with runtime.services.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(people_table)).scalar_one() == 0
    assert stored_count(runtime) == 0


# --- limits --------------------------------------------------------------------------------------


def test_attribute_limits(client: TestClient, track_auth: Auth, runtime: Runtime) -> None:
    many = {f"a{i}": i for i in range(301)}
    assert error_of(client.put("/api/v1/customers/u1", json=many, auth=track_auth)) == (
        "attributes: has more than 300 attributes"
    )
    message = error_of(client.put("/api/v1/customers/u1", json={"bio": "x" * 1001}, auth=track_auth))
    assert message == "attributes.bio: value is larger than 1000 bytes"
    message = error_of(client.put("/api/v1/customers/u1", json={"n" * 151: 1}, auth=track_auth))
    assert message.startswith("attributes.nnnn") and "name is longer than 150 bytes" in message
    # 300 in one write, then one more: the total is what is limited.
    assert (
        client.put("/api/v1/customers/u1", json={f"a{i}": i for i in range(299)}, auth=track_auth).status_code
        == 200
    )
    message = error_of(client.put("/api/v1/customers/u1", json={"one_more": 1}, auth=track_auth))
    assert message == "attributes: would give more than 300 attributes"
    device = {"device": {"id": "t", "platform": "ios", "attributes": many}}
    message = error_of(client.put("/api/v1/customers/u1/devices", json=device, auth=track_auth))
    assert message == "device.attributes: has more than 300 attributes"
    relationship = {
        "cio_relationships": [
            {"identifiers": {"object_type_id": "1", "object_id": "c1"}, "relationship_attributes": many}
        ]
    }
    message = error_of(client.put("/api/v1/customers/u2", json=relationship, auth=track_auth))
    assert message == "cio_relationships[0].relationship_attributes: has more than 300 attributes"


def test_event_name_limit_on_both_event_endpoints(
    client: TestClient, track_auth: Auth, runtime: Runtime
) -> None:
    for path, extra in (("/api/v1/customers/u1/events", {}), ("/api/v1/events", {"anonymous_id": "a"})):
        response = client.post(path, json={"name": "n" * 101, **extra}, auth=track_auth)
        assert error_of(response) == "name: is longer than 100 bytes"
        assert client.post(path, json={"name": "n" * 100, **extra}, auth=track_auth).status_code == 200
    with runtime.services.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 2


@pytest.fixture
def small_runtime(database_url: str) -> Iterator[Runtime]:
    limits = Limits(
        event_data_bytes=50, attributes_per_entity=3, identifier_bytes=10, entity_request_bytes=2000
    )
    rt = build(Settings(database_url=database_url, limits=limits), clock=FakeClock(), migrate=False)
    yield rt
    rt.services.db.dispose()


def test_configured_limits_apply(small_runtime: Runtime) -> None:
    creds = small_runtime.services.workspaces.create("small")
    auth = (creds.site_id, creds.track_api_key)
    with TestClient(small_runtime.app) as client:
        data = {"name": "n", "data": {"blob": "x" * 60}}
        assert error_of(client.post("/api/v1/customers/u1/events", json=data, auth=auth)) == (
            "data: is larger than 50 bytes"
        )
        data = {"name": "n", "anonymous_id": "a", "data": {"blob": "x" * 60}}
        assert (
            error_of(client.post("/api/v1/events", json=data, auth=auth)) == "data: is larger than 50 bytes"
        )
        assert error_of(
            client.put("/api/v1/customers/u1", json={"a": 1, "b": 2, "c": 3, "d": 4}, auth=auth)
        ) == ("attributes: has more than 3 attributes")
        assert error_of(client.put("/api/v1/customers/abcdefghijk", json={}, auth=auth)) == (
            "identifier: is longer than 10 bytes"
        )
        assert error_of(client.put("/api/v1/customers/u1", json={"p": "x" * 2000}, auth=auth), 413) == (
            "body: is larger than 2000 bytes"
        )
        with small_runtime.services.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(devices)).scalar_one() == 0
            assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 0


# --- routing -------------------------------------------------------------------------------------


def test_unknown_paths_and_methods(client: TestClient, track_auth: Auth) -> None:
    response = client.get("/api/v1/customers/u1", auth=track_auth)
    assert error_of(response, 405)
    response = client.post("/api/v1/customers/u1/unknown", json={}, auth=track_auth)
    assert error_of(response, 404)
    response = client.put("/api/v1/customers/", json={}, auth=track_auth)
    assert response.status_code in (404, 405)
    assert "meta" in response.json()


def test_event_data_up_to_its_own_limit_fits_in_an_event_body(client, track_auth) -> None:
    fits = client.post(
        "/api/v1/customers/ann/events", json={"name": "big", "data": {"blob": "x" * 90_000}}, auth=track_auth
    )
    assert fits.status_code == 200, fits.text
    too_big = client.post(
        "/api/v1/customers/ann/events", json={"name": "big", "data": {"blob": "x" * 100_001}}, auth=track_auth
    )
    assert too_big.status_code == 400
    assert too_big.json()["meta"]["errors"][0].startswith("data")
