"""Helpers shared by the Track v2 tests: post operations, read stored state through the storage modules.

Named ``test_*`` so it sits among the files of this API; it holds no tests of its own.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from relata.bootstrap import Runtime
from relata.core.identity import PersonRef
from relata.core.model import Event, Person, StoredObject
from relata.storage import activity, objects, people
from relata.storage.links import OBJECT_LINKS, PERSON_LINKS, LinkRow

Op = dict[str, Any]


def person_op(action: Any, ident: str = "u1", **fields: Any) -> Op:
    return {"type": "person", "action": action, "identifiers": {"id": ident}, **fields}


def object_op(action: Any, type_id: Any, object_id: str, **fields: Any) -> Op:
    identifiers = {"object_type_id": type_id, "object_id": object_id}
    return {"type": "object", "action": action, "identifiers": identifiers, **fields}


def rel(identifiers: dict[str, Any], **attributes: Any) -> dict[str, Any]:
    return {"identifiers": identifiers, "relationship_attributes": attributes}


def batch(client: TestClient, auth: tuple[str, str], *ops: Any) -> Response:
    return client.post("/api/v2/batch", auth=auth, json={"batch": list(ops)})


def ok(client: TestClient, auth: tuple[str, str], *ops: Any) -> None:
    response = batch(client, auth, *ops)
    assert response.status_code == 200, response.text
    assert response.json() == {}


def entity(client: TestClient, auth: tuple[str, str], op: Any) -> Response:
    return client.post("/api/v2/entity", auth=auth, json=op)


def errors_of(response: Response) -> list[tuple[int, str, str]]:
    """(batch_index, reason, field) of a 207 response."""
    assert response.status_code == 207, response.text
    found = response.json()["errors"]
    for error in found:
        assert set(error) == {"batch_index", "reason", "field", "message"}
        assert error["message"]
    return [(e["batch_index"], e["reason"], e["field"]) for e in found]


def person(runtime: Runtime, ws: int, kind: str, value: str) -> Person | None:
    with runtime.services.db.read() as conn:
        return people.find(conn, ws, PersonRef(kind, value))  # type: ignore[arg-type]


def the_person(runtime: Runtime, ws: int, ident: str) -> Person:
    found = person(runtime, ws, "id", ident)
    assert found is not None, f"no person {ident}"
    return found


def find_object(runtime: Runtime, ws: int, type_ref: str, object_id: str) -> StoredObject | None:
    with runtime.services.db.read() as conn:
        object_type = objects.find_type(conn, ws, type_ref)
        if object_type is None:
            return None
        return objects.find(conn, object_type, object_id)


def the_object(runtime: Runtime, ws: int, type_ref: str, object_id: str) -> StoredObject:
    found = find_object(runtime, ws, type_ref, object_id)
    assert found is not None, f"no object {type_ref}/{object_id}"
    return found


def person_links(runtime: Runtime, ws: int, person_pk: int) -> list[LinkRow]:
    with runtime.services.db.read() as conn:
        return PERSON_LINKS.of_left(conn, ws, person_pk)


def object_links(runtime: Runtime, ws: int, parent_pk: int) -> list[LinkRow]:
    with runtime.services.db.read() as conn:
        return OBJECT_LINKS.of_left(conn, ws, parent_pk)


def events(runtime: Runtime, ws: int, person_pk: int) -> list[Event]:
    with runtime.services.db.read() as conn:
        return activity.events_of(conn, ws, person_pk)


def history_ops(
    runtime: Runtime, ws: int, *, person_pk: int | None = None, object_pk: int | None = None
) -> list[str]:
    """Change-log operations, oldest first."""
    with runtime.services.db.read() as conn:
        changes = activity.history(conn, ws, person_pk=person_pk, object_pk=object_pk)
    return [c.op for c in reversed(changes)]
