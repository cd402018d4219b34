"""What every benchmark shares: result rows, a table, throwaway databases and a Relata server process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from sqlalchemy import text

from relata.storage.database import null_pool_engine
from relata.storage.migrate import upgrade

POSTGRES_ADMIN = os.environ.get("RELATA_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Result:
    """One measured figure beside its baseline from the same run, and the target it is held to."""

    name: str
    store: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline


def print_table(results: list[Result]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Relata benchmarks")
    for column in ("benchmark", "store", "value", "baseline", "ratio", "target", "met"):
        table.add_column(column, justify="right" if column in ("value", "baseline", "ratio") else "left")
    for r in results:
        table.add_row(
            r.name,
            r.store,
            f"{r.value:,.0f} {r.unit}",
            "" if r.baseline is None else f"{r.baseline:,.0f} {r.unit} ({r.baseline_name})",
            "" if r.ratio is None else f"{r.ratio:.0%}",
            r.target,
            {True: "yes", False: "NO", None: ""}[r.met],
        )
    Console(width=200).print(table)


def save(results: list[Result]) -> Path:
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps([asdict(r) | {"ratio": r.ratio} for r in results], indent=2))
    return path


@contextmanager
def fresh_database(store: str) -> Iterator[str]:
    """A new, migrated database URL on ``store`` (sqlite or postgresql), removed afterwards."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            engine = null_pool_engine(url)
            upgrade(engine)
            engine.dispose()
            yield url
        return
    name = f"relata_bench_{uuid.uuid4().hex[:10]}"
    admin = null_pool_engine(POSTGRES_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name
    engine = null_pool_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    url: str
    keys: dict[str, str]


@contextmanager
def relata_server(database_url: str) -> Iterator[Server]:
    """``relata serve`` in its own process on a free loopback port, with a fresh workspace."""
    env = {**os.environ, "RELATA_DATABASE_URL": database_url}
    created = subprocess.run(
        [sys.executable, "-m", "relata.cli", "workspace", "create", "bench", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    keys = json.loads(created.stdout)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "relata.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"relata serve did not start: {process.stderr.read() if process.stderr else ''}"
                )
            time.sleep(0.1)
        yield Server(url, keys)
    finally:
        process.terminate()
        process.wait(timeout=30)
