"""``relata contract check|apply FILE``: validate a contract, show its diff and impact, apply it (SPEC §12).

``check`` exits 1 when the file is not a valid contract (the error names the path in the document) and
0 otherwise, even when the contract would break stored data: the impact is printed for a person to judge.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from relata.cli_common import (
    DatabaseOption,
    JsonOption,
    WorkspaceOption,
    fail,
    find_workspace,
    missing_sqlite_file,
    open_services,
)
from relata.core.contract import Contract
from relata.core.contract_parse import load_document, parse_contract
from relata.core.errors import ValidationError
from relata.core.model import Workspace
from relata.services.container import Services
from relata.services.contract_admin import ContractAdmin

contract_app = typer.Typer(
    help="The data contract: check and apply YAML or JSON files.", no_args_is_help=True
)

FileArgument = Annotated[Path, typer.Argument(help="contract file (.yaml, .yml or .json)")]


def _load(path: Path) -> tuple[dict[str, Any], Contract]:
    """The document and the contract of a file; exits 1 naming the path of the first error."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    suffix = path.suffix.lower()
    fmt: Literal["json", "yaml"] | None = (
        "json" if suffix == ".json" else "yaml" if suffix in (".yaml", ".yml") else None
    )
    try:
        document = dict(load_document(text, fmt))
        return document, parse_contract(document)
    except ValidationError as error:
        where = "" if error.path in ("", "body") else f"{error.path}: "
        raise fail(f"{path}: invalid contract: {where}{error.message}") from None


def _admin(found: Services) -> ContractAdmin:
    return found.contract_admin


def _describe(contract: Contract) -> str:
    return (
        f"{contract.mode}, {len(contract.object_types)} object types, "
        f"{len(contract.relationships)} relationships"
    )


def _print_report(report: dict[str, Any], workspace: Workspace) -> None:
    changes = report["changes"]
    typer.echo(f"changes against version {report['current_version']} of workspace {workspace.name!r}:")
    marks = {"added": "+", "removed": "-", "changed": "~"}
    for change in changes:
        detail = ""
        if change["change"] == "changed":
            detail = f": {json.dumps(change['from'])} -> {json.dumps(change['to'])}"
        typer.echo(f"  {marks[change['change']]} {change['path']}{detail}")
    if not changes:
        typer.echo("  (none)")
    for action in report["object_types"]:
        if action["action"] == "create":
            typer.echo(f"object type {action['type_id']}: create {action['name']!r}")
        else:
            typer.echo(f"object type {action['type_id']}: rename {action['from']!r} -> {action['name']!r}")
    if not report["impact"]:
        typer.echo("impact on stored data: nothing breaks")
        return
    typer.echo("impact on stored data:")
    for item in report["impact"]:
        typer.echo(f"  ! {item['message']}")
        for sample in item["samples"][:3]:
            typer.echo(f"      e.g. {json.dumps(sample, default=str)}")


@contract_app.command("check")
def check(
    file: FileArgument,
    database_url: DatabaseOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate FILE, then show its diff against the contract in force and its impact on stored data."""
    document, contract = _load(file)
    missing = missing_sqlite_file(database_url)
    if missing is not None:
        if as_json:
            typer.echo(json.dumps({"valid": True, "database": None}))
        else:
            typer.echo(f"{file} is a valid contract ({_describe(contract)})")
            typer.echo(f"no database at {missing}; only the document was checked")
        return
    found = open_services(database_url)
    try:
        target = find_workspace(found, workspace)
        report = _admin(found).dry_run(target.id, document)
    finally:
        found.db.dispose()
    if as_json:
        typer.echo(json.dumps(report, default=str))
        return
    typer.echo(f"{file} is a valid contract ({_describe(contract)})")
    _print_report(report, target)


@contract_app.command("apply")
def apply(
    file: FileArgument,
    database_url: DatabaseOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Apply FILE as the workspace's contract (a new version) and print the version."""
    document, _contract = _load(file)
    found = open_services(database_url)
    try:
        target = find_workspace(found, workspace)
        result = _admin(found).put(target.id, document)
    finally:
        found.db.dispose()
    if as_json:
        typer.echo(json.dumps(result, default=str))
        return
    _print_report(result, target)
    if result["applied"]:
        typer.echo(f"applied contract version {result['version']} to workspace {target.name!r}")
    else:
        typer.echo(f"unchanged: version {result['version']} of workspace {target.name!r} is this contract")
