"""Ingestion through ``/api/v2/batch`` over real HTTP, against raw ``executemany`` of the same rows.

The workload is a storefront's: each shopper is identified, gets a cart related to them and to three
cart items (object → object), the three items are identified, and two events arrive — seven operations.
The baseline inserts the rows those operations produce (people, objects, relationships, events) with
``executemany`` into the same database, in the same run; the ratio is API ops/s over baseline ops/s.
The same operations are also applied in process (``Ingest.apply`` on parsed operations, no HTTP), with
the SQL statements they issue counted: the write path's own cost, apart from HTTP and parsing.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
from sqlalchemy import insert

from benchmarks.harness import Result, fresh_database, relata_server
from relata.storage.database import Database
from relata.storage.schema import (
    events,
    object_links,
    object_types,
    objects,
    people,
    person_links,
    workspaces,
)

OPS_PER_SHOPPER = 7
TARGETS = {"sqlite": 20_000, "postgresql": 10_000}


def shopper_ops(n: int, run: str) -> list[dict[str, Any]]:
    person = {"id": f"{run}-p{n}"}
    cart = {"object_type_id": "1", "object_id": f"{run}-cart{n}"}
    items = [{"object_type_id": "2", "object_id": f"{run}-item{n}-{i}"} for i in range(3)]
    ops: list[dict[str, Any]] = [
        {
            "type": "person",
            "action": "identify",
            "identifiers": person,
            "attributes": {"email": f"{run}-p{n}@example.com", "first_name": "Shopper", "plan": "free"},
        },
        {
            "type": "object",
            "action": "identify",
            "identifiers": cart,
            "attributes": {
                "status": "active",
                "cart_total": 129.5,
                "currency": "USD",
                "checkout_url": f"https://shop.example/c/{n}",
            },
            "cio_relationships": [{"identifiers": person, "relationship_attributes": {"role": "owner"}}]
            + [{"identifiers": item} for item in items],
        },
    ]
    ops += [
        {
            "type": "object",
            "action": "identify",
            "identifiers": item,
            "attributes": {"sku": f"SKU{i}", "product_name": "Mug", "price": 43.17, "quantity": 1},
        }
        for i, item in enumerate(items)
    ]
    ops += [
        {
            "type": "person",
            "action": "event",
            "identifiers": person,
            "name": name,
            "attributes": {"sku": "SKU0", "cart_id": cart["object_id"]},
        }
        for name in ("viewed_product", "added_to_cart")
    ]
    return ops


def batches(shoppers: int, per_batch: int, run: str) -> list[bytes]:
    ops = [op for n in range(shoppers) for op in shopper_ops(n, run)]
    return [orjson.dumps({"batch": ops[i : i + per_batch]}) for i in range(0, len(ops), per_batch)]


def measure_api(url: str, site_id: str, api_key: str, bodies: list[bytes]) -> float:
    """Seconds to post every body, one after another on one keep-alive connection."""
    with httpx.Client(
        base_url=url, auth=(site_id, api_key), timeout=120, headers={"content-type": "application/json"}
    ) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/api/v2/batch", content=body)
            if response.status_code != 200:
                raise RuntimeError(f"batch failed: {response.status_code} {response.text[:300]}")
        return time.perf_counter() - started


def measure_raw(database_url: str, shoppers: int) -> float:
    """Seconds to executemany the rows the same operations produce, in one transaction."""
    db = Database(database_url)
    now = int(time.time() * 1000)
    with db.write() as conn:
        ws = conn.execute(insert(workspaces).values(name="raw", created_at=now)).inserted_primary_key[0]
        cart_type = conn.execute(
            insert(object_types).values(workspace_id=ws, type_id="1", name="cart", created_at=now)
        ).inserted_primary_key[0]
        item_type = conn.execute(
            insert(object_types).values(workspace_id=ws, type_id="2", name="cart_item", created_at=now)
        ).inserted_primary_key[0]
    stamp = {"email": now, "first_name": now, "plan": now}
    started = time.perf_counter()
    with db.write() as conn:
        conn.execute(
            insert(people),
            [
                {
                    "workspace_id": ws,
                    "cio_id": f"raw{n}",
                    "ident": f"raw-p{n}",
                    "email": f"raw{n}@example.com",
                    "email_key": f"raw{n}@example.com",
                    "attributes": {"email": f"raw{n}@example.com", "first_name": "Shopper", "plan": "free"},
                    "stamps": stamp,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(shoppers)
            ],
        )
        object_rows = []
        for n in range(shoppers):
            object_rows.append(
                {
                    "workspace_id": ws,
                    "type_pk": cart_type,
                    "object_id": f"raw-cart{n}",
                    "cio_object_id": f"rawc{n}",
                    "attributes": {
                        "status": "active",
                        "cart_total": 129.5,
                        "currency": "USD",
                        "checkout_url": f"https://shop.example/c/{n}",
                    },
                    "stamps": {},
                    "created_at": now,
                    "updated_at": now,
                }
            )
            object_rows += [
                {
                    "workspace_id": ws,
                    "type_pk": item_type,
                    "object_id": f"raw-item{n}-{i}",
                    "cio_object_id": f"rawi{n}-{i}",
                    "attributes": {"sku": f"SKU{i}", "product_name": "Mug", "price": 43.17, "quantity": 1},
                    "stamps": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(3)
            ]
        conn.execute(insert(objects), object_rows)
        person_pks = dict(
            conn.execute(
                people.select()
                .with_only_columns(people.c.ident, people.c.pk)
                .where(people.c.workspace_id == ws)
            )
            .tuples()
            .all()
        )
        object_pks = dict(
            conn.execute(
                objects.select()
                .with_only_columns(objects.c.object_id, objects.c.pk)
                .where(objects.c.workspace_id == ws)
            )
            .tuples()
            .all()
        )
        conn.execute(
            insert(person_links),
            [
                {
                    "workspace_id": ws,
                    "person_pk": person_pks[f"raw-p{n}"],
                    "object_pk": object_pks[f"raw-cart{n}"],
                    "attributes": {"role": "owner"},
                    "stamps": {"role": now},
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(shoppers)
            ],
        )
        conn.execute(
            insert(object_links),
            [
                {
                    "workspace_id": ws,
                    "parent_pk": object_pks[f"raw-cart{n}"],
                    "child_pk": object_pks[f"raw-item{n}-{i}"],
                    "attributes": {},
                    "stamps": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(shoppers)
                for i in range(3)
            ],
        )
        conn.execute(
            insert(events),
            [
                {
                    "workspace_id": ws,
                    "person_pk": person_pks[f"raw-p{n}"],
                    "name": name,
                    "type": "event",
                    "data": {"sku": "SKU0", "cart_id": f"raw-cart{n}"},
                    "timestamp": now,
                    "received_at": now,
                }
                for n in range(shoppers)
                for name in ("viewed_product", "added_to_cart")
            ],
        )
    elapsed = time.perf_counter() - started
    db.dispose()
    return elapsed


def run(stores: tuple[str, ...] = ("sqlite", "postgresql"), shoppers: int = 3000) -> list[Result]:
    results = []
    for store in stores:
        with fresh_database(store) as url:
            with relata_server(url) as server:
                warmup = batches(100, 500, "warm")
                measure_api(server.url, server.keys["site_id"], server.keys["track_api_key"], warmup)
                bodies = batches(shoppers, 500, "run")
                api_seconds = measure_api(
                    server.url, server.keys["site_id"], server.keys["track_api_key"], bodies
                )
            raw_seconds = measure_raw(url, shoppers)
            micros, statements = measure_in_process(url, shoppers)
        ops = shoppers * OPS_PER_SHOPPER
        api_rate, raw_rate = ops / api_seconds, ops / raw_seconds
        target = TARGETS[store]
        met = api_rate >= target and (store != "sqlite" or api_rate >= 0.25 * raw_rate)
        target_text = f">= {target:,} ops/s" + (", >= 25% of raw" if store == "sqlite" else "")
        results.append(
            Result(
                "ingest /api/v2/batch (mixed)",
                store,
                api_rate,
                "ops/s",
                raw_rate,
                "raw executemany",
                target_text,
                met,
            )
        )
        results.append(
            Result(
                "ingest Ingest.apply in process (no HTTP, parsed ops)",
                store,
                1e6 / micros,
                "ops/s",
                raw_rate,
                "raw executemany",
            )
        )
        results.append(Result("SQL statements per 1,000 ops (in process)", store, statements * 1000, "stmts"))
    return results


def measure_in_process(database_url: str, shoppers: int, per_batch: int = 500) -> tuple[float, float]:
    """``Ingest.apply`` on parsed operations, no HTTP: (µs per operation, SQL statements per operation)."""
    from sqlalchemy import event

    from relata.api.track_v2_wire import parse_batch
    from relata.bootstrap import build
    from relata.settings import Settings

    runtime = build(Settings(database_url=database_url), migrate=False)
    services = runtime.services
    workspace = services.workspaces.create(f"inproc-{time.time_ns()}").workspace.id
    ops = [op for n in range(shoppers) for op in shopper_ops(n, "inproc")]
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(services.db.engine, "before_cursor_execute", count)
    elapsed = 0.0
    for i in range(0, len(ops), per_batch):  # one parsed batch alive at a time, as in the server
        chunk = parse_batch(ops[i : i + per_batch], services.limits).operations
        started = time.perf_counter()
        errors = services.ingest.apply(workspace, chunk)
        elapsed += time.perf_counter() - started
        if errors:
            raise RuntimeError(f"in-process batch failed: {errors[:3]}")
    event.remove(services.db.engine, "before_cursor_execute", count)
    services.db.dispose()
    return elapsed / len(ops) * 1e6, statements / len(ops)
