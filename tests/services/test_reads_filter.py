"""The object filter parser: the tree it builds and the paths its errors name (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from relata.core.errors import ValidationError
from relata.core.model import ObjectType
from relata.services.object_filter import MAX_DEPTH, parse_object_filter
from relata.storage.graph_reads import AllOf, AnyOf, AttributeTest, Not

CART = ObjectType(1, "1", "cart")


def attr(field: str, operator: str = "eq", **more: Any) -> dict[str, Any]:
    return {"object_attribute": {"field": field, "operator": operator, **more}}


def test_builds_the_tree() -> None:
    parsed = parse_object_filter(
        {
            "and": [
                attr("name", "exists", type_id="1"),
                {"not": attr("name", value="acme")},
                {"or": [attr("n", value=1), attr("ok", value=True, type_id=1)]},
            ]
        },
        CART,
        "filter",
    )
    assert parsed == AllOf(
        (
            AttributeTest("name"),
            Not(AttributeTest("name", "acme")),
            AnyOf((AttributeTest("n", 1), AttributeTest("ok", True))),
        )
    )
    assert parse_object_filter(None, CART, "filter") is None
    assert parse_object_filter({}, CART, "filter") is None
    assert parse_object_filter(attr("x", "exists", type_id="cart"), CART, "filter") == AttributeTest("x")


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = attr("x", "exists")
    for _ in range(depth):
        node = {"not": node}
    return node


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("x", "filter"),
        ({"and": [], "or": []}, "filter"),
        ({"and": {}}, "filter.and"),
        ({"or": [attr("a", value="b"), 3]}, "filter.or[1]"),
        ({"not": {"and": [attr("a", "exists", extra=1)]}}, "filter.not.and[0].object_attribute.extra"),
        (attr("", "exists"), "filter.object_attribute.field"),
        (attr("x" * 151, "exists"), "filter.object_attribute.field"),
        (attr("a\\b", "exists"), "filter.object_attribute.field"),
        (attr("a", "eq", value=[1]), "filter.object_attribute.value"),
        (attr("a", "exists", type_id="2"), "filter.object_attribute.type_id"),
        ({"object_attribute": "a"}, "filter.object_attribute"),
        ({"segment": {"id": 1}}, "filter.segment"),
        (nested(MAX_DEPTH + 1), "filter" + ".not" * (MAX_DEPTH + 1)),
    ],
)
def test_errors_name_the_path(value: Any, path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_object_filter(value, CART, "filter")
    assert caught.value.path == path
