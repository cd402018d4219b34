"""``relata segment apply FILE`` and ``relata segment list`` (SPEC §6, §12).

``apply`` takes a YAML or JSON file holding one segment, a list of segments or ``{segments: [...]}``;
each is validated against the workspace's data contract (errors name the path in the file) and saved as
a new version when it changed. The worker refreshes the members of changed dynamic segments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from relata.cli_common import DatabaseOption, JsonOption, WorkspaceOption, fail, find_workspace, open_services
from relata.core.errors import ValidationError

segment_app = typer.Typer(help="Segments: apply YAML or JSON files, list them.", no_args_is_help=True)

FileArgument = Annotated[Path, typer.Argument(help="segment file (.yaml, .yml or .json)")]


def load_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {exc}") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise fail(
            f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}"
        ) from None


@segment_app.command("apply")
def apply(
    file: FileArgument,
    database_url: DatabaseOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or update the segments in FILE."""
    document = load_file(file)
    found = open_services(database_url)
    try:
        target = find_workspace(found, workspace)
        try:
            results = found.segments.apply(target.id, document)
        except ValidationError as error:
            raise fail(f"{file}: {error.path}: {error.message}") from None
    finally:
        found.db.dispose()
    if as_json:
        typer.echo(json.dumps(results))
        return
    for result in results:
        verb = "created" if result["created"] else f"version {result['version']}"
        typer.echo(f"{result['id']}: {result['kind']}, {verb}")


@segment_app.command("list")
def list_segments(
    database_url: DatabaseOption = None, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """The workspace's segments with their member counts."""
    found = open_services(database_url)
    try:
        segments = found.segments.all(find_workspace(found, workspace).id)
    finally:
        found.db.dispose()
    if as_json:
        typer.echo(json.dumps(segments))
        return
    if not segments:
        typer.echo("no segments")
    for segment in segments:
        typer.echo(f"{segment['id']}\t{segment['kind']}\t{segment['members']} members\t{segment['name']}")
