"""Contract parsing (errors name the path), attribute conformance, id patterns and document loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relata.core.contract import AttributeSpec, conforms
from relata.core.contract_parse import load_document, parse_contract
from relata.core.errors import ValidationError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "contract.yaml"


def error_of(document: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_contract(document)
    return caught.value


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ([], ""),
        ({"modes": "enforce"}, "modes"),
        ({"mode": "strict"}, "mode"),
        ({"object_types": []}, "object_types"),
        ({"object_types": {"Cart": {}}}, "object_types.Cart"),
        ({"object_types": {"person": {}}}, "object_types.person"),
        ({"object_types": {"cart": {"idd": "1"}}}, "object_types.cart.idd"),
        ({"object_types": {"cart": {"id": "one"}}}, "object_types.cart.id"),
        ({"object_types": {"cart": {"id": "1"}, "order": {"id": 1}}}, "object_types.order.id"),
        ({"object_types": {"cart": {"id_pattern": "([a-z"}}}, "object_types.cart.id_pattern"),
        (
            {"object_types": {"cart": {"attributes": {"status": {"type": "enumm"}}}}},
            "object_types.cart.attributes.status.type",
        ),
        (
            {"object_types": {"cart": {"attributes": {"status": {"type": "enum"}}}}},
            "object_types.cart.attributes.status.values",
        ),
        (
            {"object_types": {"cart": {"attributes": {"n": {"type": "number", "min": "a"}}}}},
            "object_types.cart.attributes.n.min",
        ),
        (
            {"object_types": {"cart": {"attributes": {"n": {"type": "number", "min": 5, "max": 1}}}}},
            "object_types.cart.attributes.n.min",
        ),
        (
            {"object_types": {"cart": {"attributes": {"n": {"type": "number", "values": [1]}}}}},
            "object_types.cart.attributes.n.values",
        ),
        (
            {"object_types": {"cart": {"attributes": {"s": {"pattern": "("}}}}},
            "object_types.cart.attributes.s.pattern",
        ),
        (
            {"object_types": {"cart": {"attributes": {"s": {"required": "yes"}}}}},
            "object_types.cart.attributes.s.required",
        ),
        (
            {"object_types": {"cart": {"attributes": {"s": {"typ": "string"}}}}},
            "object_types.cart.attributes.s.typ",
        ),
        (
            {"object_types": {"cart": {"freshness": {"max_age": "4h"}}}},
            "object_types.cart.freshness.attribute",
        ),
        (
            {"object_types": {"cart": {"freshness": {"attribute": "u", "max_age": "4 hours"}}}},
            "object_types.cart.freshness.max_age",
        ),
        (
            {"object_types": {"cart": {"freshness": {"attribute": "u", "max_age": "4h", "set": {}}}}},
            "object_types.cart.freshness.set",
        ),
        (
            {"object_types": {"cart": {"expire": {"attribute": "u", "after": "7d"}}}},
            "object_types.cart.expire.set",
        ),
        (
            {
                "object_types": {
                    "cart": {
                        "attributes": {"status": {"type": "enum", "values": ["a"]}},
                        "expire": {"attribute": "u", "after": "7d", "set": {"status": "b"}},
                    }
                }
            },
            "object_types.cart.expire.set.status",
        ),
        (
            {
                "object_types": {
                    "cart": {"attributes": {"u": "string"}, "freshness": {"attribute": "u", "max_age": "1h"}}
                }
            },
            "object_types.cart.freshness.attribute",
        ),
        (
            {
                "object_types": {
                    "cart": {
                        "freshness": {
                            "attribute": "u",
                            "max_age": "1h",
                            "when": {"attribute": {"field": "s", "operator": "gtt", "value": 1}},
                        }
                    }
                }
            },
            "object_types.cart.freshness.when.attribute.operator",
        ),
        (
            {
                "object_types": {
                    "cart": {
                        "freshness": {"attribute": "u", "max_age": "1h", "when": {"and": [{"segment": 1}]}}
                    }
                }
            },
            "object_types.cart.freshness.when.and[0].segment",
        ),
        ({"relationships": {"from": "person"}}, "relationships"),
        ({"relationships": [{"from": "person", "to": "cart"}]}, "relationships[0].to"),
        (
            {"object_types": {"cart": {}}, "relationships": [{"from": "cart", "to": "person"}]},
            "relationships[0].to",
        ),
        (
            {
                "object_types": {"cart": {}, "item": {}},
                "relationships": [{"from": "cart", "to": "item", "exclusive": True}],
            },
            "relationships[0].exclusive",
        ),
        (
            {
                "object_types": {"cart": {}},
                "relationships": [{"from": "person", "to": "cart"}, {"from": "person", "to": "cart"}],
            },
            "relationships[1]",
        ),
        (
            {
                "object_types": {"cart": {}, "order": {}},
                "relationships": [
                    {"from": "person", "to": "cart", "as": "things"},
                    {"from": "person", "to": "order", "as": "things"},
                ],
            },
            "relationships[1].as",
        ),
        (
            {
                "object_types": {"cart": {}, "item": {}},
                "relationships": [
                    {"from": "person", "to": "cart", "inverse": "owner"},
                    {"from": "cart", "to": "item", "as": "owner"},
                ],
            },
            "relationships[1].as",
        ),
        (
            {
                "object_types": {"cart": {}},
                "relationships": [{"from": "person", "to": "cart", "as": "My Carts"}],
            },
            "relationships[0].as",
        ),
        ({"person": {"attributes": {"email": {"type": "mail"}}}}, "person.attributes.email.type"),
        ({"person": {"attrs": {}}}, "person.attrs"),
    ],
)
def test_errors_name_the_path(document: Any, path: str) -> None:
    assert error_of(document).path == path


def test_the_demo_store_contract_parses() -> None:
    contract = parse_contract(load_document(EXAMPLE.read_text()))
    assert contract.enforced
    assert set(contract.object_types) == {
        "cart",
        "cart_item",
        "order",
        "order_item",
        "product",
        "variant",
        "subscription",
        "inventory",
        "fulfillment",
    }
    cart = contract.object_types["cart"]
    assert cart.type_id == "1"
    assert cart.freshness is not None
    assert cart.freshness.max_age == 4 * 3_600_000
    assert cart.expire is not None
    assert cart.expire.set == {"status": "abandoned"}
    carts = contract.relationship("person", "cart")
    assert carts is not None
    assert carts.exclusive
    assert (carts.name, carts.inverse) == ("carts", "shoppers")
    assert contract.relationship_named("cart", "shoppers") == (carts, False)
    assert contract.relationship("person", "product") is not None


def test_types_without_an_id_take_numbers_no_other_type_claims() -> None:
    contract = parse_contract({"object_types": {"cart": None, "order": {"id": "1"}, "product": {}}})
    assert {n: t.type_id for n, t in contract.object_types.items()} == {
        "cart": "2",
        "order": "1",
        "product": "3",
    }
    assert contract.type_spec("2") is contract.object_types["cart"]


SPECS: list[tuple[AttributeSpec, Any, bool]] = [
    (AttributeSpec("string"), "x", True),
    (AttributeSpec("string"), 5, False),
    (AttributeSpec("string", min=2, max=3), "x", False),
    (AttributeSpec("string", min=2, max=3), "xyz", True),
    (AttributeSpec("string", pattern="^[A-Z]+$"), "ABC", True),
    (AttributeSpec("string", pattern="^[A-Z]+$"), "abc", False),
    (AttributeSpec("string", values=("a", "b")), "c", False),
    (AttributeSpec("number"), 1.5, True),
    (AttributeSpec("number"), "1.5", True),
    (AttributeSpec("number"), "lots", False),
    (AttributeSpec("number"), True, False),
    (AttributeSpec("number", min=0), -0.01, False),
    (AttributeSpec("number", max=10), 10, True),
    (AttributeSpec("integer"), 3, True),
    (AttributeSpec("integer"), 3.0, True),
    (AttributeSpec("integer"), 3.5, False),
    (AttributeSpec("integer"), "7", True),
    (AttributeSpec("boolean"), False, True),
    (AttributeSpec("boolean"), "true", True),
    (AttributeSpec("boolean"), 1, False),
    (AttributeSpec("timestamp"), 1767225600, True),
    (AttributeSpec("timestamp"), "2026-01-01T00:00:00Z", True),
    (AttributeSpec("timestamp"), "2026-01-01", True),
    (AttributeSpec("timestamp"), "soon", False),
    (AttributeSpec("url"), "https://shop.example/c?id=1", True),
    (AttributeSpec("url"), "ftp://shop.example", False),
    (AttributeSpec("url"), "shop.example/c", False),
    (AttributeSpec("email"), "ann@example.com", True),
    (AttributeSpec("email"), "ann@example", False),
    (AttributeSpec("enum", values=("active", "abandoned")), "active", True),
    (AttributeSpec("enum", values=("active", "abandoned")), "open", False),
    (AttributeSpec("enum", values=(1, 2, 3)), 2, True),
    (AttributeSpec("enum", values=(1, 2, 3)), "2", False),
    (AttributeSpec("enum", values=(True,)), 1, False),
    (AttributeSpec("currency"), "USD", True),
    (AttributeSpec("currency"), "usd", False),
    (AttributeSpec("currency"), "US", False),
    (AttributeSpec("json"), {"any": ["thing"]}, True),
]


@pytest.mark.parametrize(("spec", "value", "ok"), SPECS, ids=[f"{s.type}-{v!r}" for s, v, _ in SPECS])
def test_conforms(spec: AttributeSpec, value: Any, ok: bool) -> None:
    assert (conforms(spec, value) is None) == ok


def test_check_object_names_fields_and_required() -> None:
    contract = parse_contract(load_document(EXAMPLE.read_text()))
    found = contract.check_object("cart", "cart_0123456789ab", {"status": "open"}, {"status": "open"}, "")
    assert ("attributes.status", "type") in {(v.path, v.kind) for v in found}
    assert ("attributes.checkout_url", "required") in {(v.path, v.kind) for v in found}
    nested = contract.check_object("cart", "c", {}, {}, "batch[2]")
    assert nested[0].path == "batch[2].identifiers.object_id"
    assert nested[0].kind == "id_pattern"
    assert contract.check_object_id("cart", "cart_0123456789ab", "x") == []
    assert contract.check_object_id("cart", "shopify-123", "x")[0].kind == "id_pattern"
    assert contract.check_object("wishlist", "w", {}, {}, "")[0].kind == "unknown_type"


def test_normalize_stores_timestamps_numbers_and_booleans() -> None:
    contract = parse_contract(
        {
            "object_types": {
                "t": {"attributes": {"at": "timestamp", "n": "integer", "x": "number", "b": "boolean"}}
            }
        }
    )
    specs = contract.attribute_specs("t")
    out = contract.normalize(
        specs, {"at": "2026-01-01T00:00:00Z", "n": "3", "x": "2.5", "b": "false", "o": "1"}
    )
    assert out == {"at": 1767225600, "n": 3, "x": 2.5, "b": False, "o": "1"}


def test_load_document_yaml_and_json() -> None:
    assert load_document('{"mode": "enforce"}') == {"mode": "enforce"}
    assert load_document("mode: enforce\n") == {"mode": "enforce"}
    assert load_document("") == {}
    assert load_document(b"object_types:\n  cart:\n    description: since 2024-01-02\n") == {
        "object_types": {"cart": {"description": "since 2024-01-02"}}
    }
    dated = load_document("object_types:\n  cart:\n    description: 2024-01-02\n")
    assert dated["object_types"]["cart"]["description"] == "2024-01-02"
    assert load_document("object_types:\n  cart:\n    id: 1\n", "yaml") == {
        "object_types": {"cart": {"id": 1}}
    }


@pytest.mark.parametrize(
    ("text", "fmt", "path", "fragment"),
    [
        ("mode: [enforce", "yaml", "body", "line 1"),
        ("{bad json", "json", "body", "not valid JSON"),
        ("- a\n- b\n", None, "", "mapping"),
        (
            "object_types:\n  cart:\n    attributes:\n      true: string\n",
            None,
            "object_types.cart.attributes.True",
            "quote",
        ),
        ("object_types:\n  cart:\n    description: .nan\n", None, "object_types.cart.description", "finite"),
        ("a: !!binary aGVsbG8=\n", None, "a", "cannot be stored"),
    ],
)
def test_load_document_errors(text: str, fmt: Any, path: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_document(text, fmt)
    assert caught.value.path == path
    assert fragment in caught.value.message
