"""The per-person evaluator on hand-built snapshots, and the value rules it shares with SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from relata.core.conditions import (
    EventSnapshot,
    LinkSnapshot,
    ObjectSnapshot,
    PersonSnapshot,
    Scope,
    evaluate,
    parse_condition,
)
from relata.core.conditions.values import as_number, as_time, equals, iso_millis, ordered_operands
from relata.core.contract_parse import parse_contract

NOW = 1_700_000_000_000
D = 86_400_000


def obj(
    pk: int,
    type_name: str,
    attributes: dict[str, Any],
    children: tuple[LinkSnapshot, ...] = (),
    parents: tuple[LinkSnapshot, ...] = (),
) -> ObjectSnapshot:
    return ObjectSnapshot(
        pk,
        {"cart": "1", "cart_item": "2", "order": "3", "order_item": "4"}[type_name],
        type_name,
        f"{type_name}_{pk}",
        attributes,
        children,
        parents,
    )


def shopper() -> PersonSnapshot:
    item_in = obj(11, "cart_item", {"in_stock": True, "price": 20})
    item_out = obj(12, "cart_item", {"in_stock": False, "price": 30})
    cart = obj(
        10,
        "cart",
        {"status": "active", "cart_total": 150, "updated_at": NOW // 1000 - 3600},
        children=(LinkSnapshot(item_in), LinkSnapshot(item_out)),
    )
    line = obj(21, "order_item", {"category": "skincare"})
    first_order = obj(
        20, "order", {"total": 300, "created_at": "2023-11-10T00:00:00Z"}, children=(LinkSnapshot(line),)
    )
    second_order = obj(22, "order", {"total": "250.5"})
    return PersonSnapshot(
        pk=1,
        attributes={"vip": True, "orders_count": "7", "first_name": "Ann"},
        id="ann",
        email="ann@x.com",
        objects=(
            LinkSnapshot(cart, {"role": "owner"}),
            LinkSnapshot(first_order),
            LinkSnapshot(second_order),
        ),
        events=(
            EventSnapshot("order_completed", NOW - 40 * D, {"category": "haircare"}),
            EventSnapshot("order_completed", NOW - 2 * D, {"category": "skincare", "cart_id": "cart_10"}),
        ),
        segments=frozenset({"newsletter"}),
        trigger_object=cart,
    )


def holds(data: Any, person: PersonSnapshot | None = None, scope: Scope | None = None, **kwargs: Any) -> bool:
    return evaluate(parse_condition(data), person or shopper(), now=NOW, scope=scope, **kwargs)


def test_use_cases_from_the_seed() -> None:
    # high AOV carts
    assert holds(
        {
            "related": {
                "type": "cart",
                "where": {
                    "and": [
                        {"attribute": {"field": "status", "operator": "eq", "value": "active"}},
                        {"attribute": {"field": "cart_total", "operator": "gte", "value": 100}},
                    ]
                },
            }
        }
    )
    # first-time buyers of category X: the first order_completed of skincare within 7 days
    assert holds(
        {
            "event": {
                "name": "order_completed",
                "where": {"attribute": {"field": "category", "operator": "eq", "value": "skincare"}},
                "occurrence": "first",
                "operator": "within",
                "value": "7d",
            }
        }
    )
    assert not holds(
        {"event": {"name": "order_completed", "occurrence": "first", "operator": "within", "value": "7d"}}
    )
    # VIP by order count and by total spend
    assert holds({"related": {"type": "order", "count": {"gte": 2}}})
    assert holds(
        {
            "related": {
                "type": "order",
                "aggregate": {"function": "sum", "field": "total", "operator": "gte", "value": 550.5},
            }
        }
    )
    assert not holds(
        {
            "related": {
                "type": "order",
                "aggregate": {"function": "sum", "field": "total", "operator": "gt", "value": 550.5},
            }
        }
    )
    assert holds({"attribute": {"field": "orders_count", "operator": "gte", "value": 5}})
    # person → order → order_item with category X
    assert holds(
        {
            "related": {
                "type": "order",
                "where": {
                    "related": {
                        "type": "order_item",
                        "where": {"attribute": {"field": "category", "operator": "eq", "value": "skincare"}},
                    }
                },
            }
        }
    )


def test_guards_read_the_trigger_object_and_refs() -> None:
    scope = Scope.for_trigger("cart", "cart_10", {"status": "active", "updated_at": NOW // 1000 - 5 * 86400})
    # out of stock: an item of this cart is not in stock
    assert holds(
        {
            "trigger_object": {
                "related": {
                    "type": "cart_item",
                    "where": {"attribute": {"field": "in_stock", "operator": "eq", "value": False}},
                }
            }
        },
        scope=scope,
    )
    assert not holds(
        {"trigger_object": {"attribute": {"field": "status", "operator": "neq", "value": "active"}}},
        scope=scope,
    )
    assert not holds(
        {"trigger_object": {"attribute": {"field": "updated_at", "operator": "older_than", "value": "72h"}}},
        scope=scope,
    )
    # ordered since: an order created after the trigger cart's updated_at
    assert holds(
        {
            "related": {
                "type": "order",
                "where": {
                    "attribute": {
                        "field": "created_at",
                        "operator": "after",
                        "value": {"ref": "trigger.cart.updated_at"},
                    }
                },
            }
        },
        scope=scope,
    )
    # goal: an order_completed for this cart
    assert holds(
        {
            "event": {
                "name": "order_completed",
                "where": {
                    "attribute": {
                        "field": "cart_id",
                        "operator": "eq",
                        "value": {"ref": "trigger.cart.object_id"},
                    }
                },
            }
        },
        scope=scope,
    )
    # no trigger object: the condition cannot hold
    no_trigger = PersonSnapshot(pk=2, attributes={})
    assert not holds({"trigger_object": {"attribute": {"field": "status", "operator": "exists"}}}, no_trigger)


def test_missing_attributes() -> None:
    empty = PersonSnapshot(pk=3, attributes={"nothing": None})
    for operator, value in [
        ("eq", 1),
        ("gt", 1),
        ("in", [1]),
        ("contains", "a"),
        ("starts_with", "a"),
        ("within", "1d"),
        ("before", 1),
        ("between", [1, 2]),
        ("exists", None),
    ]:
        body: dict[str, Any] = {"field": "nothing", "operator": operator}
        if value is not None:
            body["value"] = value
        assert not holds({"attribute": body}, empty), operator
    for operator, value in [("neq", 1), ("not_in", [1]), ("not_contains", "a"), ("not_exists", None)]:
        body = {"field": "nothing", "operator": operator}
        if value is not None:
            body["value"] = value
        assert holds({"attribute": body}, empty), operator


def test_directions_follow_the_contract() -> None:
    contract = parse_contract(
        {
            "object_types": {"cart": {"id": "1"}, "cart_item": {"id": "2"}},
            "relationships": [{"from": "cart", "to": "cart_item", "as": "items", "inverse": "cart"}],
        }
    )
    cart = obj(1, "cart", {"status": "active"})
    item = obj(2, "cart_item", {}, parents=(LinkSnapshot(cart),))
    parent_side = obj(3, "cart", {}, children=(LinkSnapshot(obj(4, "cart_item", {"sku": "A"})),))
    person = PersonSnapshot(pk=1, attributes={}, objects=(LinkSnapshot(item), LinkSnapshot(parent_side)))
    up = {
        "related": {
            "type": "cart_item",
            "where": {
                "related": {
                    "via": "cart",
                    "where": {"attribute": {"field": "status", "operator": "eq", "value": "active"}},
                }
            },
        }
    }
    assert holds(up, person, contract=contract)
    down = {"related": {"type": "cart", "where": {"related": {"via": "items"}}}}
    assert holds(down, person, contract=contract)
    # a cart's parents are not its items
    assert not holds(
        {"related": {"type": "cart_item", "where": {"related": {"type": "cart", "count": {"gte": 2}}}}},
        person,
        contract=contract,
    )


def test_segments_and_messages() -> None:
    person = PersonSnapshot(
        pk=1,
        attributes={},
        segments=frozenset({"vip"}),
        events=(EventSnapshot("message_opened", NOW - D, {"campaign_id": "welcome", "template": "w1"}),),
    )
    assert holds({"segment": {"id": "vip"}}, person)
    assert not holds({"segment": {"id": "other"}}, person)
    assert holds({"message": {"action": "opened", "campaign": "welcome", "within": "2d"}}, person)
    assert not holds({"message": {"action": "opened", "campaign": "welcome", "within": "1h"}}, person)
    assert not holds({"message": {"action": "clicked", "campaign": "welcome"}}, person)


# --- value rules -----------------------------------------------------------------------------------


def test_typed_values() -> None:
    assert as_number("12.50") == 12.5 and as_number("-3") == -3.0
    assert as_number("1e5") is None and as_number(" 1") is None and as_number(True) is None
    assert as_time(1_700_000_000) == 1_700_000_000_000  # seconds
    assert as_time(1_700_000_000_000) == 1_700_000_000_000  # milliseconds
    assert as_time("2023-11-14T22:13:20Z") == 1_700_000_000_000
    assert as_time("2023-11-14T23:13:20.999+01:00") == 1_700_000_000_999
    assert as_time("2023-11-14 22:13:20") == 1_700_000_000_000  # naive is UTC
    assert as_time("14/11/2023") is None and as_time("2023-13-01") is None and as_time(True) is None
    assert iso_millis("2023-02-30") == iso_millis("2023-03-02")  # days past a month's end roll over
    assert equals(True, "true") and equals("true", True) and not equals(1, True)
    assert equals("00123", 123) and equals(123, "123") and not equals("abc", "ABC")
    assert equals("abc", "ABC", insensitive=True) and not equals("é", "É", insensitive=True)
    assert ordered_operands("b", "a", False) == ("b", "a")
    assert ordered_operands(5, "a", False) is None
    assert ordered_operands("2023-01-01", "2022-12-31T00:00:00Z", False) is not None


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 1),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
        ),
    )
)
def test_iso_times_agree_with_the_standard_library(moment: datetime) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    text = moment.isoformat().replace("+00:00", "Z")
    expected = int((moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
    assert iso_millis(text) == expected
