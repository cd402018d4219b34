"""The ``relata`` command: serve, migrate, workspace (and contract, mounted from its own module)."""

from __future__ import annotations

import gc
import json
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from relata.cli_common import DatabaseOption, open_services
from relata.cli_contract import contract_app
from relata.cli_segment import segment_app
from relata.cli_template import template_app
from relata.core.errors import NotFound, ValidationError
from relata.jobs.worker import Worker
from relata.services.container import Services
from relata.settings import Settings
from relata.storage.workspaces import Credentials

app = typer.Typer(help="Relata: lifecycle messaging on objects and relationships.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces and their API keys.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
app.add_typer(contract_app, name="contract")
app.add_typer(template_app, name="template")
app.add_typer(segment_app, name="segment")
console = Console()


def _settings(database_url: str | None, **overrides: Any) -> Settings:
    return Settings.from_env(database_url=database_url, **overrides)


def credentials_json(creds: Credentials) -> dict[str, str]:
    return {
        "workspace": creds.workspace.name,
        "site_id": creds.site_id,
        "track_api_key": creds.track_api_key,
        "pipelines_write_key": creds.pipelines_write_key,
        "app_api_key": creds.app_api_key,
    }


def _print_credentials(creds: Credentials, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(credentials_json(creds)))
        return
    table = Table(title=f"Workspace {creds.workspace.name!r}", show_header=False)
    table.add_row("Track site id", creds.site_id)
    table.add_row("Track API key", creds.track_api_key)
    table.add_row("Pipelines write key", creds.pipelines_write_key)
    table.add_row("App API key", creds.app_api_key)
    console.print(table)


@app.command()
def serve(
    database_url: DatabaseOption = None,
    host: Annotated[str | None, typer.Option(envvar="RELATA_HOST")] = None,
    port: Annotated[int | None, typer.Option(envvar="RELATA_PORT")] = None,
    ssl_certfile: Annotated[str | None, typer.Option("--ssl-certfile", envvar="RELATA_SSL_CERTFILE")] = None,
    ssl_keyfile: Annotated[str | None, typer.Option("--ssl-keyfile", envvar="RELATA_SSL_KEYFILE")] = None,
    workers: Annotated[int, typer.Option(help="API processes (use with PostgreSQL)")] = 1,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve the APIs only; run `relata worker` elsewhere")
    ] = False,
) -> None:
    """Run Relata; creates and migrates the database, and on first start a workspace with its keys."""
    settings = _settings(
        database_url, host=host, port=port, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile
    )
    from relata.bootstrap import build

    runtime = build(settings)
    _tune_gc()
    created = runtime.services.workspaces.ensure_default(settings.workspace_name)
    if not no_worker:
        _worker(runtime.services).start()
    if created is not None:
        console.print("[bold]First start:[/bold] created a workspace. Keep these keys:")
        _print_credentials(created, as_json=False)
    console.print(
        f"Relata is serving at [bold]{settings.base_url}[/bold] "
        f"(database: {settings.masked()['database_url']})"
    )
    if workers > 1:
        runtime.services.db.dispose()
        uvicorn.run(
            "relata.bootstrap:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            ssl_certfile=settings.ssl_certfile,
            ssl_keyfile=settings.ssl_keyfile,
            log_level="warning",
        )
        return
    uvicorn.run(
        runtime.app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=settings.ssl_certfile,
        ssl_keyfile=settings.ssl_keyfile,
        log_level="warning",
    )


def _tune_gc() -> None:
    """Keep start-up objects out of full collections: they cost a long-running server most."""
    gc.collect()
    gc.freeze()


def _worker(services: Services) -> Worker:
    from relata.jobs.tasks import all_tasks

    return Worker(all_tasks(services))


@app.command()
def worker(database_url: DatabaseOption = None) -> None:
    """Run the background tasks (contract expiry, segment membership) in the foreground."""
    services = open_services(database_url)
    _tune_gc()
    console.print(f"Relata worker running (database: {_settings(database_url).masked()['database_url']})")
    try:
        _worker(services).run_forever()
    except KeyboardInterrupt:
        pass


@app.command()
def migrate(database_url: DatabaseOption = None) -> None:
    """Create the database or bring it to the newest schema."""
    from relata.storage.database import null_pool_engine
    from relata.storage.migrate import current_revision, upgrade

    settings = _settings(database_url)
    engine = null_pool_engine(settings.database_url)
    upgrade(engine)
    console.print(f"Database at revision {current_revision(engine)}")
    engine.dispose()


@workspace_app.command("create")
def workspace_create(
    name: str,
    database_url: DatabaseOption = None,
    timezone: Annotated[str, typer.Option(help="Default timezone (IANA)")] = "UTC",
    as_json: Annotated[bool, typer.Option("--json", help="Print the keys as JSON")] = False,
) -> None:
    """Create a workspace and print its keys."""
    try:
        creds = open_services(database_url).workspaces.create(name, timezone)
    except ValidationError as exc:
        console.print(f"[red]{exc.path}: {exc.message}[/red]")
        raise typer.Exit(1) from None
    _print_credentials(creds, as_json)


@workspace_app.command("list")
def workspace_list(
    database_url: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List workspaces."""
    found = open_services(database_url).workspaces.list()
    if as_json:
        typer.echo(json.dumps([{"id": w.id, "name": w.name, "timezone": w.timezone} for w in found]))
        return
    table = Table("id", "name", "timezone")
    for w in found:
        table.add_row(str(w.id), w.name, w.timezone)
    console.print(table)


@workspace_app.command("keys")
def workspace_keys(
    name: Annotated[str, typer.Argument(help="Workspace name or id")] = "default",
    database_url: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a workspace's keys."""
    try:
        creds = open_services(database_url).workspaces.credentials(name)
    except NotFound as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    _print_credentials(creds, as_json)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
