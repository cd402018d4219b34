"""``relata segment apply|list`` against a SQLite file, through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relata.bootstrap import build
from relata.cli_segment import segment_app
from relata.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "segments"
runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'relata.db'}"
    runtime = build(Settings(database_url=url))
    runtime.services.workspaces.create("shop")
    runtime.services.workspaces.create("other")
    runtime.services.db.dispose()
    return url


def test_apply_and_list(database: str, tmp_path: Path) -> None:
    result = runner.invoke(segment_app, ["apply", str(EXAMPLES / "vip.yaml"), "--database-url", database])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "vip: dynamic, created"
    many = tmp_path / "many.json"
    many.write_text(
        json.dumps(
            {
                "segments": [
                    {
                        "id": "vip",
                        "name": "Very important",
                        "condition": {"attribute": {"field": "vip", "operator": "exists"}},
                    },
                    {"id": "beta", "kind": "manual"},
                ]
            }
        )
    )
    result = runner.invoke(segment_app, ["apply", str(many), "--database-url", database, "--json"])
    assert result.exit_code == 0, result.output
    assert [(s["id"], s["version"], s["created"]) for s in json.loads(result.output)] == [
        ("vip", 2, False),
        ("beta", 1, True),
    ]
    listed = runner.invoke(segment_app, ["list", "--database-url", database])
    assert listed.exit_code == 0
    assert listed.output.splitlines() == [
        "beta\tmanual\t0 members\tbeta",
        "vip\tdynamic\t0 members\tVery important",
    ]
    other = runner.invoke(segment_app, ["list", "--database-url", database, "--workspace", "other"])
    assert other.output.strip() == "no segments"


def test_errors_name_the_path_in_the_file(database: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "- id: ok\n  kind: manual\n- id: broken\n  condition: {attribute: {field: x, operator: gtt}}\n"
    )
    result = runner.invoke(segment_app, ["apply", str(bad), "--database-url", database])
    assert result.exit_code == 1
    assert "segments[1].condition.attribute.operator" in result.output
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{")
    assert runner.invoke(segment_app, ["apply", str(garbage), "--database-url", database]).exit_code == 1
    missing = runner.invoke(segment_app, ["apply", str(tmp_path / "none.yaml"), "--database-url", database])
    assert missing.exit_code == 1 and "cannot read" in missing.output
    nowhere = runner.invoke(segment_app, ["list", "--database-url", database, "--workspace", "nope"])
    assert nowhere.exit_code == 1
