"""The periodic tasks every worker runs."""

from __future__ import annotations

from relata.jobs.segments import segment_tasks
from relata.jobs.worker import Task
from relata.services.container import Services


def expire_objects(services: Services) -> int:
    """Apply every workspace's contract ``expire`` rules (an idle active cart becomes abandoned)."""
    return sum(services.contract_admin.expire_due(w.id) for w in services.workspaces.list())


def all_tasks(services: Services) -> list[Task]:
    return [Task("expire_objects", 60.0, lambda: expire_objects(services)), *segment_tasks(services)]
