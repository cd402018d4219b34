"""``relata contract check|apply`` against a SQLite file, through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from relata.bootstrap import build
from relata.cli_contract import contract_app
from relata.core.identity import ObjectRef
from relata.core.operations import IdentifyObject
from relata.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "contract.yaml"
runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    # Mounted as ``relata contract`` in relata.cli; tested here on its own.
    return contract_app


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'relata.db'}"
    runtime = build(Settings(database_url=url))
    workspace = runtime.services.workspaces.create("shop")
    runtime.services.workspaces.create("other")
    ops = [IdentifyObject(ObjectRef("1", "shopify-1"), {"status": "active"})]
    assert runtime.services.ingest.apply(workspace.workspace.id, ops) == []
    runtime.services.db.dispose()
    return url


def test_check_prints_diff_and_impact(app: typer.Typer, database: str) -> None:
    result = runner.invoke(app, ["check", str(EXAMPLE), "--database-url", database])
    assert result.exit_code == 0, result.output
    assert "is a valid contract (enforce, 9 object types, 10 relationships)" in result.output
    assert "~ mode" in result.output
    assert "+ object_types.cart" in result.output
    assert "object type 1: rename 'type_1' -> 'cart'" in result.output
    assert "shopify-1" in result.output
    # Nothing was applied.
    again = runner.invoke(app, ["check", str(EXAMPLE), "--database-url", database, "--json"])
    assert json.loads(again.output)["current_version"] == 0


def test_check_an_invalid_file_exits_1_naming_the_path(
    app: typer.Typer, database: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("object_types:\n  cart:\n    attributes:\n      status: {type: enumm}\n")
    result = runner.invoke(app, ["check", str(bad), "--database-url", database])
    assert result.exit_code == 1
    assert "object_types.cart.attributes.status.type" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert runner.invoke(app, ["check", str(broken), "--database-url", database]).exit_code == 1
    missing = runner.invoke(app, ["check", str(tmp_path / "nope.yaml"), "--database-url", database])
    assert missing.exit_code == 1
    assert "cannot read" in missing.output


def test_check_without_a_database_checks_the_document(app: typer.Typer, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    result = runner.invoke(app, ["check", str(EXAMPLE), "--database-url", url])
    assert result.exit_code == 0
    assert "only the document was checked" in result.output
    assert not (tmp_path / "absent.db").exists()


def test_apply_json_file_to_a_named_workspace(app: typer.Typer, database: str, tmp_path: Path) -> None:
    document = tmp_path / "contract.json"
    document.write_text(json.dumps({"object_types": {"cart": {"id": "1"}}}))
    result = runner.invoke(app, ["apply", str(document), "--database-url", database, "--workspace", "other"])
    assert result.exit_code == 0, result.output
    assert "applied contract version 1 to workspace 'other'" in result.output
    again = runner.invoke(app, ["apply", str(document), "--database-url", database, "-w", "other"])
    assert "unchanged: version 1" in again.output
    first = runner.invoke(app, ["apply", str(EXAMPLE), "--database-url", database])
    assert "applied contract version 1 to workspace 'shop'" in first.output
    unknown = runner.invoke(app, ["apply", str(EXAMPLE), "--database-url", database, "-w", "nope"])
    assert unknown.exit_code == 1


def test_database_url_from_the_environment(app: typer.Typer, database: str) -> None:
    result = runner.invoke(app, ["apply", str(EXAMPLE), "--json"], env={"RELATA_DATABASE_URL": database})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["version"] == 1
