"""Worker tasks of the membership engine (``relata.services.membership``).

- ``segments.changes``: read the change log and keep memberships current (short interval: the freshness
  target is a second from write to membership change);
- ``segments.refresh``: bulk refresh of segments created or changed;
- ``segments.time``: due time re-checks and sweeps of time-relative segments.
"""

from __future__ import annotations

from relata.jobs.worker import Task
from relata.services.container import Services


def segment_tasks(services: Services, *, interval: float = 0.1) -> list[Task]:
    membership = services.segments.membership
    return [
        Task("segments.changes", interval, membership.process_changes),
        Task("segments.refresh", max(interval, 0.5), membership.refresh_stale),
        Task("segments.time", max(interval, 1.0), membership.run_due),
    ]


def run_until_idle(services: Services, rounds: int = 50) -> int:
    """Run every segment task until none finds work (tests, the CLI): returns the work done."""
    membership = services.segments.membership
    total = 0
    for _ in range(rounds):
        done = membership.refresh_stale() + membership.process_changes() + membership.run_due()
        total += done
        if not done:
            break
    return total
