"""Shared fixtures: a fresh, migrated database on SQLite and on PostgreSQL for every test that asks.

``database`` is parametrised over both stores. PostgreSQL tests create their own database on the server
at ``RELATA_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``) and drop it after.
Set ``RELATA_TEST_STORES=sqlite`` to run only SQLite.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from relata.storage.database import Database, null_pool_engine
from relata.storage.migrate import upgrade

POSTGRES_ADMIN = os.environ.get("RELATA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
STORES = [
    s.strip() for s in os.environ.get("RELATA_TEST_STORES", "sqlite,postgresql").split(",") if s.strip()
]


def _server_url(name: str) -> str:
    base, _, _db = POSTGRES_ADMIN.rpartition("/")
    return f"{base}/{name}"


def create_postgres_database() -> str:
    """A new empty PostgreSQL database; returns its URL."""
    name = f"relata_test_{uuid.uuid4().hex[:12]}"
    admin = null_pool_engine(POSTGRES_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return _server_url(name)


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = null_pool_engine(POSTGRES_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, migrated database of the store named by the test's parameter."""
    store = getattr(request, "param", "sqlite")
    if store == "sqlite":
        url = f"sqlite:///{tmp_path / 'relata.db'}"
        engine = null_pool_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    url = create_postgres_database()
    engine = null_pool_engine(url)
    upgrade(engine)
    engine.dispose()
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
