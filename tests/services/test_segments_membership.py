"""Incremental membership: each kind of write moves people in and out of segments, on both databases."""

from __future__ import annotations

from tests.services.test_segments_support import (
    ACTIVE_CART_OVER_100,
    DAY,
    HOUR,
    apply,
    event,
    history,
    identify,
    install_contract,
    link,
    members,
    obj,
    person,
    save,
    settle,
)

from relata.bootstrap import Runtime
from relata.core.identity import ObjectRef
from relata.core.operations import DeleteObject, DeletePerson, Link, MergePeople, ObjectLinks
from relata.storage.workspaces import Credentials


def test_person_attribute_enters_and_exits(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    apply(runtime, ws, identify("ann", vip=True), identify("bob", vip=False))
    save(runtime, ws, "vip", {"attribute": {"field": "vip", "operator": "eq", "value": True}})
    settle(runtime)
    assert members(runtime, ws, "vip") == {"ann"}
    apply(runtime, ws, identify("bob", vip=True), identify("ann", vip=False))
    settle(runtime)
    assert members(runtime, ws, "vip") == {"bob"}
    actions = [(a, cause) for a, _, cause in history(runtime, ws, "vip")]
    assert actions[0] == ("entered", "refresh")
    assert sorted(actions[1:]) == [("entered", "update"), ("exited", "update")]


def test_cart_total_change_enters_active_cart_segment(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    install_contract(runtime, ws)
    save(runtime, ws, "big-cart", ACTIVE_CART_OVER_100)
    apply(
        runtime,
        ws,
        identify("ann"),
        obj("cart", "c1", status="active", cart_total=50),
        link("ann", "cart", "c1"),
    )
    settle(runtime)
    assert members(runtime, ws, "big-cart") == set()
    apply(runtime, ws, obj("cart", "c1", cart_total=150))
    settle(runtime)
    assert members(runtime, ws, "big-cart") == {"ann"}
    assert history(runtime, ws, "big-cart")[-1][2] == "update"
    apply(runtime, ws, obj("cart", "c1", status="converted"))
    settle(runtime)
    assert members(runtime, ws, "big-cart") == set()


def test_event_enters_and_its_window_closing_exits(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    save(runtime, ws, "viewer", {"event": {"name": "viewed_product", "within": "1d", "count": {"gte": 2}}})
    apply(runtime, ws, event("ann", "viewed_product"), event("bob", "viewed_product"))
    settle(runtime)
    assert members(runtime, ws, "viewer") == set()
    apply(runtime, ws, event("ann", "viewed_product"), event("bob", "added_to_cart"))
    settle(runtime)
    assert members(runtime, ws, "viewer") == {"ann"}
    runtime.services.clock.advance(DAY - 5000)  # type: ignore[attr-defined]
    settle(runtime)
    assert members(runtime, ws, "viewer") == {"ann"}
    runtime.services.clock.advance(5000)  # type: ignore[attr-defined]  # the first view leaves the window
    settle(runtime)
    assert members(runtime, ws, "viewer") == set()
    assert history(runtime, ws, "viewer")[-1][0::2] == ("exited", "time")


def test_relationship_add_and_remove(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    install_contract(runtime, ws)
    apply(runtime, ws, obj("cart", "c1", status="active", cart_total=500))
    save(runtime, ws, "big-cart", ACTIVE_CART_OVER_100)
    settle(runtime)
    apply(runtime, ws, link("ann", "cart", "c1"))
    settle(runtime)
    assert members(runtime, ws, "big-cart") == {"ann"}
    assert history(runtime, ws, "big-cart")[-1][2] == "relationship_add"
    apply(runtime, ws, link("ann", "cart", "c1", remove=True))
    settle(runtime)
    assert members(runtime, ws, "big-cart") == set()
    assert history(runtime, ws, "big-cart")[-1][0::2] == ("exited", "relationship_remove")


def test_exclusive_cart_replacement_moves_the_person_out(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    install_contract(runtime, ws)
    save(runtime, ws, "big-cart", ACTIVE_CART_OVER_100)
    apply(runtime, ws, obj("cart", "c1", status="active", cart_total=500), link("ann", "cart", "c1"))
    settle(runtime)
    assert members(runtime, ws, "big-cart") == {"ann"}
    apply(runtime, ws, obj("cart", "c2", status="active", cart_total=20), link("ann", "cart", "c2"))
    settle(runtime)
    assert members(runtime, ws, "big-cart") == set()


def test_second_hop_attribute_and_object_links(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    install_contract(runtime, ws)
    condition = {
        "related": {
            "via": "carts",
            "where": {
                "related": {
                    "via": "items",
                    "where": {"attribute": {"field": "in_stock", "operator": "eq", "value": True}},
                }
            },
        }
    }
    save(runtime, ws, "in-stock-cart", condition)
    apply(
        runtime,
        ws,
        obj("cart", "c1", status="active"),
        link("ann", "cart", "c1"),
        obj("cart_item", "i1", in_stock=False),
    )
    settle(runtime)
    item = (Link(ObjectRef("cart_item", "i1")),)
    apply(runtime, ws, ObjectLinks(ObjectRef("cart", "c1"), item))  # cart → item: still out of stock
    settle(runtime)
    assert members(runtime, ws, "in-stock-cart") == set()
    apply(runtime, ws, obj("cart_item", "i1", in_stock=True))  # an attribute two hops away
    settle(runtime)
    assert members(runtime, ws, "in-stock-cart") == {"ann"}
    apply(runtime, ws, ObjectLinks(ObjectRef("cart", "c1"), item, remove=True))  # the object link goes
    settle(runtime)
    assert members(runtime, ws, "in-stock-cart") == set()
    apply(runtime, ws, ObjectLinks(ObjectRef("cart", "c1"), item))
    settle(runtime)
    assert members(runtime, ws, "in-stock-cart") == {"ann"}
    apply(runtime, ws, DeleteObject(ObjectRef("cart_item", "i1")))  # deleting the deep object
    settle(runtime)
    assert members(runtime, ws, "in-stock-cart") == set()
    assert history(runtime, ws, "in-stock-cart")[-1][0::2] == ("exited", "delete")


def test_object_deletion_and_person_deletion(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    install_contract(runtime, ws)
    save(runtime, ws, "big-cart", ACTIVE_CART_OVER_100)
    apply(
        runtime,
        ws,
        obj("cart", "c1", status="active", cart_total=500),
        link("ann", "cart", "c1"),
        obj("cart", "c2", status="active", cart_total=500),
        link("bob", "cart", "c2"),
    )
    settle(runtime)
    assert members(runtime, ws, "big-cart") == {"ann", "bob"}
    apply(runtime, ws, DeleteObject(ObjectRef("cart", "c1")), DeletePerson(person("bob")))
    settle(runtime)
    assert members(runtime, ws, "big-cart") == set()
    causes = sorted(h[2] for h in history(runtime, ws, "big-cart") if h[0] == "exited")
    assert causes == ["delete", "delete"]


def test_merge_moves_what_the_secondary_had(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    install_contract(runtime, ws)
    save(runtime, ws, "big-cart", ACTIVE_CART_OVER_100)
    runtime.services.segments.save(ws, {"id": "vip-list", "kind": "manual"})
    apply(
        runtime,
        ws,
        identify("ann"),
        obj("cart", "c1", status="active", cart_total=500),
        link("bob", "cart", "c1"),
    )
    runtime.services.segments.add_members(ws, "vip-list", [person("bob")], "api")
    settle(runtime)
    assert members(runtime, ws, "big-cart") == {"bob"}
    apply(runtime, ws, MergePeople(person("ann"), person("bob")))
    settle(runtime)
    assert members(runtime, ws, "big-cart") == {"ann"}
    assert members(runtime, ws, "vip-list") == {"ann"}
    # the cart deleted after the merge: the change log named bob, who is now ann
    apply(runtime, ws, DeleteObject(ObjectRef("cart", "c1")))
    settle(runtime)
    assert members(runtime, ws, "big-cart") == set()


def test_time_window_on_an_object_attribute(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    install_contract(runtime, ws)
    fresh = {
        "related": {
            "via": "carts",
            "where": {"attribute": {"field": "updated_at", "operator": "within", "value": "24h"}},
        }
    }
    stale = {
        "related": {
            "via": "carts",
            "where": {"attribute": {"field": "updated_at", "operator": "older_than", "value": "1h"}},
        }
    }
    save(runtime, ws, "fresh-cart", fresh)
    save(runtime, ws, "stale-cart", stale)
    now_s = runtime.services.clock.now() // 1000 + 1
    apply(runtime, ws, obj("cart", "c1", updated_at=now_s), link("ann", "cart", "c1"))
    settle(runtime)
    assert members(runtime, ws, "fresh-cart") == {"ann"}
    assert members(runtime, ws, "stale-cart") == set()
    runtime.services.clock.advance(HOUR + 1000)  # type: ignore[attr-defined]
    settle(runtime)
    assert members(runtime, ws, "stale-cart") == {"ann"}
    assert history(runtime, ws, "stale-cart")[-1][0::2] == ("entered", "time")
    runtime.services.clock.advance(DAY)  # type: ignore[attr-defined]
    settle(runtime)
    assert members(runtime, ws, "fresh-cart") == set()
    assert members(runtime, ws, "stale-cart") == {"ann"}


def test_nested_segment_leaves_follow_the_inner_segment(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    install_contract(runtime, ws)
    save(runtime, ws, "vip", {"attribute": {"field": "vip", "operator": "eq", "value": True}})
    save(runtime, ws, "vip-big-cart", {"and": [{"segment": {"id": "vip"}}, ACTIVE_CART_OVER_100]})
    save(runtime, ws, "not-vip", {"not": {"segment": {"id": "vip"}}})
    apply(
        runtime,
        ws,
        identify("ann"),
        obj("cart", "c1", status="active", cart_total=500),
        link("ann", "cart", "c1"),
    )
    settle(runtime)
    assert members(runtime, ws, "vip-big-cart") == set()
    assert members(runtime, ws, "not-vip") == {"ann"}
    apply(runtime, ws, identify("ann", vip=True))
    settle(runtime)
    assert members(runtime, ws, "vip") == {"ann"}
    assert members(runtime, ws, "vip-big-cart") == {"ann"}
    assert members(runtime, ws, "not-vip") == set()
    assert history(runtime, ws, "vip-big-cart")[-1][2] == "segment_entered"


def test_workspaces_are_isolated(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    other = runtime.services.workspaces.create("other").workspace.id
    for target in (ws, other):
        save(runtime, target, "vip", {"attribute": {"field": "vip", "operator": "eq", "value": True}})
    apply(runtime, ws, identify("ann", vip=True))
    apply(runtime, other, identify("bob", vip=True), identify("ann", vip=False))
    settle(runtime)
    assert members(runtime, ws, "vip") == {"ann"}
    assert members(runtime, other, "vip") == {"bob"}
