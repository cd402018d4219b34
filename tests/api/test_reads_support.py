"""Shared pieces of the App API read tests: a small shop written through the ingest service."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from relata.bootstrap import Runtime
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import IdentifyObject, IdentifyPerson, Link, Operation
from relata.storage import contracts
from relata.storage.workspaces import Credentials

SHOP_CONTRACT: dict[str, Any] = {
    "object_types": {
        "cart": {"id": "1"},
        "cart_item": {"id": "2"},
        "product": {"id": "3"},
        "variant": {"id": "4"},
    },
    "relationships": [
        {"from": "person", "to": "cart", "as": "carts", "inverse": "shoppers"},
        {"from": "cart", "to": "cart_item", "as": "items", "inverse": "cart"},
        {"from": "cart_item", "to": "product", "as": "product", "inverse": "cart_items"},
    ],
}


def apply(runtime: Runtime, workspace: Credentials, operations: Sequence[Operation]) -> None:
    errors = runtime.services.ingest.apply(workspace.workspace.id, operations)
    assert errors == [], errors


def set_contract(runtime: Runtime, workspace: Credentials, document: dict[str, Any]) -> None:
    with runtime.services.db.write() as conn:
        contracts.add_version(conn, workspace.workspace.id, document, runtime.services.clock.now())


def shop(runtime: Runtime, workspace: Credentials, carts: int = 1, items: int = 2) -> None:
    """Ann (id u1) with ``carts`` carts of ``items`` items, each item → one product → one variant."""
    ops: list[Operation] = [
        IdentifyPerson(PersonRef("id", "u1"), {"email": "ann@example.com", "first_name": "Ann"}),
    ]
    for c in range(carts):
        cart = f"cart_{c}"
        ops.append(
            IdentifyObject(
                ObjectRef("cart", cart),
                {"status": "active", "cart_total": 10 * (c + 1)},
                links=(Link(PersonRef("id", "u1"), {"role": "owner"}),),
            )
        )
        for i in range(items):
            item = f"{cart}_item_{i}"
            product = f"sku_{c}_{i}"
            ops.append(
                IdentifyObject(
                    ObjectRef("product", product),
                    {"name": f"Product {c}.{i}"},
                    links=(Link(ObjectRef("variant", f"{product}_v"), {}),),
                )
            )
            ops.append(
                IdentifyObject(
                    ObjectRef("cart_item", item),
                    {"sku": product, "quantity": i + 1},
                    links=(Link(ObjectRef("product", product), {"source": "catalog"}),),
                )
            )
            ops.append(
                IdentifyObject(
                    ObjectRef("cart", cart), {}, links=(Link(ObjectRef("cart_item", item), {"position": i}),)
                )
            )
    apply(runtime, workspace, ops)


@contextmanager
def count_statements(runtime: Runtime) -> Iterator[list[str]]:
    """Every SQL statement run on the engine inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = runtime.services.db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def walk(client: TestClient, url: str, headers: dict[str, str], key: str, limit: int) -> list[Any]:
    """Every item of a paginated list, following ``next`` until it is null."""
    found: list[Any] = []
    cursor: str | None = None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = client.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body[key]) <= limit
        found.extend(body[key])
        cursor = body["next"]
        if cursor is None:
            return found
    raise AssertionError("pagination did not end")
