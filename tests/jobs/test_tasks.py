"""The worker's tasks do their work against a real database."""

from __future__ import annotations

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.core.contract_parse import load_document
from relata.core.identity import ObjectRef
from relata.core.operations import IdentifyObject
from relata.jobs.tasks import all_tasks, expire_objects
from relata.jobs.worker import Worker
from relata.storage import objects
from relata.storage.workspaces import Credentials

CONTRACT = """
object_types:
  cart:
    id: "1"
    expire:
      attribute: updated_at
      after: 7d
      when: {attribute: {field: status, operator: eq, value: active}}
      set: {status: abandoned}
    attributes:
      status: {type: enum, values: [active, converted, abandoned]}
      updated_at: {type: timestamp}
"""


def test_expire_task_closes_idle_carts(runtime: Runtime, workspace: Credentials, clock: FakeClock) -> None:
    services = runtime.services
    ws = workspace.workspace.id
    services.contract_admin.put(ws, load_document(CONTRACT))
    now_s = clock.now() // 1000
    assert (
        services.ingest.apply(
            ws,
            [
                IdentifyObject(
                    ObjectRef("cart", "idle"), {"status": "active", "updated_at": now_s - 8 * 86_400}
                ),
                IdentifyObject(ObjectRef("cart", "fresh"), {"status": "active", "updated_at": now_s - 3600}),
            ],
        )
        == []
    )
    assert expire_objects(services) == 1
    assert Worker(all_tasks(services)).run_once() == 0  # nothing left to expire
    with services.db.read() as conn:
        cart = objects.find_type(conn, ws, "cart")
        assert cart is not None
        statuses = {o: objects.find(conn, cart, o).attributes["status"] for o in ("idle", "fresh")}  # type: ignore[union-attr]
    assert statuses == {"idle": "abandoned", "fresh": "active"}
