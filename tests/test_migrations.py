"""The migrations build exactly the schema the code declares, on both stores."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from relata.storage.database import Database
from relata.storage.migrate import current_revision
from relata.storage.tables import metadata


def test_migrations_match_schema(database: Database) -> None:
    assert current_revision(database.engine) is not None
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
