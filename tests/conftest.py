"""Shared fixtures: a fresh, migrated database on SQLite and on PostgreSQL for every test that asks.

``database`` is parametrised over both stores. PostgreSQL tests create their own database on the server
at ``RELATA_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``) and drop it after.
Set ``RELATA_TEST_STORES=sqlite`` to run only SQLite.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import text

from relata.bootstrap import Runtime, build
from relata.core.clock import FakeClock
from relata.settings import Settings
from relata.storage.database import Database, null_pool_engine
from relata.storage.migrate import upgrade
from relata.storage.workspaces import Credentials

POSTGRES_ADMIN = os.environ.get("RELATA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
STORES = [
    s.strip() for s in os.environ.get("RELATA_TEST_STORES", "sqlite,postgresql").split(",") if s.strip()
]


def _server_url(name: str) -> str:
    base, _, _db = POSTGRES_ADMIN.rpartition("/")
    return f"{base}/{name}"


def _admin() -> Any:
    return null_pool_engine(POSTGRES_ADMIN).execution_options(isolation_level="AUTOCOMMIT")


def create_postgres_database(template: str | None = None) -> str:
    """A new PostgreSQL database (a copy of ``template`` when given, else empty); returns its URL."""
    name = f"relata_test_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    admin.dispose()
    return _server_url(name)


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _migrate(url: str) -> None:
    engine = null_pool_engine(url)
    upgrade(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One migrated database per store and test process, copied for each test (migrating is slow)."""
    made: dict[str, str] = {}
    yield made
    if "postgresql" in made:
        drop_postgres_database(_server_url(made["postgresql"]))


def _template(store: str, made: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    if store not in made:
        if store == "sqlite":
            path = tmp_path_factory.mktemp("template") / "relata.db"
            _migrate(f"sqlite:///{path}")
            made[store] = str(path)
        else:
            url = create_postgres_database()
            _migrate(url)
            made[store] = url.rsplit("/", 1)[1]
    return made[store]


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_templates: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The URL of a fresh, migrated database of the store named by the test's parameter."""
    store = getattr(request, "param", "sqlite")
    template = _template(store, migrated_templates, tmp_path_factory)
    if store == "sqlite":
        shutil.copyfile(template, tmp_path / "relata.db")
        yield f"sqlite:///{tmp_path / 'relata.db'}"
        return
    url = create_postgres_database(template)
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses the database runs once per store."""
    if "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", STORES, indirect=True, ids=STORES)


# --- a running Relata ---------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(database_url: str, clock: FakeClock) -> Iterator[Runtime]:
    """Relata wired to a fresh database and a fake clock."""
    rt = build(Settings(database_url=database_url), clock=clock, migrate=False)
    yield rt
    rt.services.db.dispose()


@pytest.fixture
def workspace(runtime: Runtime) -> Credentials:
    return runtime.services.workspaces.create("test")


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """An in-process HTTP client of the application."""
    with TestClient(runtime.app) as test_client:
        yield test_client


@pytest.fixture
def track_auth(workspace: Credentials) -> tuple[str, str]:
    return (workspace.site_id, workspace.track_api_key)


@pytest.fixture
def app_headers(workspace: Credentials) -> dict[str, str]:
    return {"Authorization": f"Bearer {workspace.app_api_key}"}


class LiveServer:
    """Relata served by uvicorn on a free loopback port, in a thread of the test process."""

    def __init__(self, app: Any, certfile: str | None = None, keyfile: str | None = None) -> None:
        self.port = _free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.scheme = "https" if certfile else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A throwaway CA and a certificate for 127.0.0.1/localhost (files: ca, cert, key)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(paths["cert"]), append=True)
    cert.private_key_pem.write_to_path(str(paths["key"]))
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[LiveServer]:
    """Plain HTTP on loopback."""
    with LiveServer(runtime.app) as server:
        yield server


@pytest.fixture
def live_tls_server(runtime: Runtime, tls_ca: dict[str, str]) -> Iterator[LiveServer]:
    """HTTPS on loopback with a certificate from ``tls_ca``."""
    with LiveServer(runtime.app, tls_ca["cert"], tls_ca["key"]) as server:
        yield server
