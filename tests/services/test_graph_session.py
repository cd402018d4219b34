"""The unit of work behind ``Ingest.apply``: in-batch semantics, isolation of a failed operation among
neighbours that touch the same rows, direct operations between buffered ones, and bounded statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select

from relata.bootstrap import Runtime
from relata.core.identity import ObjectRef, PersonRef
from relata.core.model import Person
from relata.core.operations import (
    AddDevice,
    Anonymous,
    DeletePerson,
    IdentifyObject,
    IdentifyPerson,
    Link,
    MergePeople,
    ObjectLinks,
    Operation,
    PersonLinks,
    TrackEvent,
)
from relata.storage import activity, contracts, objects, people
from relata.storage.links import OBJECT_LINKS, PERSON_LINKS
from relata.storage.schema import changes, events
from relata.storage.schema import people as people_table
from relata.storage.workspaces import Credentials

ANN = PersonRef("id", "ann")
BOB = PersonRef("id", "bob")
CART_1 = ObjectRef("1", "cart_1")
CART_2 = ObjectRef("1", "cart_2")
ITEM_1 = ObjectRef("2", "item_1")


class World:
    def __init__(self, runtime: Runtime, workspace_id: int) -> None:
        self.rt = runtime
        self.ws = workspace_id

    def apply(self, *ops: Operation) -> list[tuple[int, str, str]]:
        return [(e.index, e.field, e.reason) for e in self.rt.services.ingest.apply(self.ws, list(ops))]

    def ok(self, *ops: Operation) -> None:
        assert self.apply(*ops) == []

    def person(self, ref: PersonRef) -> Person | None:
        with self.rt.services.db.read() as conn:
            return people.find(conn, self.ws, ref)

    def attributes(self, ref: ObjectRef) -> dict[str, Any]:
        with self.rt.services.db.read() as conn:
            object_type = objects.find_type(conn, self.ws, str(ref.type))
            assert object_type is not None
            found = objects.find(conn, object_type, str(ref.object_id))
            assert found is not None
            return dict(found.attributes)

    def linked(self, ref: PersonRef) -> dict[str, dict[str, Any]]:
        person = self.person(ref)
        assert person is not None
        with self.rt.services.db.read() as conn:
            links = PERSON_LINKS.of_left(conn, self.ws, person.pk)
            found = {o.pk: o.object_id for o in objects.get_many(conn, self.ws, [x.right for x in links])}
            return {found[x.right]: dict(x.state.values) for x in links}

    def changes(self) -> list[tuple[str, str, Any, Any]]:
        """(op, entity, diff, data) in order, without keys that differ between workspaces."""
        with self.rt.services.db.read() as conn:
            rows = conn.execute(
                select(changes).where(changes.c.workspace_id == self.ws).order_by(changes.c.seq)
            )
            return [
                (
                    r.op,
                    r.entity,
                    r.diff,
                    {k: v for k, v in r.data.items() if k not in ("event", "cio_id", "replaced_by")},
                )
                for r in rows
            ]

    def count_events(self) -> int:
        with self.rt.services.db.read() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(events).where(events.c.workspace_id == self.ws)
                ).scalar_one()
            )


@pytest.fixture
def world(runtime: Runtime, workspace: Credentials) -> World:
    return World(runtime, workspace.workspace.id)


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = runtime.services.db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def storefront(n: int) -> list[Operation]:
    """The benchmark's shopper: identify, a cart linked to them and three items, items, two events."""
    person = PersonRef("id", f"p{n}")
    cart = ObjectRef("1", f"cart{n}")
    items = [ObjectRef("2", f"item{n}-{i}") for i in range(3)]
    ops: list[Operation] = [
        IdentifyPerson(person, {"email": f"p{n}@example.com", "first_name": "Shopper", "plan": "free"}),
        IdentifyObject(
            cart,
            {"status": "active", "cart_total": 129.5, "currency": "USD"},
            links=(Link(person, {"role": "owner"}), *(Link(item) for item in items)),
        ),
    ]
    ops += [IdentifyObject(item, {"sku": f"SKU{i}", "price": 43.17}) for i, item in enumerate(items)]
    ops += [
        TrackEvent(person, None, name, {"sku": "SKU0", "cart_id": cart.object_id})
        for name in ("viewed_product", "added_to_cart")
    ]
    return ops


# --- within one batch ---------------------------------------------------------------------------


def test_the_same_dedupe_id_twice_in_one_batch_is_one_event(world: World) -> None:
    world.ok(
        TrackEvent(ANN, None, "viewed", dedupe_id="evt-1"),
        TrackEvent(ANN, None, "viewed", dedupe_id="evt-1"),
        TrackEvent(BOB, None, "viewed", dedupe_id="evt-2"),
    )
    assert world.count_events() == 2
    world.ok(TrackEvent(BOB, None, "viewed", dedupe_id="evt-2"))
    assert world.count_events() == 2


def test_an_email_taken_earlier_in_the_batch_is_a_conflict(world: World) -> None:
    errors = world.apply(
        IdentifyPerson(ANN, {"email": "same@example.com"}),
        IdentifyPerson(BOB, {"email": "SAME@example.com"}),
        IdentifyPerson(PersonRef("email", "other@example.com"), {"id": "ann"}),
    )
    assert errors == [(1, "attributes.email", "conflict"), (2, "attributes.id", "conflict")]
    assert world.person(BOB) is None
    assert world.person(PersonRef("email", "other@example.com")) is None
    ann = world.person(PersonRef("email", "same@example.com"))
    assert ann is not None and ann.id == "ann"


def test_a_person_named_twice_in_a_batch_is_created_once(world: World) -> None:
    world.ok(
        TrackEvent(PersonRef("email", "Lead@Example.com"), None, "visited"),
        IdentifyPerson(PersonRef("id", "lead"), {"email": "lead@example.com", "plan": "free"}),
        IdentifyPerson(PersonRef("email", "LEAD@example.com"), {"plan": "pro"}),
    )
    with world.rt.services.db.read() as conn:
        rows = conn.execute(select(people_table.c.ident, people_table.c.attributes)).all()
    assert [(r.ident, r.attributes["plan"]) for r in rows] == [("lead", "pro")]


def test_emails_can_change_hands_within_a_batch(world: World) -> None:
    world.ok(IdentifyPerson(ANN, {"email": "a@example.com"}), IdentifyPerson(BOB, {"email": "b@example.com"}))
    # Writes with one stamp tie-break on the value, so each write here carries a later timestamp.
    now = world.rt.services.clock.now()
    world.ok(
        IdentifyPerson(ANN, {"email": "c@example.com"}, timestamp=now + 1),
        IdentifyPerson(BOB, {"email": "a@example.com"}, timestamp=now + 2),
        IdentifyPerson(ANN, {"email": "b@example.com"}, timestamp=now + 3),
        IdentifyPerson(PersonRef("id", "cy"), {"email": "c@example.com"}),
    )
    emails = {ref.value: (p.email if (p := world.person(ref)) else None) for ref in (ANN, BOB)}
    assert emails == {"ann": "b@example.com", "bob": "a@example.com"}
    cy = world.person(PersonRef("email", "c@example.com"))
    assert cy is not None and cy.id == "cy"


def test_out_of_order_stamps_within_a_batch(world: World) -> None:
    world.ok(
        IdentifyObject(CART_1, {"status": "paid"}, timestamp=2_000),
        IdentifyObject(CART_1, {"status": "active", "total": 5}, timestamp=1_000),
    )
    assert world.attributes(CART_1) == {"status": "paid", "total": 5}


# --- isolation ----------------------------------------------------------------------------------


def test_a_failed_operation_among_neighbours_on_the_same_rows_leaves_nothing(world: World) -> None:
    errors = world.apply(
        IdentifyObject(CART_1, {"status": "active"}, links=(Link(ANN, {"role": "owner"}), Link(ITEM_1))),
        IdentifyObject(
            CART_1,
            {"status": "broken", "note": "x"},
            links=(
                Link(ANN, {"role": "thief"}),
                Link(ObjectRef("2", "item_2")),
                Link(PersonRef("id", "carl")),
                Link(PersonRef("cio_id", "missing")),
            ),
        ),
        IdentifyObject(CART_1, {"total": 3}, links=(Link(ANN, {"seen": True}),)),
        TrackEvent(ANN, None, "checked_out", dedupe_id="d1"),
    )
    assert errors == [(1, "cio_relationships[3].identifiers.cio_id", "not_found")]
    assert world.attributes(CART_1) == {"status": "active", "total": 3}
    assert world.linked(ANN) == {"cart_1": {"role": "owner", "seen": True}}
    assert world.person(PersonRef("id", "carl")) is None
    with world.rt.services.db.read() as conn:
        cart = objects.find_by_cio_id(conn, world.ws, _cio(world, CART_1))
        assert cart is not None
        children = [link.right for link in OBJECT_LINKS.of_left(conn, world.ws, cart.pk)]
        assert [o.object_id for o in objects.get_many(conn, world.ws, children)] == ["item_1"]
    ops = [(op, entity) for op, entity, _, _ in world.changes()]
    assert ops == [
        ("create", "object"),
        ("create", "person"),
        ("relationship_add", "person"),
        ("create", "object"),
        ("relationship_add", "object"),
        ("update", "object"),
        ("relationship_change", "person"),
        ("event", "person"),
    ]
    assert world.count_events() == 1


def _cio(world: World, ref: ObjectRef) -> str:
    with world.rt.services.db.read() as conn:
        object_type = objects.find_type(conn, world.ws, str(ref.type))
        assert object_type is not None
        found = objects.find(conn, object_type, str(ref.object_id))
        assert found is not None
        return found.cio_object_id


def test_direct_operations_between_buffered_ones(world: World) -> None:
    errors = world.apply(
        IdentifyPerson(ANN, {"a": 1}),
        IdentifyObject(CART_1, {"status": "active"}, links=(Link(ANN),)),
        AddDevice(ANN, "token-1", "ios"),
        MergePeople(ANN, ANN),  # rejected: the same person
        DeletePerson(ANN),
        IdentifyPerson(ANN, {"b": 2}),
        PersonLinks(ANN, (Link(CART_1, {"again": True}),)),
        MergePeople(BOB, ANN),
        TrackEvent(BOB, None, "after_merge"),
    )
    assert errors == [(3, "secondary", "invalid")]
    assert world.person(ANN) is None
    bob = world.person(BOB)
    assert bob is not None and dict(bob.attributes) == {"b": 2, "created_at": bob.created_at // 1000}
    assert world.linked(BOB) == {"cart_1": {"again": True}}
    with world.rt.services.db.read() as conn:
        assert [e.name for e in activity.events_of(conn, world.ws, bob.pk)] == ["after_merge"]
        assert activity.devices_of(conn, bob.pk) == []


def test_an_anonymous_visitor_identified_in_the_middle_of_a_batch(world: World) -> None:
    world.ok(
        TrackEvent(None, "visitor-1", "viewed"),
        IdentifyObject(CART_1, {"status": "active"}, links=(Link(Anonymous("visitor-1"), {"seen": 1}),)),
        IdentifyPerson(ANN, {"plan": "free"}, anonymous_id="visitor-1"),  # adopts: direct SQL
        TrackEvent(None, "visitor-1", "after"),  # now ANN's
        IdentifyObject(CART_2, {}, links=(Link(Anonymous("visitor-1")),)),  # now ANN's link
        IdentifyPerson(ANN, {"plan": "pro"}, anonymous_id="visitor-1"),  # already ANN's: buffered
    )
    ann = world.person(ANN)
    assert ann is not None and ann.attributes["plan"] == "pro"
    assert world.linked(ANN) == {"cart_1": {"seen": 1}, "cart_2": {}}
    with world.rt.services.db.read() as conn:
        assert [e.name for e in activity.events_of(conn, world.ws, ann.pk)] == ["after", "viewed"]


def test_exclusive_relationship_within_one_batch(world: World) -> None:
    with world.rt.services.db.write() as conn:
        contracts.add_version(
            conn,
            world.ws,
            {
                "object_types": {"cart": {"id": "1"}, "cart_item": {"id": "2"}},
                "relationships": [{"from": "person", "to": "cart", "as": "carts", "exclusive": True}],
            },
            0,
        )
    world.ok(PersonLinks(ANN, (Link(CART_1),)))
    world.ok(
        PersonLinks(ANN, (Link(CART_2),)),
        PersonLinks(ANN, (Link(ObjectRef("cart", "cart_3")),)),
        PersonLinks(ANN, (Link(CART_2, {"back": True}),)),
    )
    assert world.linked(ANN) == {"cart_2": {"back": True}}
    removed = [data for op, _, _, data in world.changes() if op == "relationship_remove"]
    assert [r["reason"] for r in removed] == ["exclusive", "exclusive", "exclusive"]


# --- equivalence and cost -----------------------------------------------------------------------


def test_one_batch_logs_the_same_changes_as_one_operation_per_request(runtime: Runtime) -> None:
    batched = World(runtime, runtime.services.workspaces.create("batched").workspace.id)
    single = World(runtime, runtime.services.workspaces.create("single").workspace.id)
    ops: list[Operation] = [op for n in range(3) for op in storefront(n)]
    ops += [
        IdentifyPerson(PersonRef("id", "p0"), {"plan": "pro", "first_name": None}),
        ObjectLinks(ObjectRef("1", "cart0"), (Link(ObjectRef("2", "item0-0")),), remove=True),
        TrackEvent(PersonRef("id", "p1"), None, "dup", dedupe_id="x"),
        TrackEvent(PersonRef("id", "p2"), None, "dup", dedupe_id="x"),
        IdentifyObject(ObjectRef("2", "item1-1"), {"price": 1}, timestamp=1),
        PersonLinks(PersonRef("id", "p0"), (Link(ObjectRef("1", "cart0")),), remove=True),
    ]
    batched.ok(*ops)
    for op in ops:
        single.ok(op)
    assert batched.changes() == single.changes()
    assert batched.count_events() == single.count_events() == 3 * 2 + 1


def test_a_batch_issues_a_bounded_number_of_statements(world: World) -> None:
    ops = [op for n in range(72) for op in storefront(n)][:500]
    world.ok(*ops[:7])
    with statements(world.rt) as seen:
        world.ok(*ops[7:])
    assert len(seen) <= 30, seen
    with statements(world.rt) as seen:  # the same batch again: all updates, no inserts
        world.ok(*ops[7:])
    assert len(seen) <= 30, seen
