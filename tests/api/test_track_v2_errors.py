"""Track v2 bad input: limits, malformed requests, wrong types, auth and workspace isolation.

Every case gets a 4xx or a per-operation error naming the field — never a 500 — and in a batch the
other operations are still applied.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from test_track_v2_support import (
    batch,
    entity,
    errors_of,
    events,
    find_object,
    object_op,
    ok,
    person,
    person_op,
    rel,
    the_person,
)

from relata.bootstrap import Runtime, build
from relata.core.clock import FakeClock
from relata.core.limits import Limits
from relata.settings import Settings
from relata.storage.workspaces import Credentials

Auth = tuple[str, str]
LONG_ID = "x" * 151
CART = {"object_type_id": "1", "object_id": "c1"}
# The first list nested past 64 levels (the envelope and its attributes count as two).
DEEP = "attributes.d" + "[0]" * 62


def expect_all(
    client: TestClient,
    auth: Auth,
    runtime: Runtime,
    ws: int,
    cases: list[tuple[str, Any, str]],
    reasons: tuple[str, ...],
) -> None:
    """All ``cases`` in one batch after a valid canary: each is rejected at its index naming its field,
    the canary is applied; then each alone at /entity is a 400 naming the same field."""
    response = batch(
        client, auth, person_op("identify", "canary", attributes={"n": 1}), *[c[1] for c in cases]
    )
    got = {index: (reason, field) for index, reason, field in errors_of(response)}
    for index, (name, _bad, field) in enumerate(cases, start=1):
        assert index in got, f"{name}: accepted"
        assert got[index][1] == field, f"{name}: {got[index]}"
        assert got[index][0] in reasons, f"{name}: {got[index]}"
    assert len(got) == len(cases)
    assert the_person(runtime, ws, "canary").attributes["n"] == 1
    for name, bad, field in cases:
        response = entity(client, auth, bad)
        assert response.status_code == 400, f"{name}: {response.text}"
        if bad is not None:  # no body at all is a different error
            assert response.json()["errors"][0]["field"] == field, f"{name}: {response.text}"


# --- limits -------------------------------------------------------------------------------------

LIMIT_CASES: list[tuple[str, Any, str]] = [
    ("person id", person_op("identify", LONG_ID), "identifiers.id"),
    (
        "email identifier",
        {**person_op("identify"), "identifiers": {"email": "a@" + LONG_ID}},
        "identifiers.email",
    ),
    ("attribute name", person_op("identify", attributes={"n" * 151: 1}), f"attributes.{'n' * 40}"),
    ("attribute value", person_op("identify", attributes={"bio": "v" * 1001}), "attributes.bio"),
    ("structured value", person_op("identify", attributes={"tags": ["t" * 100] * 10}), "attributes.tags"),
    ("301 attributes", person_op("identify", attributes={f"a{i}": i for i in range(301)}), "attributes"),
    ("email attribute", person_op("identify", attributes={"email": "a@" + LONG_ID}), "attributes.email"),
    ("anonymous id", person_op("identify", attributes={"anonymous_id": LONG_ID}), "attributes.anonymous_id"),
    ("event name", person_op("event", name="e" * 101), "name"),
    ("event id", person_op("event", name="e", id=LONG_ID), "id"),
    (
        "anonymous event",
        {**person_op("event", name="e"), "identifiers": {"anonymous_id": LONG_ID}},
        "identifiers.anonymous_id",
    ),
    ("object id", object_op("identify", "1", LONG_ID), "identifiers.object_id"),
    ("object attributes", object_op("identify", "1", "c", attributes={"v": "v" * 1001}), "attributes.v"),
    (
        "relationship attributes",
        object_op("identify", "1", "c", cio_relationships=[rel({"id": "u"}, note="n" * 1001)]),
        "cio_relationships[0].relationship_attributes.note",
    ),
    (
        "related object id",
        person_op(
            "add_relationships", cio_relationships=[rel({"object_type_id": "1", "object_id": LONG_ID})]
        ),
        "cio_relationships[0].identifiers.object_id",
    ),
    (
        "related anonymous id",
        object_op("add_relationships", "1", "c", cio_relationships=[rel({"anonymous_id": LONG_ID})]),
        "cio_relationships[0].identifiers.anonymous_id",
    ),
    (
        "merge secondary",
        {"type": "person", "action": "merge", "primary": {"id": "a"}, "secondary": {"id": LONG_ID}},
        "secondary.id",
    ),
    ("device token", person_op("add_device", device={"token": "t" * 501}), "device.token"),
    (
        "device platform",
        person_op("add_device", device={"token": "t", "platform": "p" * 33}),
        "device.platform",
    ),
    ("numeric type id", object_op("identify", "9" * 33, "c"), "identifiers.object_type_id"),
]


def test_limits_are_per_operation_errors(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    """Every limit case in one batch: each comes back at its index naming its field; the canary applies."""
    expect_all(client, track_auth, runtime, workspace.workspace.id, LIMIT_CASES, reasons=("too_large",))


def test_attribute_limits_at_the_boundary_are_accepted(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(
        client,
        track_auth,
        person_op("identify", "x" * 150, attributes={"n" * 150: "v" * 1000}),
        object_op("identify", "1", "many", attributes={f"a{i}": i for i in range(300)}),
        person_op("event", "x" * 150, name="e" * 100, id="d" * 150),
    )
    assert the_person(runtime, ws, "x" * 150).attributes["n" * 150] == "v" * 1000
    # 300 in all: a later write cannot add a 301st.
    response = batch(client, track_auth, object_op("identify", "1", "many", attributes={"one_more": 1}))
    assert errors_of(response) == [(0, "too_large", "attributes")]


def test_operation_size_limit(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    # 40 attributes of 900 bytes: each within its limit, the operation over 32,000 bytes.
    big = person_op("identify", "big", attributes={f"a{i}": "v" * 900 for i in range(40)})
    assert len(orjson.dumps(big)) > 32_000
    response = batch(client, track_auth, person_op("identify", "small"), big)
    assert errors_of(response) == [(1, "too_large", "")]
    assert "32000" in response.json()["errors"][0]["message"]
    the_person(runtime, ws, "small")
    assert person(runtime, ws, "id", "big") is None
    # /entity: the body limit is the operation limit, and is a whole-request 413.
    response = entity(client, track_auth, big)
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "body"


def test_batch_size_limit(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ops = [person_op("identify", f"p{i}", attributes={"v": "v" * 900}) for i in range(600)]
    response = batch(client, track_auth, *ops)
    assert response.status_code == 413
    assert response.json()["errors"][0] == {
        "reason": "too_large",
        "field": "body",
        "message": "is larger than 500000 bytes",
    }
    assert person(runtime, workspace.workspace.id, "id", "p0") is None


@pytest.fixture
def small_limits(database_url: str, clock: FakeClock) -> Iterator[tuple[Runtime, TestClient, Auth]]:
    """Relata with event data limited to 1,000 bytes (the default 100 KB is more than an operation)."""
    limits = Limits(event_data_bytes=1000, batch_request_bytes=5000, batch_operation_bytes=2000)
    rt = build(Settings(database_url=database_url, limits=limits), clock=clock, migrate=False)
    credentials = rt.services.workspaces.create("small")
    with TestClient(rt.app) as test_client:
        yield rt, test_client, (credentials.site_id, credentials.track_api_key)
    rt.services.db.dispose()


def test_configured_limits(small_limits: tuple[Runtime, TestClient, Auth]) -> None:
    rt, client, auth = small_limits
    response = batch(
        client,
        auth,
        person_op("event", name="ok", attributes={"d": "x" * 900}),
        person_op("event", name="big", attributes={"d": ["x" * 500] * 2}),
        person_op("identify", "huge", attributes={"a": "x" * 1000, "b": "x" * 1000}),
    )
    assert errors_of(response) == [(1, "too_large", "attributes"), (2, "too_large", "")]
    ws = rt.services.workspaces.authenticate("track", auth[1], site_id=auth[0]).id
    found = events(rt, ws, the_person(rt, ws, "u1").pk)
    assert [e.name for e in found] == ["ok"]
    response = batch(
        client, auth, *[person_op("identify", f"p{i}", attributes={"v": "v" * 900}) for i in range(6)]
    )
    assert response.status_code == 413


# --- malformed requests -------------------------------------------------------------------------


MALFORMED_BATCHES: list[tuple[bytes, str, str]] = [
    (b"{not json", "body", "malformed_json"),
    (b"", "body", "invalid"),
    (b"[]", "body", "invalid"),
    (b'"batch"', "body", "invalid"),
    (b"{}", "batch", "invalid"),
    (b'{"batch": null}', "batch", "invalid"),
    (b'{"batch": {"type": "person"}}', "batch", "invalid"),
    (b'{"batch": "nope"}', "batch", "invalid"),
    (b'{"batch": [1e400]}', "body", "malformed_json"),
    (b'{"batch": ["\\ud800"]}', "body", "malformed_json"),
    (b"\xff\xfe", "body", "malformed_json"),
]


def test_malformed_batch_requests(client: TestClient, track_auth: Auth) -> None:
    for body, field, reason in MALFORMED_BATCHES:
        response = client.post(
            "/api/v2/batch", auth=track_auth, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, (body, response.text)
        [error] = response.json()["errors"]
        assert (error["field"], error["reason"]) == (field, reason), body
        assert error["message"]
    response = client.post("/api/v2/batch", auth=track_auth, content=b"x", headers={"content-encoding": "br"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "content-encoding"
    response = client.post(
        "/api/v2/batch", auth=track_auth, content=b"x", headers={"content-encoding": "gzip"}
    )
    assert response.status_code == 400


def test_malformed_entity_requests(client: TestClient, track_auth: Auth) -> None:
    for body in (b"{oops", b"", b"[]", b"42", b'"x"', b"null"):
        response = client.post("/api/v2/entity", auth=track_auth, content=body)
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["message"]


def test_gzip_bodies(client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials) -> None:
    body = gzip.compress(orjson.dumps({"batch": [person_op("identify", "gz")]}))
    response = client.post(
        "/api/v2/batch", auth=track_auth, content=body, headers={"content-encoding": "gzip"}
    )
    assert (response.status_code, response.json()) == (200, {})
    the_person(runtime, workspace.workspace.id, "gz")


def test_empty_batch_is_accepted(client: TestClient, track_auth: Auth) -> None:
    response = batch(client, track_auth)
    assert (response.status_code, response.json()) == (200, {})


# --- wrong types and unknown names in the envelope ------------------------------------------------

WRONG: list[tuple[str, Any, str]] = [
    ("not an object", ["person"], ""),
    ("null op", None, ""),
    ("type missing", {"action": "identify", "identifiers": {"id": "a"}}, "type"),
    ("type number", {**person_op("identify"), "type": 1}, "type"),
    ("type list", {**person_op("identify"), "type": ["person"]}, "type"),
    ("type unknown", {**person_op("identify"), "type": "company"}, "type"),
    ("action missing", {"type": "person", "identifiers": {"id": "a"}}, "action"),
    ("action number", person_op(7), "action"),
    ("action object", person_op({"x": 1}), "action"),
    ("action unknown", person_op("upsert"), "action"),
    ("object action for person", person_op("identify_anonymous"), "action"),
    ("person action for object", object_op("event", "1", "c", name="x"), "action"),
    ("identifiers missing", {"type": "person", "action": "identify"}, "identifiers"),
    ("identifiers string", {**person_op("identify"), "identifiers": "u1"}, "identifiers"),
    (
        "identifiers two keys",
        {**person_op("identify"), "identifiers": {"id": "a", "email": "a@x.io"}},
        "identifiers",
    ),
    ("identifiers empty", {**person_op("identify"), "identifiers": {}}, "identifiers"),
    ("identifier unknown", {**person_op("identify"), "identifiers": {"phone": "+1555"}}, "identifiers.phone"),
    ("identifier bool", {**person_op("identify"), "identifiers": {"id": True}}, "identifiers.id"),
    ("identifier object", {**person_op("identify"), "identifiers": {"id": {"a": 1}}}, "identifiers.id"),
    ("identifier blank", {**person_op("identify"), "identifiers": {"id": "  "}}, "identifiers.id"),
    ("email not email", {**person_op("identify"), "identifiers": {"email": "nope"}}, "identifiers.email"),
    (
        "object identifiers person",
        {**object_op("identify", "1", "c"), "identifiers": {"id": "a"}},
        "identifiers.object_type_id",
    ),
    (
        "object id missing",
        {**object_op("identify", "1", "c"), "identifiers": {"object_type_id": "1"}},
        "identifiers.object_id",
    ),
    ("object type list", object_op("identify", ["1"], "c"), "identifiers.object_type_id"),
    ("object type name", object_op("identify", "Not A Type", "c"), "identifiers.object_type_id"),
    ("attributes list", person_op("identify", attributes=[1, 2]), "attributes"),
    ("attributes string", object_op("identify", "1", "c", attributes="a=1"), "attributes"),
    ("empty attribute name", person_op("identify", attributes={"": 1}), "attributes"),
    ("_update string", person_op("identify", attributes={"_update": "yes"}), "attributes._update"),
    (
        "created_at junk",
        person_op("identify", attributes={"created_at": "yesterday"}),
        "attributes.created_at",
    ),
    (
        "anonymous_id object",
        person_op("identify", attributes={"anonymous_id": {}}),
        "attributes.anonymous_id",
    ),
    ("_timestamp junk", person_op("identify", attributes={"_timestamp": "soon"}), "attributes._timestamp"),
    ("relationships object", person_op("identify", cio_relationships={"a": 1}), "cio_relationships"),
    (
        "relationship string",
        object_op("identify", "1", "c", cio_relationships=["u1"]),
        "cio_relationships[0]",
    ),
    (
        "relationship identifiers missing",
        person_op("add_relationships", cio_relationships=[{"relationship_attributes": {}}]),
        "cio_relationships[0].identifiers",
    ),
    (
        "relationship attributes list",
        person_op(
            "add_relationships", cio_relationships=[{"identifiers": CART, "relationship_attributes": [1]}]
        ),
        "cio_relationships[0].relationship_attributes",
    ),
    (
        "person relates to person",
        person_op("add_relationships", cio_relationships=[rel({"id": "b"})]),
        "cio_relationships[0].identifiers",
    ),
    ("no relationships", person_op("add_relationships", cio_relationships=[]), "cio_relationships"),
    ("name missing", person_op("event"), "name"),
    ("name object", person_op("event", name={"n": 1}), "name"),
    ("name bool", person_op("page", name=True), "name"),
    ("name blank", person_op("screen", name="   "), "name"),
    ("event data list", person_op("event", name="e", attributes=["a"]), "attributes"),
    ("event id object", person_op("event", name="e", id={"x": 1}), "id"),
    ("timestamp object", person_op("identify", timestamp={"t": 1}), "timestamp"),
    ("timestamp negative", person_op("event", name="e", timestamp=-5), "timestamp"),
    ("timestamp junk", object_op("identify", "1", "c", timestamp="late"), "timestamp"),
    (
        "timestamp bool",
        person_op("add_relationships", timestamp=True, cio_relationships=[rel(CART)]),
        "timestamp",
    ),
    ("timestamp year 10000", person_op("event", name="e", timestamp=10**19), "timestamp"),
    ("device missing", person_op("add_device"), "device"),
    ("device list", person_op("add_device", device=["t"]), "device"),
    ("device token missing", person_op("delete_device", device={"platform": "ios"}), "device.token"),
    ("device token object", person_op("add_device", device={"token": {}}), "device.token"),
    (
        "device platform list",
        person_op("add_device", device={"token": "t", "platform": []}),
        "device.platform",
    ),
    (
        "device last_used junk",
        person_op("add_device", device={"token": "t", "last_used": "x"}),
        "device.last_used",
    ),
    (
        "device attributes list",
        person_op("add_device", device={"token": "t", "attributes": [1]}),
        "device.attributes",
    ),
    ("primary missing", {"type": "person", "action": "merge", "secondary": {"id": "b"}}, "primary"),
    (
        "secondary string",
        {"type": "person", "action": "merge", "primary": {"id": "a"}, "secondary": "b"},
        "secondary",
    ),
    (
        "merge with itself",
        {"type": "person", "action": "merge", "primary": {"id": "a"}, "secondary": {"id": "a"}},
        "secondary",
    ),
    ("NUL in identifier", person_op("identify", "a\x00b"), "identifiers.id"),
    ("NUL in attribute", person_op("identify", attributes={"bio": "a\x00"}), "attributes.bio"),
    ("NUL in attribute name", person_op("identify", attributes={"a\x00": 1}), "attributes"),
    ("NUL in event data", person_op("event", name="e", attributes={"x": ["\x00"]}), "attributes.x[0]"),
    (
        "deep nesting",
        person_op("event", name="e", attributes={"d": orjson.loads("[" * 70 + "]" * 70)}),
        DEEP,
    ),
    (
        "very deep nesting",
        person_op("event", name="e", attributes={"d": orjson.loads("[" * 300 + "]" * 300)}),
        DEEP,
    ),
    (
        "unknown type delivery",
        {"type": "delivery", "action": "event", "identifiers": {"delivery_id": "d"}},
        "type",
    ),
]


def test_wrong_envelopes_are_per_operation_errors(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    expect_all(client, track_auth, runtime, workspace.workspace.id, WRONG, reasons=("invalid", "unsupported"))


def test_delivery_is_unsupported_not_an_error_of_the_server(client: TestClient, track_auth: Auth) -> None:
    op = {"type": "delivery", "action": "event", "identifiers": {"id": "dlv"}, "name": "opened"}
    assert errors_of(batch(client, track_auth, op)) == [(0, "unsupported", "type")]
    response = entity(client, track_auth, op)
    assert response.status_code == 400
    assert response.json()["errors"][0]["reason"] == "unsupported"


def test_unknown_envelope_fields_are_ignored(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ok(client, track_auth, person_op("identify", attributes={"a": 1}, context={"ip": "1.2.3.4"}, name=5))
    assert the_person(runtime, workspace.workspace.id, "u1").attributes["a"] == 1


# --- auth and workspaces ------------------------------------------------------------------------


def test_auth_is_required(client: TestClient, track_auth: Auth, workspace: Credentials) -> None:
    op = person_op("identify")
    for path in ("/api/v2/batch", "/api/v2/entity"):
        body = {"batch": [op]} if path.endswith("batch") else op
        assert client.post(path, json=body).status_code == 401
        assert client.post(path, json=body, auth=(track_auth[0], "wrong")).status_code == 401
        assert client.post(path, json=body, auth=("wrong", track_auth[1])).status_code == 401
        bearer = {"Authorization": f"Bearer {workspace.track_api_key}"}
        assert client.post(path, json=body, headers=bearer).status_code == 401
        other_key = (workspace.site_id, workspace.app_api_key)
        response = client.post(path, json=body, auth=other_key)
        assert response.status_code == 401
        assert response.json()["errors"][0]["reason"] == "unauthorized"


def test_workspaces_are_isolated(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    first = workspace.workspace.id
    second = runtime.services.workspaces.create("second")
    second_auth = (second.site_id, second.track_api_key)
    ok(
        client,
        track_auth,
        person_op("identify", attributes={"owner": "first"}),
        object_op("identify", "1", "c1"),
    )
    ok(
        client,
        second_auth,
        person_op("identify", attributes={"owner": "second"}),
        person_op("delete"),
        object_op("delete", "1", "c1"),
        person_op("identify", "only-second"),
    )
    assert the_person(runtime, first, "u1").attributes["owner"] == "first"
    assert find_object(runtime, first, "1", "c1") is not None
    assert person(runtime, first, "id", "only-second") is None
    assert the_person(runtime, second.workspace.id, "only-second")
    # A key pair mixing the two workspaces is refused.
    mixed = (workspace.site_id, second.track_api_key)
    assert batch(client, mixed, person_op("identify", "x")).status_code == 401
    # A cio_id from the first workspace names no one in the second.
    cio = the_person(runtime, first, "u1").cio_id
    response = batch(client, second_auth, {**person_op("identify"), "identifiers": {"cio_id": cio}})
    assert errors_of(response) == [(0, "not_found", "identifiers.cio_id")]
