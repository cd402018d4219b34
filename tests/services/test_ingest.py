"""The write path's semantics (SPEC §2): every operation, on both stores, through ``Ingest.apply``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.core.errors import ValidationError
from relata.core.identity import ObjectRef, PersonRef
from relata.core.model import Person
from relata.core.operations import (
    AddDevice,
    Anonymous,
    DeleteObject,
    DeletePerson,
    IdentifyObject,
    IdentifyPerson,
    Link,
    MergePeople,
    ObjectLinks,
    Operation,
    PersonLinks,
    SuppressPerson,
    TrackEvent,
    UnsuppressPerson,
)
from relata.storage import activity, contracts, objects, people
from relata.storage.links import ANONYMOUS_LINKS, OBJECT_LINKS, PERSON_LINKS
from relata.storage.schema import changes, devices, events, person_links, violations
from relata.storage.schema import people as people_table
from relata.storage.workspaces import Credentials

ANN = PersonRef("id", "ann")
BOB = PersonRef("id", "bob")
CART_1 = ObjectRef("1", "cart_1")
CART_2 = ObjectRef("1", "cart_2")
ITEM_1 = ObjectRef("2", "item_1")


class World:
    """The runtime of one test, with short helpers to write and look."""

    def __init__(self, runtime: Runtime, workspace: Credentials) -> None:
        self.rt = runtime
        self.ws = workspace.workspace.id

    def apply(self, *ops: Operation) -> list[Any]:
        return self.rt.services.ingest.apply(self.ws, list(ops))

    def ok(self, *ops: Operation) -> None:
        errors = self.apply(*ops)
        assert errors == []

    def person(self, ref: PersonRef) -> Person | None:
        with self.rt.services.db.read() as conn:
            return people.find(conn, self.ws, ref)

    def linked_objects(self, person: Person) -> list[str]:
        with self.rt.services.db.read() as conn:
            pks = [link.right for link in PERSON_LINKS.of_left(conn, self.ws, person.pk)]
            return [o.object_id for o in objects.get_many(conn, self.ws, pks)]

    def count(self, table: Any) -> int:
        with self.rt.services.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def change_ops(self) -> list[str]:
        with self.rt.services.db.read() as conn:
            return [r.op for r in conn.execute(select(changes.c.op).order_by(changes.c.seq))]

    def use_contract(self, document: dict[str, Any]) -> None:
        with self.rt.services.db.write() as conn:
            contracts.add_version(conn, self.ws, document, 0)


@pytest.fixture
def world(runtime: Runtime, workspace: Credentials) -> World:
    return World(runtime, workspace)


def test_identify_creates_then_merges_attributes(world: World) -> None:
    world.ok(IdentifyPerson(ANN, {"first_name": "Ann", "plan": "free"}))
    world.ok(IdentifyPerson(ANN, {"plan": "pro", "city": "Oslo"}))
    ann = world.person(ANN)
    assert ann is not None
    assert {k: ann.attributes[k] for k in ("first_name", "plan", "city")} == {
        "first_name": "Ann",
        "plan": "pro",
        "city": "Oslo",
    }
    assert "created_at" in ann.attributes
    assert world.change_ops() == ["create", "update", "update"]


def test_out_of_order_writes_keep_the_newest(world: World) -> None:
    world.ok(IdentifyPerson(ANN, {"plan": "pro"}, timestamp=2_000_000))
    world.ok(IdentifyPerson(ANN, {"plan": "free", "city": "Oslo"}, timestamp=1_000_000))
    ann = world.person(ANN)
    assert ann is not None
    assert ann.attributes["plan"] == "pro"
    assert ann.attributes["city"] == "Oslo"
    world.ok(IdentifyObject(CART_1, {"cart_total": 10}, timestamp=5_000))
    world.ok(IdentifyObject(CART_1, {"cart_total": 99}, timestamp=4_000))
    with world.rt.services.db.read() as conn:
        cart_type = objects.find_type(conn, world.ws, "1")
        assert cart_type is not None
        cart = objects.find(conn, cart_type, "cart_1")
    assert cart is not None
    assert cart.attributes == {"cart_total": 10}


def test_null_and_empty_remove_attributes(world: World) -> None:
    world.ok(IdentifyPerson(ANN, {"a": 1, "b": 2, "c": 3}))
    world.rt.services.clock.advance(1)  # type: ignore[attr-defined]
    world.ok(IdentifyPerson(ANN, {"a": None, "b": ""}))
    ann = world.person(ANN)
    assert ann is not None
    assert "a" not in ann.attributes
    assert "b" not in ann.attributes
    assert ann.attributes["c"] == 3


def test_email_identifies_case_insensitively_and_lead_gets_id(world: World) -> None:
    world.ok(IdentifyPerson(PersonRef("email", "Ann@Example.com"), {"source": "popup"}))
    world.ok(IdentifyPerson(ANN, {"email": "ann@example.COM", "first_name": "Ann"}))
    ann = world.person(PersonRef("email", "ANN@example.com"))
    assert ann is not None
    assert ann.id == "ann"
    assert ann.attributes["source"] == "popup"
    assert world.count(people_table) == 1


def test_email_of_another_person_is_rejected_by_field(world: World) -> None:
    world.ok(IdentifyPerson(ANN, {"email": "ann@example.com"}), IdentifyPerson(BOB, {}))
    errors = world.apply(IdentifyPerson(BOB, {"email": "ANN@example.com"}))
    assert [(e.field, e.reason) for e in errors] == [("attributes.email", "conflict")]


def test_events_create_the_person_and_dedupe_by_id(world: World) -> None:
    world.ok(
        TrackEvent(ANN, None, "viewed_product", {"sku": "A"}, dedupe_id="01H"),
        TrackEvent(ANN, None, "viewed_product", {"sku": "A"}, dedupe_id="01H"),
        TrackEvent(ANN, None, "home", type="page"),
    )
    assert world.person(ANN) is not None
    assert world.count(events) == 2


def test_anonymous_activity_carries_over_on_identify(world: World) -> None:
    world.ok(
        TrackEvent(None, "anon-1", "viewed_product", {"sku": "A"}),
        IdentifyObject(CART_1, {"status": "active"}, links=(Link(Anonymous("anon-1"), {"role": "owner"}),)),
    )
    with world.rt.services.db.read() as conn:
        assert len(ANONYMOUS_LINKS.of_left(conn, world.ws, "anon-1")) == 1
    world.ok(IdentifyPerson(ANN, {"first_name": "Ann"}, anonymous_id="anon-1"))
    ann = world.person(ANN)
    assert ann is not None
    assert world.linked_objects(ann) == ["cart_1"]
    world.ok(TrackEvent(None, "anon-1", "added_to_cart"))
    with world.rt.services.db.read() as conn:
        names = sorted(e.name for e in activity.events_of(conn, world.ws, ann.pk))
        assert ANONYMOUS_LINKS.of_left(conn, world.ws, "anon-1") == []
        link = PERSON_LINKS.get(conn, world.ws, ann.pk, PERSON_LINKS.of_left(conn, world.ws, ann.pk)[0].right)
    assert names == ["added_to_cart", "viewed_product"]
    assert link is not None
    assert link.state.values == {"role": "owner"}


def test_object_to_object_links_and_delete_cascade(world: World) -> None:
    world.ok(
        IdentifyObject(CART_1, {"status": "active"}, links=(Link(ANN), Link(ITEM_1, {"position": 1}))),
        ObjectLinks(CART_1, (Link(ObjectRef("2", "item_2")),)),
    )
    with world.rt.services.db.read() as conn:
        cart_type = objects.find_type(conn, world.ws, "1")
        assert cart_type is not None
        cart = objects.find(conn, cart_type, "cart_1")
        assert cart is not None
        assert [link.state.values for link in OBJECT_LINKS.of_left(conn, world.ws, cart.pk)] == [
            {"position": 1},
            {},
        ]
    world.ok(ObjectLinks(CART_1, (Link(ObjectRef("2", "item_2")),), remove=True))
    with world.rt.services.db.read() as conn:
        assert len(OBJECT_LINKS.of_left(conn, world.ws, cart.pk)) == 1
    world.ok(DeleteObject(CART_1))
    assert world.count(person_links) == 0
    with world.rt.services.db.read() as conn:
        assert OBJECT_LINKS.of_left(conn, world.ws, cart.pk) == []
    assert world.change_ops()[-1] == "delete"


def test_an_object_cannot_link_to_itself(world: World) -> None:
    errors = world.apply(ObjectLinks(CART_1, (Link(CART_1),)))
    assert [e.field for e in errors] == ["cio_relationships[0].identifiers"]


def test_delete_person_removes_relationships_devices_events(world: World) -> None:
    world.ok(
        IdentifyPerson(ANN, {}, anonymous_id="a1", links=(Link(CART_1),)),
        AddDevice(ANN, "tok-1", "ios"),
        TrackEvent(ANN, None, "x"),
    )
    world.ok(DeletePerson(ANN))
    assert world.person(ANN) is None
    assert (world.count(person_links), world.count(devices), world.count(events)) == (0, 0, 0)
    assert world.change_ops()[-1] == "delete"


def test_suppress_blocks_reentry_until_unsuppressed(world: World) -> None:
    world.ok(IdentifyPerson(ANN, {"email": "ann@example.com"}))
    world.ok(SuppressPerson(ANN))
    assert world.person(ANN) is None
    world.ok(IdentifyPerson(ANN, {"x": 1}), TrackEvent(ANN, None, "e"))
    world.ok(IdentifyPerson(PersonRef("id", "ann-2"), {"email": "ANN@example.com"}))
    assert world.person(ANN) is None
    assert world.person(PersonRef("id", "ann-2")) is None
    world.ok(UnsuppressPerson(ANN))
    world.ok(IdentifyPerson(ANN, {"x": 1}))
    assert world.person(ANN) is not None


def test_merge_moves_everything_to_the_primary(world: World) -> None:
    world.ok(
        IdentifyPerson(ANN, {"plan": "pro"}, links=(Link(CART_1, {"role": "owner"}),)),
        IdentifyPerson(
            BOB,
            {"plan": "free", "city": "Oslo", "email": "bob@example.com"},
            links=(Link(CART_1, {"role": "guest", "n": 1}), Link(CART_2)),
        ),
        AddDevice(BOB, "tok-b"),
        TrackEvent(BOB, None, "viewed"),
    )
    world.ok(MergePeople(ANN, BOB))
    ann = world.person(ANN)
    assert ann is not None
    assert world.person(BOB) is None
    assert ann.attributes["plan"] == "pro"
    assert ann.attributes["city"] == "Oslo"
    assert world.linked_objects(ann) == ["cart_1", "cart_2"]
    with world.rt.services.db.read() as conn:
        assert [d.token for d in activity.devices_of(conn, ann.pk)] == ["tok-b"]
        assert [e.name for e in activity.events_of(conn, world.ws, ann.pk)] == ["viewed"]
        shared = PERSON_LINKS.of_left(conn, world.ws, ann.pk)[0]
    assert shared.state.values["n"] == 1
    assert "merge" in world.change_ops()
    # the secondary's email is free again
    world.ok(IdentifyPerson(PersonRef("id", "carol"), {"email": "bob@example.com"}))


def test_merge_with_a_missing_secondary_does_nothing(world: World) -> None:
    world.ok(MergePeople(ANN, BOB))
    assert world.person(ANN) is None


def test_unknown_types_are_registered_in_observe_mode(world: World) -> None:
    world.ok(
        IdentifyObject(ObjectRef("3", "sku_1"), {"name": "Mug"}),
        IdentifyObject(ObjectRef("product", "sku_2"), {"name": "Cup"}),
    )
    with world.rt.services.db.read() as conn:
        names = [(t.type_id, t.name) for t in objects.types(conn, world.ws)]
    assert names == [("3", "type_3"), ("4", "product")]


def test_a_failed_operation_is_rolled_back_alone(world: World) -> None:
    errors = world.apply(
        IdentifyPerson(ANN, {"a": 1}),
        IdentifyObject(ObjectRef("7", "x"), {"a": 1}, links=(Link(PersonRef("cio_id", "missing")),)),
        IdentifyObject(ObjectRef("8", "y"), {}),
    )
    assert [(e.index, e.field) for e in errors] == [(1, "cio_relationships[0].identifiers.cio_id")]
    with world.rt.services.db.read() as conn:
        assert [t.type_id for t in objects.types(conn, world.ws)] == ["8"]
    assert world.person(ANN) is not None


CONTRACT = {
    "mode": "enforce",
    "object_types": {
        "cart": {
            "id": "1",
            "id_pattern": "^cart_[0-9]+$",
            "attributes": {
                "status": {"type": "enum", "values": ["active", "converted", "abandoned"], "required": True},
                "cart_total": {"type": "number"},
                "updated_at": {"type": "timestamp"},
            },
        },
        "cart_item": {"id": "2", "attributes": {"price": {"type": "number", "required": True}}},
    },
    "relationships": [
        {"from": "person", "to": "cart", "as": "carts", "inverse": "shoppers", "exclusive": True},
        {"from": "cart", "to": "cart_item", "as": "items", "inverse": "cart"},
    ],
}


def test_exclusive_relationship_keeps_one_cart(world: World) -> None:
    world.use_contract(CONTRACT)
    world.ok(
        IdentifyObject(CART_1, {"status": "active"}, links=(Link(ANN),)),
        IdentifyObject(CART_2, {"status": "active"}, links=(Link(ANN),)),
    )
    ann = world.person(ANN)
    assert ann is not None
    assert world.linked_objects(ann) == ["cart_2"]
    assert "relationship_remove" in world.change_ops()


def test_enforce_rejects_and_records_violations(world: World) -> None:
    world.use_contract(CONTRACT)
    errors = world.apply(
        IdentifyObject(CART_1, {"status": "open"}),
        IdentifyObject(ObjectRef("cart", "shopify-123"), {"status": "active"}),
        IdentifyObject(ObjectRef("9", "x"), {}),
        IdentifyObject(
            CART_2, {"status": "active", "cart_total": "12.50", "updated_at": "2026-01-01T00:00:00Z"}
        ),
    )
    assert [(e.index, e.field, e.reason) for e in errors] == [
        (0, "attributes.status", "contract_violation"),
        (1, "identifiers.object_id", "contract_violation"),
        (2, "identifiers.object_type_id", "contract_violation"),
    ]
    with world.rt.services.db.read() as conn:
        cart_type = objects.find_type(conn, world.ws, "cart")
        assert cart_type is not None
        cart = objects.find(conn, cart_type, "cart_2")
        recorded = contracts.list_violations(conn, world.ws)
    assert cart is not None
    assert cart.attributes == {"status": "active", "cart_total": 12.5, "updated_at": 1_767_225_600}
    assert {(v["type"], v["kind"], v["rejected"]) for v in recorded} == {
        ("cart", "type", 1),
        ("cart", "id_pattern", 1),
        ("9", "unknown_type", 1),
    }


def test_observe_accepts_and_records(world: World) -> None:
    world.use_contract({**CONTRACT, "mode": "observe"})
    world.ok(IdentifyObject(CART_1, {"cart_total": "lots"}), IdentifyObject(CART_1, {"cart_total": "many"}))
    assert world.count(violations) == 2  # type violation and missing required status
    with world.rt.services.db.read() as conn:
        by_kind = {v["kind"]: v for v in contracts.list_violations(conn, world.ws)}
    assert by_kind["type"]["count"] == 2
    assert by_kind["type"]["rejected"] == 0
    assert len(by_kind["type"]["samples"]) == 2


def test_workspaces_do_not_share_data(world: World, runtime: Runtime) -> None:
    other = runtime.services.workspaces.create("other").workspace.id
    world.ok(IdentifyPerson(ANN, {"where": "first"}))
    assert runtime.services.ingest.apply(other, [IdentifyPerson(ANN, {"where": "second"})]) == []
    with runtime.services.db.read() as conn:
        first = people.find(conn, world.ws, ANN)
        second = people.find(conn, other, ANN)
    assert first is not None
    assert second is not None
    assert first.pk != second.pk
    assert first.attributes["where"] == "first"


def test_apply_one_raises_the_error(world: World) -> None:
    with pytest.raises(ValidationError) as caught:
        world.rt.services.ingest.apply_one(world.ws, PersonLinks(ANN, ()))
    assert caught.value.path == "cio_relationships"


def test_limits_name_the_field(world: World) -> None:
    errors = world.apply(
        IdentifyPerson(PersonRef("id", "x" * 151), {}),
        IdentifyPerson(ANN, {"big": "x" * 1001}),
        IdentifyPerson(ANN, {f"a{i}": i for i in range(301)}),
        TrackEvent(ANN, None, "e" * 101),
        TrackEvent(ANN, None, "ok", {"blob": "x" * 100_001}),
    )
    assert [e.field for e in errors] == ["identifiers.id", "attributes.big", "attributes", "name", "data"]


def test_clock_stamps_writes(world: World, clock: FakeClock) -> None:
    world.ok(IdentifyPerson(ANN, {"a": 1}))
    ann = world.person(ANN)
    assert ann is not None
    assert ann.stamps["a"] == clock.now()


def test_keys_of_deleted_rows_are_never_reused(world: World) -> None:
    world.ok(IdentifyPerson(ANN, {}), IdentifyPerson(BOB, {}))
    bob = world.person(BOB)
    assert bob is not None
    world.ok(DeletePerson(BOB))
    world.ok(IdentifyPerson(PersonRef("id", "carol"), {}))
    carol = world.person(PersonRef("id", "carol"))
    assert carol is not None
    assert carol.pk > bob.pk
    with world.rt.services.db.read() as conn:
        history = activity.history(conn, world.ws, person_pk=carol.pk)
    assert [c.op for c in history] == ["create"]


def test_concurrent_writers_creating_the_same_rows_all_succeed(world: World) -> None:
    """Every writer creates the same new people, carts, links and events each round: on PostgreSQL
    the losers of each race hit unique keys and are applied again."""
    import threading

    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def round_ops(round_: int, n: int) -> list[Operation]:
        ops: list[Operation] = []
        for i in range(8):
            person = PersonRef("id", f"p{round_}-{i}")
            ops.append(IdentifyPerson(person, {"writer": n}))
            ops.append(TrackEvent(person, None, "ping", dedupe_id=f"e{round_}-{i}"))
            ops.append(IdentifyObject(ObjectRef("1", f"cart{round_}-{i}"), {"n": n}, links=(Link(person),)))
        return ops

    def writer(n: int) -> None:
        try:
            for round_ in range(10):
                if round_ == 0:
                    start.wait()
                assert world.apply(*round_ops(round_, n)) == []
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert world.count(people_table) == 80
    assert world.count(events) == 80
    assert world.count(person_links) == 80


def test_values_longer_than_their_columns_are_named(world: World) -> None:
    errors = world.apply(
        IdentifyPerson(ANN, {"email": "a" * 250 + "@example.com"}),
        AddDevice(ANN, "t" * 501),
        AddDevice(ANN, "tok", "p" * 33),
        IdentifyObject(ObjectRef("1" * 33, "x"), {}),
    )
    assert [e.field for e in errors] == [
        "attributes.email",
        "device.token",
        "device.platform",
        "identifiers.object_type_id",
    ]


def test_a_contract_type_takes_its_name_from_an_auto_registered_type(world: World) -> None:
    world.ok(IdentifyObject(ObjectRef("cart", "c1"), {}))  # registered as id "1", named cart
    world.use_contract({"object_types": {"cart": {"id": "7"}}})
    world.ok(IdentifyObject(ObjectRef("7", "c2"), {}))
    with world.rt.services.db.read() as conn:
        names = sorted((t.type_id, t.name) for t in objects.types(conn, world.ws))
    assert names == [("1", "type_1"), ("7", "cart")]


def test_an_atomic_call_writes_all_or_nothing_and_still_records_violations(world: World) -> None:
    with pytest.raises(ValidationError) as caught:
        world.rt.services.ingest.apply(
            world.ws, [IdentifyPerson(ANN, {"a": 1}), PersonLinks(ANN, (), remove=True)], atomic=True
        )
    assert caught.value.path == "cio_relationships"
    assert world.person(ANN) is None
    world.use_contract(CONTRACT)
    with pytest.raises(ValidationError):
        world.rt.services.ingest.apply(
            world.ws, [IdentifyPerson(BOB, {}), IdentifyObject(CART_1, {"status": "open"})], atomic=True
        )
    assert world.person(BOB) is None
    with world.rt.services.db.read() as conn:
        recorded = contracts.list_violations(conn, world.ws)
    assert [(v["kind"], v["rejected"]) for v in recorded] == [("type", 1)]
