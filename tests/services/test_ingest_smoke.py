"""The write path end to end at the service level, on both stores."""

from __future__ import annotations

from sqlalchemy import select

from relata.bootstrap import Runtime
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import (
    IdentifyObject,
    IdentifyPerson,
    Link,
    PersonLinks,
    TrackEvent,
)
from relata.storage import people
from relata.storage.schema import changes, events, object_links, person_links
from relata.storage.workspaces import Credentials


def test_person_cart_items_and_event(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    ingest = runtime.services.ingest
    errors = ingest.apply(
        ws,
        [
            IdentifyPerson(PersonRef("id", "u1"), {"email": "Ann@Example.com", "first_name": "Ann"}),
            IdentifyObject(
                ObjectRef("1", "cart_1"),
                {"cart_total": 42},
                links=(
                    Link(PersonRef("id", "u1"), {"role": "owner"}),
                    Link(ObjectRef("2", "item_1"), {}),
                ),
            ),
            PersonLinks(PersonRef("id", "u1"), (Link(ObjectRef("3", "order_1")),)),
            TrackEvent(PersonRef("email", "ann@example.com"), None, "viewed", {"sku": "A"}, dedupe_id="e1"),
            TrackEvent(PersonRef("email", "ann@example.com"), None, "viewed", {"sku": "A"}, dedupe_id="e1"),
            IdentifyPerson(PersonRef("cio_id", "nope"), {"x": 1}),
        ],
    )
    assert [(e.index, e.field) for e in errors] == [(5, "identifiers.cio_id")]
    with runtime.services.db.read() as conn:
        person = people.find(conn, ws, PersonRef("email", "ann@EXAMPLE.com"))
        assert person is not None
        assert person.id == "u1"
        assert person.attributes["first_name"] == "Ann"
        assert len(conn.execute(select(person_links)).all()) == 2
        assert len(conn.execute(select(object_links)).all()) == 1
        assert len(conn.execute(select(events)).all()) == 1
        ops = [r.op for r in conn.execute(select(changes).order_by(changes.c.seq))]
    assert ops.count("relationship_add") == 3
    assert "event" in ops
