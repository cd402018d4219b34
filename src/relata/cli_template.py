"""``relata template apply|lint PATH``: templates and snippets from YAML/JSON files (SPEC §7, §12).

PATH is a file or a folder (every ``.yaml``, ``.yml`` and ``.json`` file in it, snippets first). A file
holds one template (``key``, ``channel``, fields) or one snippet (``snippet``, ``source``).

``apply`` saves every valid file (a new version when it changed) and prints the lint warnings; it exits 1
when a file is invalid, after applying the others. ``lint`` checks the files against the workspace's
contract (or ``--contract FILE``) and exits 1 when any finding is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from liquid.exceptions import LiquidError

from relata.cli_common import DatabaseOption, WorkspaceOption, fail, find_workspace, open_services
from relata.core.contract import EMPTY, Contract
from relata.core.contract_parse import load_document, parse_contract
from relata.core.errors import ValidationError
from relata.core.model import Workspace
from relata.core.templates import DEFAULT_ENGINE, Finding
from relata.core.templates.document import is_snippet_document, snippet_from_document, template_from_document
from relata.core.templates.engine import describe
from relata.services.container import Services
from relata.services.templates import Templates, lint_template
from relata.settings import Settings

template_app = typer.Typer(
    help="Templates and snippets: lint and apply YAML or JSON files.", no_args_is_help=True
)

PathArgument = Annotated[Path, typer.Argument(help="a template/snippet file, or a folder of them")]
ContractOption = Annotated[
    Path | None, typer.Option("--contract", help="lint against this contract file instead of the workspace's")
]
SUFFIXES = (".yaml", ".yml", ".json")


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if path.is_file():
        return [path]
    raise fail(f"{path}: no such file or folder")


def _read(path: Path) -> dict[str, Any]:
    fmt: Literal["json", "yaml"] = "json" if path.suffix.lower() == ".json" else "yaml"
    try:
        return dict(load_document(path.read_bytes(), fmt))
    except OSError as exc:
        raise ValidationError("", f"cannot read: {exc.strerror}") from None
    except ValidationError as error:
        where = "" if error.path == "body" else error.path
        raise ValidationError(where, error.message, error.reason) from None


def _documents(path: Path) -> tuple[list[tuple[Path, dict[str, Any]]], list[str]]:
    """``(file, document)`` pairs, snippets first, and the errors of files that could not be read."""
    documents: list[tuple[Path, dict[str, Any]]] = []
    errors: list[str] = []
    for file in _files(path):
        try:
            documents.append((file, _read(file)))
        except ValidationError as error:
            errors.append(_error(file, error))
    documents.sort(key=lambda pair: (not is_snippet_document(pair[1]), str(pair[0])))
    return documents, errors


def _error(file: Path, error: ValidationError) -> str:
    where = f"{error.path}: " if error.path else ""
    return f"{file}: {where}{error.message}"


def _finding(file: Path, finding: Finding) -> str:
    return (
        f"{file}: {finding.field}:{finding.line}:{finding.column}: "
        f"{finding.severity} {finding.code}: {finding.message}"
    )


@template_app.command("apply")
def apply(path: PathArgument, database_url: DatabaseOption = None, workspace: WorkspaceOption = None) -> None:
    """Save the templates and snippets in PATH to the workspace (a new version for each change)."""
    documents, errors = _documents(path)
    found = open_services(database_url)
    try:
        target = find_workspace(found, workspace)
        service = Templates(found.db, found.clock, found.contracts)
        for file, document in documents:
            try:
                if is_snippet_document(document):
                    snippet, changed = service.save_snippet(target.id, document)
                    state = (
                        f"version {snippet.version}" if changed else f"unchanged (version {snippet.version})"
                    )
                    typer.echo(f"{file}: snippet {snippet.name!r} {state}")
                    continue
                result = service.save(target.id, document)
            except ValidationError as error:
                errors.append(_error(file, error))
                continue
            stored = result.template
            state = f"version {stored.version}" if result.changed else f"unchanged (version {stored.version})"
            typer.echo(f"{file}: {stored.channel} template {stored.key!r} {state}")
            for warning in result.warnings:
                typer.echo("  " + _finding(file, warning))
    finally:
        found.db.dispose()
    for message in errors:
        typer.echo(message, err=True)
    if errors:
        raise typer.Exit(1)


def _contract_file(path: Path) -> Contract:
    try:
        return parse_contract(load_document(path.read_bytes()))
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    except ValidationError as error:
        raise fail(_error(path, error)) from None


@template_app.command("lint")
def lint(
    path: PathArgument,
    database_url: DatabaseOption = None,
    workspace: WorkspaceOption = None,
    contract: ContractOption = None,
) -> None:
    """Lint the templates in PATH against the workspace's contract (or --contract FILE).

    Without a database and without --contract only the Liquid syntax is checked."""
    documents, errors = _documents(path)
    snippets = {str(document["snippet"]) for _file, document in documents if is_snippet_document(document)}
    findings: list[str] = []
    failed = bool(errors)
    service: Templates | None = None
    found: Services | None = None
    target: Workspace | None = None
    given = _contract_file(contract) if contract is not None else None
    sqlite = Settings.from_env(database_url=database_url).sqlite_path()
    if given is None and (sqlite is None or sqlite.exists()):
        found = open_services(database_url)
        target = find_workspace(found, workspace)
        service = Templates(found.db, found.clock, found.contracts)
        snippets |= {snippet.name for snippet in service.snippets(target.id)}
    try:
        for file, document in documents:
            try:
                if is_snippet_document(document):
                    _name, source = snippet_from_document(document)
                    DEFAULT_ENGINE.parse(source)
                    continue
                parsed = template_from_document(document)
            except ValidationError as error:
                errors.append(_error(file, error))
                failed = True
                continue
            except LiquidError as exc:
                errors.append(f"{file}: source: {describe(exc)}")
                failed = True
                continue
            if service is not None and target is not None:
                with service.db.read() as conn:
                    rules = service.contracts.current(conn, target.id)
            else:
                rules = given if given is not None else EMPTY
            for finding in lint_template(parsed.template, rules, DEFAULT_ENGINE, snippets):
                failed = failed or finding.severity == "error"
                findings.append(_finding(file, finding))
    finally:
        if found is not None:
            found.db.dispose()
    for line in findings:
        typer.echo(line)
    for message in errors:
        typer.echo(message, err=True)
    checked = len(documents)
    typer.echo(f"{checked} file{'s' if checked != 1 else ''} checked, {len(findings)} findings")
    if failed:
        raise typer.Exit(1)
