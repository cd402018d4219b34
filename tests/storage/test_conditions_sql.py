"""Both executors on a small store: every operator and leaf, hops, aggregates, refs, time windows.

Each case states the people it must match; the SQL executor and the per-person evaluator (over a
snapshot loaded from the same rows) must both produce exactly that set.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection
from test_conditions_sql_data import Graph

from relata.core.conditions import Scope, evaluate, parse_condition
from relata.core.contract_parse import parse_contract
from relata.storage.conditions_load import load_snapshot
from relata.storage.conditions_sql import DefinedSegments, compile_condition, count_people, matching_people
from relata.storage.database import Database

NOW = 1_700_000_000_000  # 2023-11-14T22:13:20Z
S = NOW // 1000
H = 3_600_000
D = 86_400_000

CONTRACT = parse_contract(
    {
        "object_types": {
            "cart": {"id": "1"},
            "cart_item": {"id": "2"},
            "order": {"id": "3"},
            "order_item": {"id": "4"},
            "product": {"id": "5"},
        },
        "relationships": [
            {"from": "person", "to": "cart", "as": "carts", "inverse": "shoppers"},
            {"from": "cart", "to": "cart_item", "as": "items", "inverse": "cart"},
            {"from": "person", "to": "order", "as": "orders", "inverse": "buyers"},
            {"from": "order", "to": "order_item", "as": "lines", "inverse": "order"},
            {"from": "order_item", "to": "product", "as": "product", "inverse": "order_items"},
        ],
    }
)

SEGMENTS = {
    "vip": parse_condition({"attribute": {"field": "vip", "operator": "eq", "value": True}}),
    "big-spenders": parse_condition(
        {
            "related": {
                "type": "order",
                "aggregate": {"function": "sum", "field": "total", "operator": "gte", "value": 500},
            }
        }
    ),
    "vip-big": parse_condition({"and": [{"segment": {"id": "vip"}}, {"segment": {"id": "big-spenders"}}]}),
}


def build(conn: Connection) -> tuple[Graph, dict[str, int]]:
    g = Graph(conn, {"cart": "1", "cart_item": "2", "order": "3", "order_item": "4", "product": "5"})
    ann = g.person(
        {
            "vip": True,
            "age": 30,
            "name": "Ann",
            "plan": "Gold",
            "tags": ["vip", "new"],
            "signup": S - 3 * 3600,
            "last_seen": "2023-11-14T20:00:00Z",
            "score": "42",
            "zip": "00123",
            "city": "Zürich",
            "timezone": "Europe/Paris",
        },
        ident="ann",
        email="ann@example.com",
    )
    bob = g.person(
        {
            "vip": False,
            "age": "25",
            "name": "bob",
            "plan": "silver",
            "signup": "2023-01-01",
            "last_seen": NOW - 400 * D,
            "tags": [],
            "score": 7,
        },
        ident="bob",
    )
    cat = g.person(
        {
            "vip": "true",
            "age": 41.5,
            "name": "Cat",
            "tags": ["x", 3],
            "plan": "GOLD",
            "last_seen": "2023-11-14 21:13:20+01:00",
        }
    )
    dan = g.person({}, ident="dan")
    # ann: an active cart with one in-stock and one out-of-stock item; two orders, one with skincare
    cart1 = g.object("cart", {"status": "active", "cart_total": 150, "updated_at": S - 3600}, "cart_1")
    g.link(ann, cart1, {"role": "owner"})
    item1 = g.object("cart_item", {"in_stock": True, "sku": "A", "price": 100})
    item2 = g.object("cart_item", {"in_stock": False, "sku": "B", "price": 50})
    g.child(cart1, item1, {"position": 1})
    g.child(cart1, item2, {"position": 2})
    order1 = g.object("order", {"total": 300, "created_at": S - 2 * 86400, "subscription_eligible": True})
    order2 = g.object("order", {"total": 250, "created_at": S - 30 * 86400})
    g.link(ann, order1)
    g.link(ann, order2)
    line1 = g.object("order_item", {"category": "skincare", "price": 300})
    g.child(order1, line1)
    product1 = g.object("product", {"name": "Cleanser", "category": "skincare"}, "sku_cleanser")
    g.child(line1, product1)
    # bob: an abandoned old cart, a big order of haircare
    cart2 = g.object("cart", {"status": "abandoned", "cart_total": 50, "updated_at": S - 5 * 86400}, "cart_2")
    g.link(bob, cart2, {"role": "viewer"})
    order3 = g.object("order", {"total": 600, "created_at": S - 86400, "subscription_eligible": "false"})
    g.link(bob, order3)
    line2 = g.object("order_item", {"category": "haircare"})
    g.child(order3, line2)
    # cat: three small orders (one total is a numeric string)
    for total in (100, "120", 90):
        order = g.object("order", {"total": total})
        g.link(cat, order)
    # events
    g.event(ann, "viewed_product", NOW - 1 * D, {"category": "skincare"})
    g.event(ann, "viewed_product", NOW - 2 * D, {"category": "skincare", "price": 20})
    g.event(ann, "viewed_product", NOW - 3 * D, {"category": "haircare"})
    g.event(ann, "order_completed", NOW - 20 * D, {"cart_id": "cart_0"})
    g.event(ann, "order_completed", NOW - 2 * D, {"cart_id": "cart_1", "total": 300})
    g.event(bob, "viewed_product", NOW - 10 * D, {"category": "skincare"})
    g.event(bob, "order_completed", NOW - 1 * D, {"cart_id": "cart_2"})
    g.event(cat, "message_opened", NOW - 1 * D, {"campaign_id": "abandoned-cart", "template": "cart-1"})
    g.event(cat, "message_sent", NOW - 2 * D, {"campaign_id": "abandoned-cart", "template": "cart-1"})
    g.event(dan, "message_sent", NOW - 2 * D, {"campaign_id": "welcome"})
    return g, {"ann": ann, "bob": bob, "cat": cat, "dan": dan, "cart1": cart1, "cart2": cart2}


def both(
    conn: Connection, g: Graph, names: dict[str, int], data: Any, scope: Scope | None = None
) -> tuple[set[str], set[str]]:
    condition = parse_condition(data)
    by_pk = {pk: name for name, pk in names.items() if name in ("ann", "bob", "cat", "dan")}
    segments = DefinedSegments(SEGMENTS)
    sql = {
        by_pk[pk]
        for pk in matching_people(
            conn,
            condition,
            workspace_id=g.workspace_id,
            now=NOW,
            scope=scope,
            contract=CONTRACT,
            segments=segments,
        )
    }
    per_person = set()
    for pk, name in by_pk.items():
        snapshot = load_snapshot(
            conn,
            condition,
            workspace_id=g.workspace_id,
            person_pk=pk,
            now=NOW,
            scope=scope,
            contract=CONTRACT,
            segments=segments,
        )
        assert snapshot is not None
        if evaluate(condition, snapshot, now=NOW, scope=scope, contract=CONTRACT):
            per_person.add(name)
    return sql, per_person


def attr(field: str, operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"field": field, "operator": operator, **extra}
    if value is not None:
        body["value"] = value
    return {"attribute": body}


OPERATOR_CASES: list[tuple[Any, set[str]]] = [
    (attr("vip", "eq", True), {"ann", "cat"}),  # "true" string counts as true
    (attr("vip", "eq", False), {"bob"}),
    (attr("vip", "neq", True), {"bob", "dan"}),  # neq holds on a missing attribute
    (attr("age", "eq", 25), {"bob"}),  # numeric string compares numerically
    (attr("age", "eq", "30"), {"ann"}),  # numeric string literal equals a number
    (attr("age", "gt", 29), {"ann", "cat"}),
    (attr("age", "gte", 30), {"ann", "cat"}),
    (attr("age", "lt", 30), {"bob"}),
    (attr("age", "lte", "30"), {"ann", "bob"}),
    (attr("age", "between", [25, 30]), {"ann", "bob"}),
    (attr("zip", "eq", "00123"), {"ann"}),
    (attr("zip", "eq", 123), {"ann"}),  # typed: numeric strings compare numerically with numbers
    (attr("name", "eq", "ann"), set()),
    (attr("name", "eq", "ann", case="insensitive"), {"ann"}),
    (attr("name", "gt", "B"), {"bob", "cat"}),  # code point order: "Cat" > "B", "Ann" < "B"
    (attr("name", "lt", "b"), {"ann", "cat"}),
    (attr("name", "lt", "b", case="insensitive"), {"ann"}),
    (attr("plan", "in", ["Gold", "silver"]), {"ann", "bob"}),
    (attr("plan", "in", ["gold"], case="insensitive"), {"ann", "cat"}),
    (attr("plan", "not_in", ["Gold", "silver"]), {"cat", "dan"}),
    (attr("plan", "exists"), {"ann", "bob", "cat"}),
    (attr("plan", "not_exists"), {"dan"}),
    (attr("name", "contains", "a"), {"cat"}),
    (attr("name", "contains", "A", case="insensitive"), {"ann", "cat"}),
    (attr("name", "not_contains", "a"), {"ann", "bob", "dan"}),
    (attr("tags", "contains", "vip"), {"ann"}),  # array element
    (attr("tags", "contains", 3), {"cat"}),
    (attr("tags", "contains", "VIP", case="insensitive"), {"ann"}),
    (attr("name", "starts_with", "A"), {"ann"}),
    (attr("name", "ends_with", "b"), {"bob"}),
    (attr("name", "ends_with", "T", case="insensitive"), {"cat"}),
    (attr("city", "eq", "zürich", case="insensitive"), {"ann"}),
    (attr("city", "eq", "ZÜRICH", case="insensitive"), set()),  # case folding is ASCII only
    (attr("signup", "within", "1d"), {"ann"}),  # unix seconds
    (attr("signup", "older_than", "30d"), {"bob"}),  # ISO date
    (attr("last_seen", "within", "4h"), {"ann", "cat"}),  # ISO with Z and with an offset
    (attr("last_seen", "older_than", "1d"), {"bob"}),  # unix milliseconds
    (attr("last_seen", "after", "2023-11-14T19:00:00Z"), {"ann", "cat"}),
    (attr("last_seen", "before", 1_699_988_400), {"bob"}),  # 2023-11-14T19:00:00Z in seconds
    (attr("last_seen", "between", ["2023-11-14T19:30:00Z", "2023-11-14T20:10:00+00:00"]), {"ann"}),
    (attr("last_seen", "between", ["2023-11-14T21:05:00+01:00", "2023-11-14T20:30:00Z"]), {"cat"}),
    (attr("signup", "gt", "2022-06-01"), {"ann", "bob"}),  # an ISO literal orders as a time
    (attr("score", "gte", 10), {"ann"}),
    (attr("id", "eq", "ann"), {"ann"}),
    (attr("email", "ends_with", "@example.com"), {"ann"}),
    (attr("email", "not_exists"), {"bob", "cat", "dan"}),
    ({"not": attr("age", "gt", 29)}, {"bob", "dan"}),
    ({"or": [attr("vip", "eq", False), attr("plan", "eq", "GOLD")]}, {"bob", "cat"}),
]

LEAF_CASES: list[tuple[Any, set[str]]] = [
    ({"event": {"name": "viewed_product"}}, {"ann", "bob"}),
    ({"event": {"name": "viewed_product", "within": "7d"}}, {"ann"}),
    (
        {
            "event": {
                "name": "viewed_product",
                "within": "7d",
                "count": {"gte": 2},
                "where": attr("category", "eq", "skincare"),
            }
        },
        {"ann"},
    ),
    ({"event": {"name": "viewed_product", "count": {"eq": 0}}}, {"cat", "dan"}),
    ({"event": {"name": "viewed_product", "count": {"gte": 1, "lte": 2}}}, {"bob"}),
    ({"event": {"name": "viewed_product", "count": {"lt": 2}}}, {"bob", "cat", "dan"}),
    (
        {"event": {"name": "order_completed", "occurrence": "first", "operator": "within", "value": "7d"}},
        {"bob"},
    ),
    (
        {"event": {"name": "order_completed", "occurrence": "last", "operator": "within", "value": "7d"}},
        {"ann", "bob"},
    ),
    (
        {
            "event": {
                "name": "order_completed",
                "occurrence": "first",
                "operator": "older_than",
                "value": "10d",
            }
        },
        {"ann"},
    ),
    (
        {
            "event": {
                "name": "order_completed",
                "occurrence": "first",
                "operator": "before",
                "value": "2023-11-01T00:00:00Z",
            }
        },
        {"ann"},
    ),
    (
        {
            "event": {
                "name": "order_completed",
                "occurrence": "last",
                "operator": "between",
                "value": ["2023-11-12T00:00:00Z", "2023-11-13T00:00:00Z"],
            }
        },
        {"ann"},
    ),
    ({"message": {"action": "opened", "campaign": "abandoned-cart"}}, {"cat"}),
    (
        {
            "message": {
                "action": "received",
                "campaign": "abandoned-cart",
                "template": "cart-1",
                "within": "3d",
            }
        },
        {"cat"},
    ),
    ({"message": {"action": "received"}}, {"cat", "dan"}),
    ({"message": {"action": "clicked", "campaign": "abandoned-cart"}}, set()),
    ({"segment": {"id": "vip"}}, {"ann", "cat"}),
    ({"segment": {"id": "vip-big"}}, {"ann"}),  # segments in segments
    ({"not": {"segment": {"id": "big-spenders"}}}, {"cat", "dan"}),
]

RELATED_CASES: list[tuple[Any, set[str]]] = [
    ({"related": {"type": "cart"}}, {"ann", "bob"}),
    ({"related": {"via": "carts", "where": attr("status", "eq", "active")}}, {"ann"}),
    ({"related": {"type": "1", "where": attr("status", "eq", "active")}}, {"ann"}),  # numeric type id
    (
        {
            "related": {
                "type": "cart",
                "via": "carts",
                "where": {
                    "and": [
                        attr("status", "eq", "active"),
                        attr("cart_total", "gt", 100),
                        attr("updated_at", "within", "24h"),
                        {"related": {"type": "cart_item", "where": attr("in_stock", "eq", True)}},
                    ]
                },
            }
        },
        {"ann"},
    ),
    ({"related": {"type": "cart", "relationship_where": attr("role", "eq", "owner")}}, {"ann"}),
    ({"related": {"type": "cart", "relationship_where": attr("role", "neq", "owner")}}, {"bob"}),
    ({"related": {"type": "cart", "count": {"eq": 0}}}, {"cat", "dan"}),
    ({"related": {"type": "order", "count": {"gte": 3}}}, {"cat"}),
    (
        {
            "related": {
                "type": "order",
                "aggregate": {"function": "sum", "field": "total", "operator": "gte", "value": 500},
            }
        },
        {"ann", "bob"},
    ),
    (
        {
            "related": {
                "type": "order",
                "aggregate": {"function": "sum", "field": "total", "operator": "lt", "value": 100},
            }
        },
        {"dan"},
    ),  # no orders: the sum is 0
    (
        {"related": {"type": "order", "aggregate": {"function": "count", "operator": "gte", "value": 2}}},
        {"ann", "cat"},
    ),
    (
        {
            "related": {
                "type": "order",
                "aggregate": {"function": "avg", "field": "total", "operator": "eq", "value": 275},
            }
        },
        {"ann"},
    ),
    (
        {
            "related": {
                "type": "order",
                "aggregate": {"function": "min", "field": "total", "operator": "lt", "value": 100},
            }
        },
        {"cat"},
    ),
    (
        {
            "related": {
                "type": "order",
                "aggregate": {
                    "function": "max",
                    "field": "total",
                    "operator": "between",
                    "value": [100, 300],
                },
            }
        },
        {"ann", "cat"},
    ),
    # multi-hop: person → order → order_item with category X
    (
        {
            "related": {
                "via": "orders",
                "where": {"related": {"via": "lines", "where": attr("category", "eq", "skincare")}},
            }
        },
        {"ann"},
    ),
    (
        {
            "related": {
                "type": "order",
                "where": {
                    "related": {
                        "type": "order_item",
                        "where": {"related": {"type": "product", "where": attr("name", "eq", "Cleanser")}},
                    }
                },
            }
        },
        {"ann"},
    ),
    ({"related": {"type": "order", "where": attr("subscription_eligible", "eq", True)}}, {"ann"}),
    ({"related": {"type": "cart_item", "via": "items"}}, set()),  # items leave carts, not people
    # an upward hop: cart items whose cart is active
    (
        {
            "related": {
                "type": "cart",
                "where": {
                    "related": {
                        "type": "cart_item",
                        "where": {"related": {"via": "cart", "where": attr("status", "eq", "active")}},
                    }
                },
            }
        },
        {"ann"},
    ),
]


def run_cases(database: Database, cases: list[tuple[Any, set[str]]]) -> None:
    failures = []
    with database.write() as conn:
        g, names = build(conn)
        for data, expected in cases:
            sql, per_person = both(conn, g, names, data)
            if sql != expected or per_person != expected:
                failures.append(
                    f"{data}: expected {sorted(expected)}, sql {sorted(sql)}, evaluator {sorted(per_person)}"
                )
    assert not failures, "\n".join(failures)


def test_operators(database: Database) -> None:
    run_cases(database, OPERATOR_CASES)


def test_leaves(database: Database) -> None:
    run_cases(database, LEAF_CASES)


def test_related(database: Database) -> None:
    run_cases(database, RELATED_CASES)


def test_refs_and_trigger_object(database: Database) -> None:
    with database.write() as conn:
        g, names = build(conn)
        cart1 = Scope.for_trigger(
            "cart",
            "cart_1",
            {"status": "active", "updated_at": S - 3 * 86400},
            object_pk=names["cart1"],
            customer={"plan": "Gold"},
        )
        cases: list[tuple[Any, Scope, set[str]]] = [
            # "an order exists created after this cart's updated_at" (a guard)
            (
                {
                    "related": {
                        "type": "order",
                        "where": attr("created_at", "after", {"ref": "trigger.cart.updated_at"}),
                    }
                },
                cart1,
                {"ann", "bob"},
            ),
            # "an order_completed event whose cart_id is this cart's id" (a goal)
            (
                {
                    "event": {
                        "name": "order_completed",
                        "where": attr("cart_id", "eq", {"ref": "trigger.cart.object_id"}),
                    }
                },
                cart1,
                {"ann"},
            ),
            (attr("plan", "eq", {"ref": "customer.plan"}), cart1, {"ann"}),
            (attr("plan", "eq", {"ref": "customer.nothing"}), cart1, set()),  # a missing ref matches nothing
            (attr("plan", "neq", {"ref": "customer.nothing"}), cart1, {"ann", "bob", "cat", "dan"}),
            ({"trigger_object": attr("status", "eq", "active")}, cart1, {"ann", "bob", "cat", "dan"}),
            (
                {
                    "trigger_object": {
                        "related": {"type": "cart_item", "where": attr("in_stock", "eq", False)}
                    }
                },
                cart1,
                {"ann", "bob", "cat", "dan"},
            ),
            ({"trigger_object": {"related": {"via": "items", "count": {"gte": 3}}}}, cart1, set()),
            ({"trigger_object": attr("object_id", "eq", "cart_1")}, cart1, {"ann", "bob", "cat", "dan"}),
            (
                {"trigger_object": attr("status", "eq", "active")},
                Scope.for_trigger("cart", "cart_2", {}, object_pk=names["cart2"]),
                set(),
            ),
            ({"trigger_object": attr("status", "exists")}, Scope(), set()),  # no trigger object in scope
        ]
        failures = []
        for data, scope, expected in cases:
            sql, per_person = both(conn, g, names, data, scope)
            if sql != expected or per_person != expected:
                failures.append(
                    f"{data}: expected {sorted(expected)}, sql {sorted(sql)}, evaluator {sorted(per_person)}"
                )
        assert not failures, "\n".join(failures)


def test_workspace_scoping_and_count(database: Database) -> None:
    with database.write() as conn:
        g, _ = build(conn)
        other, _ = build(conn)
        condition = parse_condition(attr("vip", "eq", True))
        assert count_people(conn, condition, workspace_id=g.workspace_id, now=NOW) == 2
        assert count_people(conn, condition, workspace_id=other.workspace_id, now=NOW) == 2
        mine = set(matching_people(conn, condition, workspace_id=g.workspace_id, now=NOW))
        theirs = set(matching_people(conn, condition, workspace_id=other.workspace_id, now=NOW))
        assert mine and theirs and not mine & theirs
        # types are matched within the workspace
        related = parse_condition({"related": {"type": "order"}})
        assert len(matching_people(conn, related, workspace_id=g.workspace_id, now=NOW)) == 3


def test_segment_cycles_are_errors(database: Database) -> None:
    from relata.core.errors import ValidationError

    segments = DefinedSegments(
        {
            "a": parse_condition({"segment": {"id": "b"}}),
            "b": parse_condition({"not": {"segment": {"id": "a"}}}),
        }
    )
    with pytest.raises(ValidationError, match="cycle"):
        compile_condition(
            parse_condition({"segment": {"id": "a"}}),
            dialect=database.dialect,
            workspace_id=1,
            now=NOW,
            segments=segments,
        )
    with pytest.raises(ValidationError, match="unknown segment"):
        compile_condition(
            parse_condition({"segment": {"id": "zzz"}}),
            dialect=database.dialect,
            workspace_id=1,
            now=NOW,
            segments=segments,
        )
