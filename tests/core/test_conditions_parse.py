"""Parsing conditions: errors name their path; serialising round-trips; validation against a contract."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from relata.core.conditions import (
    And,
    Attribute,
    Bound,
    Event,
    Message,
    Ref,
    Related,
    TriggerObject,
    parse_condition,
    to_data,
    validate,
)
from relata.core.contract_parse import parse_contract
from relata.core.errors import ValidationError

SPEC_EXAMPLE = {
    "and": [
        {"attribute": {"field": "vip", "operator": "eq", "value": True}},
        {
            "event": {
                "name": "viewed_product",
                "within": "7d",
                "count": {"gte": 2},
                "where": {"attribute": {"field": "category", "operator": "eq", "value": "skincare"}},
            }
        },
        {
            "related": {
                "type": "cart",
                "via": "carts",
                "where": {
                    "and": [
                        {"attribute": {"field": "status", "operator": "eq", "value": "active"}},
                        {"attribute": {"field": "cart_total", "operator": "gt", "value": 100}},
                        {"attribute": {"field": "updated_at", "operator": "within", "value": "24h"}},
                        {
                            "related": {
                                "type": "cart_item",
                                "where": {
                                    "attribute": {"field": "in_stock", "operator": "eq", "value": True}
                                },
                            }
                        },
                    ]
                },
                "relationship_where": {"attribute": {"field": "role", "operator": "eq", "value": "owner"}},
                "count": {"gte": 1},
            }
        },
        {
            "related": {
                "type": "order",
                "aggregate": {"function": "sum", "field": "total", "operator": "gte", "value": 500},
            }
        },
        {"not": {"segment": {"id": "unsubscribed-from-marketing"}}},
    ]
}

CONTRACT = parse_contract(
    {
        "person": {"attributes": {"vip": {"type": "boolean"}, "email": {"type": "email"}}},
        "object_types": {
            "cart": {
                "id": "1",
                "attributes": {"status": "string", "cart_total": "number", "updated_at": "timestamp"},
            },
            "cart_item": {"id": "2", "attributes": {"in_stock": "boolean", "sku": "string"}},
            "order": {"id": "3", "attributes": {"total": "number", "created_at": "timestamp"}},
        },
        "relationships": [
            {
                "from": "person",
                "to": "cart",
                "as": "carts",
                "inverse": "shoppers",
                "attributes": {"role": {"type": "string"}},
            },
            {"from": "cart", "to": "cart_item", "as": "items", "inverse": "cart"},
            {"from": "person", "to": "order", "as": "orders"},
        ],
    }
)


def test_the_spec_example_parses_into_the_tree() -> None:
    condition = parse_condition(SPEC_EXAMPLE)
    assert isinstance(condition, And)
    assert condition.items[0] == Attribute("vip", "eq", True)
    event = condition.items[1]
    assert event == Event(
        "viewed_product", Attribute("category", "eq", "skincare"), 7 * 86_400_000, (Bound("gte", 2),)
    )
    related = condition.items[2]
    assert isinstance(related, Related)
    assert (related.type, related.via, related.count) == ("cart", "carts", (Bound("gte", 1),))
    assert related.relationship_where == Attribute("role", "eq", "owner")
    assert parse_condition(to_data(condition)) == condition
    assert to_data(condition)["and"][0] == SPEC_EXAMPLE["and"][0]  # type: ignore[index]
    validate(
        condition,
        CONTRACT.__class__(object_types=CONTRACT.object_types, relationships=CONTRACT.relationships),
    )


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        (
            {
                "and": [
                    {"attribute": {"field": "a", "operator": "eq", "value": 1}},
                    {"segment": {"id": "x"}},
                    {
                        "related": {
                            "type": "cart",
                            "where": {"attribute": {"field": "total", "operator": "gtt", "value": 1}},
                        }
                    },
                ]
            },
            "and[2].related.where.attribute.operator",
            'unknown operator "gtt"',
        ),
        ({"attribute": {"field": "a"}}, "attribute.operator", "is required"),
        ({"attribute": {"field": "a", "operator": "eq"}}, "attribute.value", "is required"),
        ({"attribute": {"operator": "eq", "value": 1}}, "attribute.field", "is required"),
        (
            {"attribute": {"field": "a", "operator": "exists", "value": 1}},
            "attribute.value",
            "takes no value",
        ),
        ({"attribute": {"field": "a", "operator": "in", "value": []}}, "attribute.value", "non-empty list"),
        (
            {"attribute": {"field": "a", "operator": "within", "value": "soon"}},
            "attribute.value",
            "not a duration",
        ),
        (
            {"attribute": {"field": "a", "operator": "before", "value": "yesterday"}},
            "attribute.value",
            "not a time",
        ),
        ({"attribute": {"field": "a", "operator": "between", "value": [1]}}, "attribute.value", "list of 2"),
        (
            {"attribute": {"field": "a", "operator": "between", "value": [1, "2023-01-01"]}},
            "attribute.value",
            "both be numbers",
        ),
        ({"attribute": {"field": "a", "operator": "gt", "value": True}}, "attribute.value", "not booleans"),
        (
            {"attribute": {"field": "a", "operator": "eq", "value": {"ref": "nowhere.x"}}},
            "attribute.value.ref",
            "unknown scope",
        ),
        (
            {"attribute": {"field": "a", "operator": "eq", "value": 1, "case": "loud"}},
            "attribute.case",
            "insensitive",
        ),
        (
            {"attribute": {"field": "a", "operator": "eq", "value": 1, "extra": 1}},
            "attribute.extra",
            "unknown setting",
        ),
        ({"or": []}, "or", "non-empty list"),
        ({"nope": {}}, "nope", "unknown condition"),
        ({"attribute": {}, "event": {}}, "", "exactly one"),
        ({"event": {"name": "x", "count": {"atleast": 2}}}, "event.count.atleast", "unknown operator"),
        ({"event": {"name": "x", "count": {"gte": -1}}}, "event.count.gte", "0 or more"),
        (
            {"event": {"name": "x", "occurrence": "middle", "operator": "within", "value": "1d"}},
            "event.occurrence",
            "first",
        ),
        (
            {"event": {"name": "x", "occurrence": "first", "operator": "eq", "value": 1}},
            "event.operator",
            'unknown operator "eq"',
        ),
        (
            {
                "event": {
                    "name": "x",
                    "occurrence": "first",
                    "within": "1d",
                    "operator": "within",
                    "value": "1d",
                }
            },
            "event.within",
            "cannot be combined",
        ),
        ({"event": {"name": "x", "operator": "within", "value": "1d"}}, "event.operator", "occurrence"),
        (
            {"event": {"name": "x", "where": {"related": {"type": "cart"}}}},
            "event.where.related",
            "not allowed",
        ),
        ({"related": {}}, "related.type", "needs a type or via"),
        (
            {"related": {"type": "cart", "where": {"event": {"name": "x"}}}},
            "related.where.event",
            "not allowed",
        ),
        (
            {
                "related": {
                    "type": "cart",
                    "aggregate": {"function": "median", "field": "x", "operator": "gt", "value": 1},
                }
            },
            "related.aggregate.function",
            "must be one of",
        ),
        (
            {"related": {"type": "cart", "aggregate": {"function": "sum", "operator": "gt", "value": 1}}},
            "related.aggregate.field",
            "is required",
        ),
        (
            {
                "related": {
                    "type": "cart",
                    "aggregate": {"function": "sum", "field": "x", "operator": "gt", "value": "lots"},
                }
            },
            "related.aggregate.value",
            "must be a number",
        ),
        ({"message": {"action": "read"}}, "message.action", "must be one of"),
        ({"segment": {}}, "segment.id", "is required"),
        ({"not": {"trigger_object": {"segment": {"id": "x"}}}}, "not.trigger_object.segment", "not allowed"),
    ],
)
def test_errors_name_their_path(data: Any, path: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_condition(data)
    assert caught.value.path == path
    assert message in caught.value.message


def test_error_message_reads_like_the_spec() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_condition(
            {
                "and": [
                    {"segment": {"id": "a"}},
                    {"segment": {"id": "b"}},
                    {
                        "related": {
                            "type": "cart",
                            "where": {"attribute": {"field": "x", "operator": "gtt", "value": 1}},
                        }
                    },
                ]
            }
        )
    assert str(caught.value) == 'and[2].related.where.attribute.operator: unknown operator "gtt"'


def test_an_outer_path_prefixes_errors() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_condition({"attribute": {"field": "x", "operator": "nope", "value": 1}}, "guards[1].when")
    assert caught.value.path == "guards[1].when.attribute.operator"


def test_yaml_documents_parse_with_dates_and_refs() -> None:
    document = yaml.safe_load("""
and:
  - attribute: {field: signup, operator: after, value: 2023-01-01}
  - related:
      type: order
      where: {attribute: {field: created_at, operator: after, value: {ref: trigger.cart.updated_at}}}
  - message: {action: opened, campaign: abandoned-cart, within: 7d}
  - trigger_object: {attribute: {field: status, operator: neq, value: active}}
""")
    condition = parse_condition(document)
    assert isinstance(condition, And)
    assert condition.items[0] == Attribute("signup", "after", "2023-01-01")
    related = condition.items[1]
    assert isinstance(related, Related) and related.where == Attribute(
        "created_at", "after", Ref("trigger.cart.updated_at")
    )
    assert condition.items[2] == Message("opened", "abandoned-cart", None, 7 * 86_400_000)
    assert condition.items[3] == TriggerObject(Attribute("status", "neq", "active"))
    assert parse_condition(to_data(condition)) == condition


def test_message_is_an_event_on_message_events() -> None:
    message = Message("clicked", "welcome", "w-1", 3_600_000, (Bound("gte", 2),))
    assert message.to_event() == Event(
        "message_clicked",
        And((Attribute("campaign_id", "eq", "welcome"), Attribute("template", "eq", "w-1"))),
        3_600_000,
        (Bound("gte", 2),),
    )
    assert Message("received").to_event() == Event("message_sent")


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"related": {"via": "baskets"}}, "related.via", "no relationship named 'baskets'"),
        ({"related": {"type": "basket"}}, "related.type", "unknown object type 'basket'"),
        ({"related": {"via": "carts", "type": "order"}}, "related.type", "leads to 'cart'"),
        ({"related": {"type": "cart_item"}}, "related.type", "no relationship between person and cart_item"),
        (
            {"related": {"via": "carts", "where": {"attribute": {"field": "colour", "operator": "exists"}}}},
            "related.where.attribute.field",
            "unknown attribute 'colour' of cart",
        ),
        (
            {"attribute": {"field": "age", "operator": "exists"}},
            "attribute.field",
            "unknown attribute 'age' of person",
        ),
        (
            {
                "related": {
                    "via": "carts",
                    "relationship_where": {"attribute": {"field": "rank", "operator": "exists"}},
                }
            },
            "related.relationship_where.attribute.field",
            "unknown attribute 'rank'",
        ),
        (
            {"related": {"via": "carts", "where": {"related": {"via": "things"}}}},
            "related.where.related.via",
            "cart has no relationship named 'things'",
        ),
        (
            {
                "related": {
                    "type": "order",
                    "aggregate": {"function": "sum", "field": "amount", "operator": "gt", "value": 1},
                }
            },
            "related.aggregate.field",
            "unknown attribute",
        ),
        (
            {
                "or": [
                    {"segment": {"id": "x"}},
                    {"trigger_object": {"attribute": {"field": "colour", "operator": "exists"}}},
                ]
            },
            "or[1].trigger_object.attribute.field",
            "unknown attribute 'colour' of cart",
        ),
    ],
)
def test_validation_against_the_contract(data: Any, path: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate(parse_condition(data), CONTRACT, trigger_type="cart")
    assert caught.value.path == path
    assert message in caught.value.message


def test_valid_conditions_pass_validation() -> None:
    for data in [
        {
            "related": {
                "via": "carts",
                "where": {
                    "related": {
                        "via": "items",
                        "where": {"attribute": {"field": "in_stock", "operator": "eq", "value": True}},
                    }
                },
            }
        },
        {"related": {"type": "1", "where": {"related": {"type": "cart_item"}}}},  # type by numeric id
        {
            "related": {
                "via": "carts",
                "where": {"attribute": {"field": "object_id", "operator": "eq", "value": "c"}},
            }
        },
        {"attribute": {"field": "email", "operator": "ends_with", "value": "@x.com"}},
        {"attribute": {"field": "id", "operator": "exists"}},
        {"trigger_object": {"related": {"via": "shoppers"}}}
        if False
        else {"trigger_object": {"related": {"via": "items"}}},
    ]:
        validate(parse_condition(data), CONTRACT, trigger_type="cart")
    # a contract without declared attributes accepts any attribute
    validate(parse_condition({"attribute": {"field": "anything", "operator": "exists"}}), parse_contract({}))


# --- round trip ------------------------------------------------------------------------------------

scalars = st.one_of(
    st.booleans(),
    st.integers(-1000, 10**12),
    st.text(max_size=6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.builds(lambda p: {"ref": p}, st.sampled_from(["trigger.cart.updated_at", "customer.plan"])),
)


@st.composite
def attributes(draw: st.DrawFn) -> dict[str, Any]:
    operator = draw(
        st.sampled_from(
            [
                "eq",
                "neq",
                "gt",
                "lte",
                "in",
                "not_in",
                "exists",
                "contains",
                "starts_with",
                "within",
                "older_than",
                "before",
                "between",
            ]
        )
    )
    body: dict[str, Any] = {"field": draw(st.sampled_from(["a", "b.c", "total"])), "operator": operator}
    if operator in ("in", "not_in"):
        body["value"] = draw(st.lists(scalars, min_size=1, max_size=3))
    elif operator in ("within", "older_than"):
        body["value"] = draw(st.sampled_from(["1h", "7d", "90m", "2w", "1500ms"]))
    elif operator == "before":
        body["value"] = draw(st.sampled_from([1_700_000_000, "2023-01-01T00:00:00Z", {"ref": "trigger.x.y"}]))
    elif operator == "between":
        body["value"] = draw(st.sampled_from([[1, 2], ["2023-01-01", "2023-02-01"]]))
    elif operator == "starts_with":
        body["value"] = draw(st.text(max_size=4))
    elif operator in ("gt", "lte"):
        body["value"] = draw(st.integers() | st.text(max_size=3))
    elif operator != "exists":
        body["value"] = draw(scalars)
    if draw(st.booleans()):
        body["case"] = "insensitive"
    return {"attribute": body}


def nested(leaf: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"and": xs}),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"or": xs}),
            inner.map(lambda x: {"not": x}),
        ),
        max_leaves=4,
    )


counts = st.dictionaries(st.sampled_from(["eq", "gt", "gte", "lt", "lte"]), st.integers(0, 5), min_size=1)
relateds = st.builds(
    lambda type_, where, count, agg: {"related": {"type": type_, **where, **count, **agg}},
    st.sampled_from(["cart", "1"]),
    st.one_of(st.just({}), nested(attributes()).map(lambda w: {"where": w})),
    st.one_of(st.just({}), counts.map(lambda c: {"count": c})),
    st.one_of(
        st.just({}),
        st.just({"aggregate": {"function": "avg", "field": "t", "operator": "between", "value": [1, 2.5]}}),
    ),
)
events = st.one_of(
    st.builds(
        lambda name, count: {"event": {"name": name, "within": "3d", **count}},
        st.text(min_size=1, max_size=5),
        st.one_of(st.just({}), counts.map(lambda c: {"count": c})),
    ),
    st.just({"event": {"name": "x", "occurrence": "last", "operator": "older_than", "value": "2d"}}),
)
others = st.sampled_from(
    [
        {"segment": {"id": "vip"}},
        {
            "message": {
                "action": "opened",
                "campaign": "c",
                "template": "t",
                "within": "1d",
                "count": {"gte": 2},
            }
        },
        {"trigger_object": {"related": {"via": "items"}}},
    ]
)


@settings(max_examples=150)
@given(nested(attributes() | relateds | events | others))
def test_round_trip(data: dict[str, Any]) -> None:
    condition = parse_condition(data)
    assert parse_condition(to_data(condition)) == condition
