"""The worker loop: periodic tasks, each run on its interval, their failures logged and retried.

Tasks are idempotent and keep their progress in the database, so any number of workers may run them
(``relata serve`` runs one in a thread; ``relata worker`` runs one in the foreground).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("relata.worker")


@dataclass
class Task:
    """``run`` does one round of work and returns how many things it did (0 when idle)."""

    name: str
    interval: float
    run: Callable[[], int]
    next_at: float = 0.0
    failures: int = field(default=0)


class Worker:
    def __init__(self, tasks: list[Task], *, max_backoff: float = 60.0) -> None:
        self.tasks = tasks
        self.max_backoff = max_backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Run every task that is due; returns the work done."""
        done = 0
        now = time.monotonic()
        for task in self.tasks:
            if now < task.next_at:
                continue
            try:
                count = task.run()
            except Exception:
                task.failures += 1
                delay = min(self.max_backoff, task.interval * 2**task.failures)
                log.exception(
                    "task %s failed (%d in a row); retrying in %.1fs", task.name, task.failures, delay
                )
                task.next_at = time.monotonic() + delay
                continue
            task.failures = 0
            done += count
            # A task that found work runs again at once; an idle one waits its interval.
            task.next_at = time.monotonic() + (0 if count else task.interval)
        return done

    def run_forever(self) -> None:
        while not self._stop.is_set():
            if self.run_once() == 0:
                due = min((t.next_at for t in self.tasks), default=time.monotonic() + 1)
                self._stop.wait(max(0.01, due - time.monotonic()))

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run_forever, name="relata-worker", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
