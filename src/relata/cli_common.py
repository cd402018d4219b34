"""What every ``relata`` sub-command shares: the database and workspace options, and failing cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from relata.core.model import Workspace
from relata.services.container import Services
from relata.settings import Settings

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="RELATA_DATABASE_URL",
        help="sqlite:///path or postgresql://… (default sqlite:///relata.db)",
    ),
]
WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", "-w", help="workspace name or id (default: the first one)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print the result as JSON")]


def fail(message: str) -> typer.Exit:
    """Print ``message`` to stderr; raise the returned exit (status 1)."""
    typer.echo(message, err=True)
    return typer.Exit(1)


def open_services(database_url: str | None, migrate: bool = True) -> Services:
    """Relata's services on the database (created and migrated unless ``migrate`` is False)."""
    from relata.bootstrap import build

    return build(Settings.from_env(database_url=database_url), migrate=migrate).services


def find_workspace(found: Services, ref: str | None) -> Workspace:
    """The workspace named or numbered ``ref``, or the first one; exits 1 when there is none."""
    workspaces = found.workspaces.list()
    if ref is None:
        if not workspaces:
            raise fail("no workspace in this database; create one with: relata workspace create NAME")
        return workspaces[0]
    for workspace in workspaces:
        if ref in (workspace.name, str(workspace.id)):
            return workspace
    raise fail(f"no workspace {ref!r}")


def missing_sqlite_file(database_url: str | None) -> Path | None:
    """The SQLite file the URL names when it does not exist yet (commands that only read refuse it)."""
    path = Settings.from_env(database_url=database_url).sqlite_path()
    return path if path is not None and not path.exists() else None
