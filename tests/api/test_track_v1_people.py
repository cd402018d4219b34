"""Track API v1 people endpoints through HTTP, asserting what was stored (both databases)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.core.identity import PersonRef
from relata.core.model import Person
from relata.storage import activity, people
from relata.storage.links import PERSON_LINKS
from relata.storage.schema import objects, suppressions
from relata.storage.workspaces import Credentials

Auth = tuple[str, str]


def enc(identifier: str) -> str:
    return quote(identifier, safe="")


def find(runtime: Runtime, ws: Credentials, kind: str, value: str) -> Person | None:
    with runtime.services.db.read() as conn:
        return people.find(conn, ws.workspace.id, PersonRef(kind, value))  # type: ignore[arg-type]


def get(runtime: Runtime, ws: Credentials, kind: str, value: str) -> Person:
    found = find(runtime, ws, kind, value)
    assert found is not None, f"no person {kind}={value}"
    return found


def linked(runtime: Runtime, ws: Credentials, person: Person) -> dict[str, dict[str, Any]]:
    """``{object_id: relationship attributes}`` of a person's relationships."""
    with runtime.services.db.read() as conn:
        found = {}
        for link in PERSON_LINKS.of_left(conn, ws.workspace.id, person.pk):
            query = select(objects.c.object_id).where(objects.c.pk == link.right)
            object_id = conn.execute(query).scalar_one()
            found[object_id] = dict(link.state.values)
        return found


def put(client: TestClient, auth: Auth, identifier: str, body: Any) -> Any:
    response = client.put(f"/api/v1/customers/{enc(identifier)}", json=body, auth=auth)
    assert response.status_code == 200, response.text
    assert response.json() == {}
    return response


# --- identify -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "kind"),
    [
        ("u1", "id"),
        ("ann+shop@example.com", "email"),
        ("id with spaces", "id"),
        ("team/devices", "id"),
        ("a/b/c", "id"),
        ("100%", "id"),
        ("émile", "id"),
    ],
)
def test_identify_with_encoded_identifier(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth, identifier: str, kind: str
) -> None:
    put(client, track_auth, identifier, {"first_name": "Ann", "plan": {"tier": "gold"}})
    person = get(runtime, workspace, kind, identifier)
    assert person.attributes["first_name"] == "Ann"
    assert person.attributes["plan"] == {"tier": "gold"}
    if kind == "email":
        assert person.email == identifier
        assert person.id is None
    else:
        assert person.id == identifier


def test_plus_in_raw_path_is_a_plus(client: TestClient, runtime: Runtime, workspace: Credentials) -> None:
    auth = (workspace.site_id, workspace.track_api_key)
    response = client.put("/api/v1/customers/bo+shop@example.com", json={"x": 1}, auth=auth)
    assert response.status_code == 200, response.text
    assert get(runtime, workspace, "email", "bo+shop@example.com").attributes["x"] == 1


def test_identify_reserved_fields(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    body = {
        "email": "Ann@Example.com",
        "unsubscribed": True,
        "cio_subscription_preferences": {"topics": {"topic_1": False}},
        "_timestamp": 1_767_225_000,
        "vip": True,
    }
    put(client, track_auth, "u1", body)
    person = get(runtime, workspace, "id", "u1")
    assert person.email == "Ann@Example.com"
    assert get(runtime, workspace, "email", "ann@example.com").pk == person.pk
    assert person.attributes["unsubscribed"] is True
    assert person.attributes["cio_subscription_preferences"] == {"topics": {"topic_1": False}}
    assert person.attributes["vip"] is True
    for control in ("_timestamp", "_update", "anonymous_id", "cio_relationships"):
        assert control not in person.attributes
    assert person.stamps["vip"] == 1_767_225_000_000


def test_created_at_on_an_existing_person(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth, clock: FakeClock
) -> None:
    put(client, track_auth, "u1", {})
    assert get(runtime, workspace, "id", "u1").attributes["created_at"] == clock.now() // 1000
    clock.advance(1000)
    put(client, track_auth, "u1", {"created_at": "2023-11-14T22:13:20Z"})
    assert get(runtime, workspace, "id", "u1").attributes["created_at"] == 1_700_000_000


def test_created_at_on_the_identify_that_creates_the_person(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    put(client, track_auth, "u1", {"created_at": 1_700_000_000})
    assert get(runtime, workspace, "id", "u1").attributes["created_at"] == 1_700_000_000


def test_identify_by_cio_id_sets_a_new_id(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    put(client, track_auth, "lead@example.com", {"source": "ads"})
    lead = get(runtime, workspace, "email", "lead@example.com")
    put(client, track_auth, f"cio_{lead.cio_id}", {"id": "u9", "plan": "pro"})
    person = get(runtime, workspace, "id", "u9")
    assert person.pk == lead.pk
    assert person.attributes["plan"] == "pro"
    assert person.attributes["source"] == "ads"


def test_identify_unknown_cio_id_is_400(client: TestClient, track_auth: Auth) -> None:
    response = client.put("/api/v1/customers/cio_nobody", json={"a": 1}, auth=track_auth)
    assert response.status_code == 400
    assert response.json()["meta"]["errors"][0].startswith("identifier:")


def test_out_of_order_updates_keep_the_newest(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    put(client, track_auth, "u1", {"status": "new", "_timestamp": 2_000})
    put(client, track_auth, "u1", {"status": "old", "other": "x", "_timestamp": 1_000})
    person = get(runtime, workspace, "id", "u1")
    assert person.attributes["status"] == "new"
    assert person.attributes["other"] == "x"  # an attribute the newer write never set is taken
    put(client, track_auth, "u1", {"status": None, "_timestamp": 1_500})  # older removal: ignored
    assert get(runtime, workspace, "id", "u1").attributes["status"] == "new"


def test_null_and_empty_string_remove_attributes(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth, clock: FakeClock
) -> None:
    put(client, track_auth, "u1", {"a": 1, "b": "two", "c": True})
    clock.advance(1000)
    put(client, track_auth, "u1", {"a": None, "b": ""})
    attributes = get(runtime, workspace, "id", "u1").attributes
    assert "a" not in attributes
    assert "b" not in attributes
    assert attributes["c"] is True


def test_update_only_does_not_create(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    put(client, track_auth, "ghost", {"_update": True, "a": 1})
    assert find(runtime, workspace, "id", "ghost") is None
    put(client, track_auth, "u1", {"a": 1})
    put(client, track_auth, "u1", {"_update": True, "a": 2})
    assert get(runtime, workspace, "id", "u1").attributes["a"] == 2


def test_relationships_added_and_deleted(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    cart = {"identifiers": {"object_type_id": "1", "object_id": "cart_1"}}
    order = {"identifiers": {"object_type_id": "2", "object_id": "order_1"}}
    put(
        client,
        track_auth,
        "u1",
        {"cio_relationships": [{**cart, "relationship_attributes": {"role": "owner"}}]},
    )
    person = get(runtime, workspace, "id", "u1")
    assert linked(runtime, workspace, person) == {"cart_1": {"role": "owner"}}
    put(
        client,
        track_auth,
        "u1",
        {"cio_relationships": {"action": "add_relationships", "relationships": [order]}, "n": 1},
    )
    assert set(linked(runtime, workspace, person)) == {"cart_1", "order_1"}
    put(
        client,
        track_auth,
        "u1",
        {"cio_relationships": {"action": "delete_relationships", "relationships": [cart]}, "n": 2},
    )
    assert set(linked(runtime, workspace, person)) == {"order_1"}
    assert get(runtime, workspace, "id", "u1").attributes["n"] == 2


def test_bad_relationship_names_the_nested_field(client: TestClient, track_auth: Auth) -> None:
    body = {
        "cio_relationships": {
            "action": "add_relationships",
            "relationships": [{"identifiers": {"object_type_id": "1"}}],
        }
    }
    response = client.put("/api/v1/customers/u1", json=body, auth=track_auth)
    assert response.status_code == 400
    assert response.json() == {
        "meta": {"errors": ["cio_relationships.relationships[0].identifiers.object_id: is required"]}
    }
    body = {"cio_relationships": {"action": "unlink", "relationships": []}}
    response = client.put("/api/v1/customers/u1", json=body, auth=track_auth)
    assert response.status_code == 400
    assert response.json()["meta"]["errors"][0].startswith("cio_relationships.action:")


def test_anonymous_activity_carries_over_on_identify(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    for name in ("viewed_pricing", "viewed_plan"):
        response = client.post(
            "/api/v1/events", json={"anonymous_id": "anon-1", "name": name}, auth=track_auth
        )
        assert response.status_code == 200, response.text
    put(client, track_auth, "u1", {"anonymous_id": "anon-1", "email": "u1@example.com"})
    person = get(runtime, workspace, "id", "u1")
    assert "anonymous_id" not in person.attributes
    with runtime.services.db.read() as conn:
        events = activity.events_of(conn, workspace.workspace.id, person.pk)
        assert people.anonymous_ids_of(conn, person.pk) == ["anon-1"]
    assert sorted(e.name for e in events) == ["viewed_plan", "viewed_pricing"]
    # Later anonymous events with that id land on the person directly.
    client.post("/api/v1/events", json={"anonymous_id": "anon-1", "name": "later"}, auth=track_auth)
    with runtime.services.db.read() as conn:
        assert "later" in {e.name for e in activity.events_of(conn, workspace.workspace.id, person.pk)}


# --- delete, suppress, merge ----------------------------------------------------------------------


def test_delete_with_or_without_body(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    put(client, track_auth, "u1", {"a": 1})
    put(client, track_auth, "u 2", {"a": 1})
    response = client.request("DELETE", "/api/v1/customers/u1", json={}, auth=track_auth)
    assert (response.status_code, response.json()) == (200, {})
    assert find(runtime, workspace, "id", "u1") is None
    response = client.request(
        "DELETE", "/api/v1/customers/u%202", content=b"not json at all", auth=track_auth
    )
    assert response.status_code == 200
    assert find(runtime, workspace, "id", "u 2") is None
    # Deleting someone who does not exist is not an error.
    assert client.delete("/api/v1/customers/nobody", auth=track_auth).status_code == 200


def test_suppress_blocks_identify_until_unsuppressed(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    put(client, track_auth, "u1", {"email": "u1@example.com"})
    response = client.post("/api/v1/customers/u1/suppress", auth=track_auth)
    assert (response.status_code, response.json()) == (200, {})
    assert find(runtime, workspace, "id", "u1") is None
    with runtime.services.db.read() as conn:
        rows = {(r.kind, r.value) for r in conn.execute(select(suppressions))}
    assert rows == {("id", "u1"), ("email", "u1@example.com")}

    put(client, track_auth, "u1", {"a": 1})  # 200 and ignored
    assert find(runtime, workspace, "id", "u1") is None
    put(client, track_auth, "U1@example.com", {"a": 1})  # the email is blocked too
    assert find(runtime, workspace, "email", "u1@example.com") is None

    response = client.post("/api/v1/customers/u1/unsuppress", json={}, auth=track_auth)
    assert (response.status_code, response.json()) == (200, {})
    put(client, track_auth, "u1", {"a": 2})
    assert get(runtime, workspace, "id", "u1").attributes["a"] == 2


def test_suppress_unknown_person_blocks_the_identifier(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    assert client.post(f"/api/v1/customers/{enc('x@y.com')}/suppress", auth=track_auth).status_code == 200
    put(client, track_auth, "x@y.com", {"a": 1})
    assert find(runtime, workspace, "email", "x@y.com") is None
    response = client.post("/api/v1/customers/cio_abc/unsuppress", auth=track_auth)
    assert response.status_code == 400
    assert response.json()["meta"]["errors"][0].startswith("identifier:")


def test_merge_customers(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    put(client, track_auth, "primary", {"email": "p@example.com", "plan": "pro"})
    put(
        client,
        track_auth,
        "second@example.com",
        {
            "plan": "free",
            "city": "Oslo",
            "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "c1"}}],
        },
    )
    client.post(
        f"/api/v1/customers/{enc('second@example.com')}/events", json={"name": "viewed"}, auth=track_auth
    )
    response = client.post(
        "/api/v1/merge_customers",
        json={"primary": {"id": "primary"}, "secondary": {"email": "second@example.com"}},
        auth=track_auth,
    )
    assert (response.status_code, response.json()) == (200, {})
    assert find(runtime, workspace, "email", "second@example.com") is None
    primary = get(runtime, workspace, "id", "primary")
    assert primary.attributes["plan"] == "pro"
    assert primary.attributes["city"] == "Oslo"
    assert set(linked(runtime, workspace, primary)) == {"c1"}
    with runtime.services.db.read() as conn:
        assert [e.name for e in activity.events_of(conn, workspace.workspace.id, primary.pk)] == ["viewed"]


def test_merge_by_cio_id(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    put(client, track_auth, "a", {"x": 1})
    put(client, track_auth, "b", {"y": 2})
    a = get(runtime, workspace, "id", "a")
    b = get(runtime, workspace, "id", "b")
    response = client.post(
        "/api/v1/merge_customers",
        json={"primary": {"cio_id": a.cio_id}, "secondary": {"cio_id": b.cio_id}},
        auth=track_auth,
    )
    assert response.status_code == 200, response.text
    assert find(runtime, workspace, "id", "b") is None
    assert get(runtime, workspace, "id", "a").attributes == {**a.attributes, "y": 2}
