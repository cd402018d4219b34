"""The worker loop runs due tasks, repeats busy ones at once, and backs off after failures."""

from __future__ import annotations

import time

from relata.jobs.worker import Task, Worker


def test_due_tasks_run_and_busy_tasks_repeat() -> None:
    calls: list[str] = []
    work = [3, 0]

    def busy() -> int:
        calls.append("busy")
        return work.pop(0) if work else 0

    worker = Worker([Task("busy", 60, busy), Task("idle", 60, lambda: calls.append("idle") or 0)])
    assert worker.run_once() == 3
    assert worker.run_once() == 0  # the busy task ran again at once; the idle one waits its interval
    assert calls == ["busy", "idle", "busy"]


def test_a_failing_task_backs_off_and_others_still_run() -> None:
    ran: list[str] = []

    def broken() -> int:
        raise RuntimeError("boom")

    worker = Worker([Task("broken", 0.01, broken), Task("fine", 0.01, lambda: ran.append("fine") or 1)])
    worker.run_once()
    assert worker.tasks[0].failures == 1
    assert worker.tasks[0].next_at > time.monotonic()
    assert ran == ["fine"]


def test_start_and_stop_a_background_worker() -> None:
    counter = {"n": 0}

    def tick() -> int:
        counter["n"] += 1
        return 0

    worker = Worker([Task("tick", 0.01, tick)])
    thread = worker.start()
    deadline = time.monotonic() + 5
    while counter["n"] < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert not thread.is_alive()
    assert counter["n"] >= 3
