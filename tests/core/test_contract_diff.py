"""The dry-run diff between contract versions, the rules it measures, and rule conditions."""

from __future__ import annotations

from typing import Any

import pytest

from relata.core.contract import EMPTY
from relata.core.contract_diff import RuleKey, changed_rules, diff, summarize
from relata.core.contract_parse import parse_contract
from relata.core.errors import ValidationError
from relata.core.quality import holds, parse_when


def contract(**changes: Any) -> Any:
    document: dict[str, Any] = {
        "mode": "observe",
        "object_types": {
            "cart": {
                "id": "1",
                "attributes": {
                    "status": {"type": "enum", "values": ["active", "abandoned"]},
                    "total": "number",
                },
            },
            "item": {"id": "2"},
        },
        "relationships": [{"from": "person", "to": "cart", "as": "carts"}, {"from": "cart", "to": "item"}],
    }
    for path, value in changes.items():
        node = document
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return parse_contract(document)


def paths(old: Any, new: Any) -> list[tuple[str, str]]:
    return [(c.path, c.change) for c in diff(old, new)]


def test_no_change() -> None:
    assert diff(contract(), contract()) == []
    assert changed_rules(contract(), contract()) == set()


def test_shorthand_is_not_a_change() -> None:
    same = contract(object_types__cart__attributes__total={"type": "number"})
    assert diff(contract(), same) == []


def test_diff_lists_every_kind_of_change() -> None:
    new = contract(
        mode="enforce",
        object_types__cart__id_pattern="^cart_",
        object_types__cart__attributes__status={"type": "enum", "values": ["active"], "required": True},
        object_types__cart__attributes__total=None,
        object_types__cart__attributes__currency="currency",
        object_types__order={"id": "3"},
        relationships=[{"from": "person", "to": "cart", "as": "carts", "exclusive": True}],
    )
    assert paths(contract(), new) == [
        ("mode", "changed"),
        ("object_types.cart.id_pattern", "added"),
        ("object_types.cart.attributes.status", "changed"),
        ("object_types.cart.attributes.currency", "added"),
        ("object_types.cart.attributes.total", "removed"),
        ("object_types.order", "added"),
        ("relationships.person→cart.exclusive", "changed"),
        ("relationships.cart→item", "removed"),
    ]
    status = next(c for c in diff(contract(), new) if c.path.endswith("status"))
    assert status.to_json()["from"] == {"type": "enum", "values": ["active", "abandoned"]}
    assert status.to_json()["to"] == {"type": "enum", "values": ["active"], "required": True}


def test_changed_rules_are_new_or_tightened() -> None:
    new = contract(
        object_types__cart__id_pattern="^cart_",
        object_types__cart__attributes__status={"type": "enum", "values": ["active"]},
        object_types__order={"id": "3", "attributes": {"n": "integer"}},
        relationships=[{"from": "person", "to": "cart", "as": "carts", "exclusive": True}],
    )
    assert changed_rules(contract(), new) == {
        RuleKey("cart", "id_pattern"),
        RuleKey("cart", "attribute", "status"),
        RuleKey("order", "attribute", "n"),
        RuleKey("person→cart", "exclusive"),
        RuleKey("*", "relationship"),
    }


def test_enforce_makes_every_rule_count() -> None:
    keys = changed_rules(contract(), contract(mode="enforce"))
    assert RuleKey("cart", "attribute", "total") in keys
    assert RuleKey("*", "unknown_type") in keys
    assert RuleKey("*", "relationship") in keys


def test_first_contract_measures_unknown_types() -> None:
    assert RuleKey("*", "unknown_type") in changed_rules(EMPTY, contract())


def test_summary() -> None:
    summary = summarize(contract())
    assert summary["mode"] == "observe"
    assert [t["name"] for t in summary["object_types"]] == ["cart", "item"]
    assert summary["relationships"][0] == {
        "from": "person",
        "to": "cart",
        "as": "carts",
        "inverse": "person",
        "exclusive": False,
        "attributes": {},
    }


def test_rule_summary_keeps_durations_readable() -> None:
    new = parse_contract({"object_types": {"cart": {"freshness": {"attribute": "u", "max_age": "4h"}}}})
    assert summarize(new)["object_types"][0]["freshness"] == {"attribute": "u", "max_age": "4h"}


@pytest.mark.parametrize(
    ("raw", "attributes", "expected"),
    [
        ({"attribute": {"field": "status", "operator": "eq", "value": "active"}}, {"status": "active"}, True),
        ({"attribute": {"field": "status", "operator": "eq", "value": "active"}}, {}, False),
        ({"attribute": {"field": "status", "operator": "neq", "value": "active"}}, {}, True),
        ({"attribute": {"field": "n", "operator": "eq", "value": 1}}, {"n": 1.0}, True),
        ({"attribute": {"field": "n", "operator": "eq", "value": 1}}, {"n": True}, False),
        ({"attribute": {"field": "n", "operator": "eq", "value": 1}}, {"n": "1"}, False),
        ({"attribute": {"field": "s", "operator": "in", "value": ["a", "b"]}}, {"s": "b"}, True),
        ({"attribute": {"field": "s", "operator": "not_in", "value": ["a", "b"]}}, {"s": "c"}, True),
        ({"attribute": {"field": "s", "operator": "exists"}}, {"s": "c"}, True),
        ({"attribute": {"field": "s", "operator": "not_exists"}}, {"s": "c"}, False),
        (
            {
                "and": [
                    {"attribute": {"field": "s", "operator": "eq", "value": "a"}},
                    {"attribute": {"field": "t", "operator": "eq", "value": "b"}},
                ]
            },
            {"s": "a", "t": "c"},
            False,
        ),
        (
            {
                "or": [
                    {"attribute": {"field": "s", "operator": "eq", "value": "a"}},
                    {"attribute": {"field": "t", "operator": "eq", "value": "b"}},
                ]
            },
            {"s": "x", "t": "b"},
            True,
        ),
    ],
)
def test_rule_conditions(raw: dict[str, Any], attributes: dict[str, Any], expected: bool) -> None:
    assert holds(parse_when(raw, "when"), attributes) is expected


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("active", "when"),
        ({"attribute": {"field": "s", "operator": "eq"}}, "when.attribute.value"),
        ({"attribute": {"field": "s", "operator": "in", "value": "a"}}, "when.attribute.value"),
        ({"attribute": {"field": "s", "operator": "exists", "value": 1}}, "when.attribute.value"),
        ({"attribute": {"field": "s", "operator": "eq", "value": {"x": 1}}}, "when.attribute.value"),
        ({"attribute": {"operator": "eq", "value": 1}}, "when.attribute.field"),
        ({"attribute": {"field": "s", "operator": "eq", "value": 1, "case": "x"}}, "when.attribute.case"),
        ({"and": []}, "when.and"),
        (
            {"or": [{"attribute": {"field": "s", "operator": "gt", "value": 1}}]},
            "when.or[0].attribute.operator",
        ),
    ],
)
def test_rule_condition_errors(raw: Any, path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_when(raw, "when")
    assert caught.value.path == path
