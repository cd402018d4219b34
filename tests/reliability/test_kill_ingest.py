"""A 2xx means committed: SIGKILL the server in the middle of ingestion, restart it, and find every
acknowledged write (SPEC §13). Runs the real ``relata serve`` process on both stores."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import select

from relata.storage.database import Database
from relata.storage.schema import events, people


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(database_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "RELATA_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "relata.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "relata serve exited"
            assert time.monotonic() < deadline, "relata serve did not answer"
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def _batch(writer: int, n: int) -> dict[str, object]:
    person = {"id": f"w{writer}-p{n}"}
    return {
        "batch": [
            {"type": "person", "action": "identify", "identifiers": person, "attributes": {"n": n}},
            {
                "type": "person",
                "action": "event",
                "identifiers": person,
                "name": "ping",
                "id": f"w{writer}-e{n}",
            },
        ]
    }


@pytest.mark.slow
def test_sigkill_during_ingestion_loses_no_acknowledged_write(database_url: str) -> None:
    env = {**os.environ, "RELATA_DATABASE_URL": database_url}
    keys = json.loads(
        subprocess.run(
            [sys.executable, "-m", "relata.cli", "workspace", "create", "kill", "--json"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    port = _free_port()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(index: int) -> None:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", auth=(keys["site_id"], keys["track_api_key"]), timeout=5
        ) as client:
            for n in range(100_000):
                if stop.is_set():
                    return
                try:
                    response = client.post("/api/v2/batch", json=_batch(index, n))
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    with lock:
                        acknowledged.append(f"w{index}-p{n}")

    with serve(database_url, port) as process:
        threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert len(acknowledged) >= 60, "too few writes were acknowledged before the kill"

    with serve(database_url, port):  # restarts cleanly on the same database
        db = Database(database_url)
        with db.read() as conn:
            stored = set(conn.execute(select(people.c.ident)).scalars())
            pinged = set(conn.execute(select(events.c.dedupe_id)).scalars())
        db.dispose()
    missing = [p for p in acknowledged if p not in stored]
    assert missing == []
    assert all(p.replace("-p", "-e") in pinged for p in acknowledged)
