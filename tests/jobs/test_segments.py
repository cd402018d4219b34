"""The segment tasks in a worker, and two workers racing over the same change log."""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from tests.services.test_segments_support import apply, identify, members, save

from relata.bootstrap import Runtime
from relata.jobs.segments import segment_tasks
from relata.jobs.worker import Worker
from relata.services.membership import Membership
from relata.storage.schema_segments import segment_history
from relata.storage.workspaces import Credentials

VIP = {"attribute": {"field": "vip", "operator": "eq", "value": True}}


def test_the_tasks_run_in_a_worker(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    save(runtime, ws, "vip", VIP)
    apply(runtime, ws, identify("ann", vip=True))
    worker = Worker(segment_tasks(runtime.services))
    for _ in range(5):
        worker.run_once()
        for task in worker.tasks:
            task.next_at = 0
    assert members(runtime, ws, "vip") == {"ann"}
    assert [task.name for task in worker.tasks] == ["segments.changes", "segments.refresh", "segments.time"]


def test_two_workers_racing_record_each_entry_once(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    services = runtime.services
    save(runtime, ws, "vip", VIP)
    engines = [Membership(services.db, services.clock, services.contracts) for _ in range(2)]
    for engine in engines:
        engine.refresh_stale()
    stop = threading.Event()
    errors: list[BaseException] = []

    def work(engine: Membership) -> None:
        try:
            while not stop.is_set():
                engine.process_changes()
                engine.refresh_stale()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    try:
        for batch in range(10):
            apply(runtime, ws, *(identify(f"p{batch}-{i}", vip=True) for i in range(10)))
    finally:
        for engine in engines:
            engine.process_changes()
        stop.set()
        for thread in threads:
            thread.join(30)
    assert errors == []
    for engine in engines:
        engine.process_changes()
    assert len(members(runtime, ws, "vip")) == 100
    with services.db.read() as conn:
        entries = conn.execute(
            select(segment_history.c.person_pk, func.count()).group_by(segment_history.c.person_pk)
        ).all()
    assert len(entries) == 100
    assert {count for _, count in entries} == {1}
