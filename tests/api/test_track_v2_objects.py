"""Track v2 object actions, object-to-object links and contract semantics over HTTP, on both stores."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from test_track_v2_support import (
    batch,
    errors_of,
    find_object,
    history_ops,
    object_links,
    object_op,
    ok,
    person_links,
    person_op,
    rel,
    the_object,
    the_person,
)

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.storage import activity, contracts
from relata.storage.links import ANONYMOUS_LINKS, PERSON_LINKS
from relata.storage.workspaces import Credentials

Auth = tuple[str, str]
CART = {"object_type_id": "1", "object_id": "cart-1"}


def item(n: int) -> dict[str, str]:
    return {"object_type_id": "2", "object_id": f"item-{n}"}


def install_contract(runtime: Runtime, ws: int, document: dict[str, Any]) -> None:
    with runtime.services.db.write() as conn:
        contracts.add_version(conn, ws, document, runtime.services.clock.now())


def test_identify_creates_and_updates_an_object(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(client, track_auth, object_op("identify", "1", "cart-1", attributes={"total": 10, "status": "active"}))
    ok(client, track_auth, object_op("identify", "1", "cart-1", attributes={"total": 12, "status": None}))
    cart = the_object(runtime, ws, "1", "cart-1")
    assert dict(cart.attributes) == {"total": 12}
    assert history_ops(runtime, ws, object_pk=cart.pk) == ["create", "update"]
    # By cio_object_id, too.
    ok(
        client,
        track_auth,
        {"type": "object", "action": "identify", "identifiers": {"cio_object_id": cart.cio_object_id}}
        | {"attributes": {"note": "by cio id"}},
    )
    assert the_object(runtime, ws, "1", "cart-1").attributes["note"] == "by cio id"


def test_object_timestamps_are_out_of_order_safe(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(client, track_auth, object_op("identify", "1", "c", timestamp=2000, attributes={"status": "ordered"}))
    ok(client, track_auth, object_op("identify", "1", "c", timestamp=1000, attributes={"status": "active"}))
    assert the_object(runtime, ws, "1", "c").attributes["status"] == "ordered"


def test_object_to_object_links_cart_to_items(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(
        client,
        track_auth,
        {**object_op("identify", "1", "cart-1", attributes={"total": 30})}
        | {"cio_relationships": [rel({"id": "u1"}, role="owner"), rel(item(1), qty=1), rel(item(2), qty=2)]},
        object_op("identify", "2", "item-1", attributes={"sku": "A"}),
    )
    cart = the_object(runtime, ws, "1", "cart-1")
    one, two = the_object(runtime, ws, "2", "item-1"), the_object(runtime, ws, "2", "item-2")
    assert one.attributes["sku"] == "A"
    children = {link.right: dict(link.state.values) for link in object_links(runtime, ws, cart.pk)}
    assert children == {one.pk: {"qty": 1}, two.pk: {"qty": 2}}
    ann = the_person(runtime, ws, "u1")
    assert [(lk.right, dict(lk.state.values)) for lk in person_links(runtime, ws, ann.pk)] == [
        (cart.pk, {"role": "owner"})
    ]
    # add_relationships updates the link's attributes; delete_relationships removes one child.
    ok(
        client,
        track_auth,
        object_op("add_relationships", "1", "cart-1", cio_relationships=[rel(item(2), qty=3), rel(item(3))]),
        object_op("delete_relationships", "1", "cart-1", cio_relationships=[{"identifiers": item(1)}]),
    )
    three = the_object(runtime, ws, "2", "item-3")
    children = {link.right: dict(link.state.values) for link in object_links(runtime, ws, cart.pk)}
    assert children == {two.pk: {"qty": 3}, three.pk: {}}
    ops = history_ops(runtime, ws, object_pk=cart.pk)
    assert ops.count("relationship_remove") == 1
    assert "relationship_change" in ops
    # An object cannot be its own child.
    response = batch(
        client, track_auth, object_op("add_relationships", "1", "cart-1", cio_relationships=[rel(CART)])
    )
    assert errors_of(response) == [(0, "invalid", "cio_relationships[0].identifiers")]


def test_object_relationships_to_people_and_anonymous_visitors(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(
        client,
        track_auth,
        object_op(
            "add_relationships",
            "1",
            "cart-1",
            cio_relationships=[rel({"email": "a@x.io"}), rel({"anonymous_id": "anon-9"}, seen=True)],
        ),
    )
    cart = the_object(runtime, ws, "1", "cart-1")
    with runtime.services.db.read() as conn:
        assert [lk.right for lk in ANONYMOUS_LINKS.of_left(conn, ws, "anon-9")] == [cart.pk]
        assert len(PERSON_LINKS.of_right(conn, ws, cart.pk)) == 1
    ok(
        client,
        track_auth,
        object_op(
            "delete_relationships",
            "1",
            "cart-1",
            cio_relationships=[
                {"identifiers": {"email": "a@x.io"}},
                {"identifiers": {"anonymous_id": "anon-9"}},
            ],
        ),
    )
    with runtime.services.db.read() as conn:
        assert ANONYMOUS_LINKS.of_left(conn, ws, "anon-9") == []
        assert PERSON_LINKS.of_right(conn, ws, cart.pk) == []


def test_identify_anonymous(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(
        client,
        track_auth,
        object_op(
            "identify_anonymous",
            "1",
            "cart-9",
            attributes={"total": 5},
            cio_relationships=[rel({"anonymous_id": "visitor"}, role="owner")],
        ),
    )
    cart = the_object(runtime, ws, "1", "cart-9")
    assert cart.attributes["total"] == 5
    with runtime.services.db.read() as conn:
        links = ANONYMOUS_LINKS.of_left(conn, ws, "visitor")
    assert [(lk.right, dict(lk.state.values)) for lk in links] == [(cart.pk, {"role": "owner"})]


def test_delete_object_removes_its_relationships(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(
        client,
        track_auth,
        object_op("identify", "1", "cart-1", cio_relationships=[rel({"id": "u1"}), rel(item(1))]),
    )
    cart = the_object(runtime, ws, "1", "cart-1")
    ok(client, track_auth, object_op("delete", "1", "cart-1"), object_op("delete", "1", "never-was"))
    assert find_object(runtime, ws, "1", "cart-1") is None
    assert person_links(runtime, ws, the_person(runtime, ws, "u1").pk) == []
    assert object_links(runtime, ws, cart.pk) == []
    the_object(runtime, ws, "2", "item-1")  # the child stays
    assert history_ops(runtime, ws, object_pk=cart.pk)[-1] == "delete"


def test_type_names_work_where_type_ids_do(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(
        client,
        track_auth,
        object_op(
            "identify",
            "cart",
            "c1",
            cio_relationships=[rel({"object_type_id": "cart_item", "object_id": "i1"})],
        ),
    )
    cart = the_object(runtime, ws, "cart", "c1")
    assert cart.type.name == "cart"
    assert [lk.right for lk in object_links(runtime, ws, cart.pk)] == [
        the_object(runtime, ws, "cart_item", "i1").pk
    ]


EXCLUSIVE = {
    "mode": "observe",
    "object_types": {"cart": {"id": "1"}, "cart_item": {"id": "2"}},
    "relationships": [
        {"from": "person", "to": "cart", "as": "carts", "exclusive": True},
        {"from": "cart", "to": "cart_item", "as": "items"},
    ],
}


def test_exclusive_relationship_replaces_the_old_cart(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials, clock: FakeClock
) -> None:
    ws = workspace.workspace.id
    install_contract(runtime, ws, EXCLUSIVE)
    ok(client, track_auth, object_op("identify", "cart", "c1", cio_relationships=[rel({"id": "u1"})]))
    clock.advance(1000)
    ok(client, track_auth, object_op("identify", "cart", "c2", cio_relationships=[rel({"id": "u1"})]))
    ann = the_person(runtime, ws, "u1")
    c1, c2 = the_object(runtime, ws, "1", "c1"), the_object(runtime, ws, "1", "c2")
    assert [lk.right for lk in person_links(runtime, ws, ann.pk)] == [c2.pk]
    with runtime.services.db.read() as conn:
        removals = [
            c
            for c in activity.history(conn, ws, person_pk=ann.pk)
            if c.op == "relationship_remove" and c.object_pk == c1.pk
        ]
    assert len(removals) == 1
    assert removals[0].data["reason"] == "exclusive"
    # The same through a person's add_relationships.
    ok(
        client,
        track_auth,
        person_op("add_relationships", cio_relationships=[rel({"object_type_id": "1", "object_id": "c1"})]),
    )
    assert [lk.right for lk in person_links(runtime, ws, ann.pk)] == [c1.pk]


def test_enforced_contract_rejects_one_operation_and_applies_the_rest(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    install_contract(
        runtime,
        ws,
        {
            "mode": "enforce",
            "object_types": {"cart": {"id": "1", "attributes": {"total": {"type": "number"}}}},
            "relationships": [{"from": "person", "to": "cart"}],
        },
    )
    response = batch(
        client,
        track_auth,
        object_op("identify", "cart", "good", attributes={"total": 10}),
        object_op("identify", "cart", "bad", attributes={"total": "lots"}),
        object_op("identify", "wishlist", "w1"),
        person_op("identify", attributes={"plan": "pro"}),
    )
    assert errors_of(response) == [
        (1, "contract_violation", "attributes.total"),
        (2, "contract_violation", "identifiers.object_type_id"),
    ]
    assert the_object(runtime, ws, "cart", "good").attributes["total"] == 10
    assert find_object(runtime, ws, "cart", "bad") is None
    assert find_object(runtime, ws, "wishlist", "w1") is None
    assert the_person(runtime, ws, "u1").attributes["plan"] == "pro"
    with runtime.services.db.read() as conn:
        violations = contracts.list_violations(conn, ws)
    assert [(v["type"], v["attribute"], v["kind"], v["rejected"]) for v in violations] == [
        ("cart", "total", "type", 1),
        ("wishlist", None, "unknown_type", 1),
    ]
