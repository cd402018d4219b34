"""``relata template apply|lint`` on a SQLite file, through Typer's test runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from relata.bootstrap import build
from relata.cli_template import template_app
from relata.settings import Settings
from relata.storage import contracts
from relata.storage import templates as rows

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples" / "templates"
app = typer.Typer()
app.add_typer(template_app, name="template")
runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'relata.db'}"
    runtime = build(Settings(database_url=url))
    workspace = runtime.services.workspaces.create("shop").workspace
    import yaml

    with runtime.services.db.write() as conn:
        contracts.add_version(
            conn, workspace.id, yaml.safe_load((ROOT / "examples" / "contract.yaml").read_text()), 0
        )
    runtime.services.db.dispose()
    return url


def stored(url: str) -> dict[str, int]:
    runtime = build(Settings(database_url=url), migrate=False)
    try:
        with runtime.services.db.read() as conn:
            return {t.key: t.version for t in rows.list_current(conn, 1)} | {
                f"snippet:{s.name}": s.version for s in rows.list_snippets(conn, 1)
            }
    finally:
        runtime.services.db.dispose()


def test_apply_folder_then_again_is_unchanged(db_url: str) -> None:
    result = runner.invoke(app, ["template", "apply", str(EXAMPLES), "--database-url", db_url])
    assert result.exit_code == 0, result.output
    assert "email template 'cart-recovery' version 1" in result.output
    assert stored(db_url) == {
        "back-in-stock": 1,
        "cart-recovery": 1,
        "cart-sms": 1,
        "order-webhook": 1,
        "snippet:sms-stop": 1,
    }
    again = runner.invoke(app, ["template", "apply", str(EXAMPLES), "--database-url", db_url, "-w", "shop"])
    assert again.exit_code == 0 and again.output.count("unchanged") == 5


def test_apply_reports_bad_files_and_applies_the_rest(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "good.yaml").write_text("key: good\nchannel: sms\nbody: 'Hi {{ trigger.cart.statuss }}'\n")
    (folder / "broken.yaml").write_text("key: broken\nchannel: sms\nbody: '{% if %}'\n")
    (folder / "notyaml.json").write_text("{nope")
    result = runner.invoke(app, ["template", "apply", str(folder), "--database-url", db_url])
    assert result.exit_code == 1
    assert "sms template 'good' version 1" in result.output
    assert "body:1:" in result.output and "unknown_attribute" in result.output  # a warning, saved anyway
    assert "broken.yaml: body: " in result.output and "line 1" in result.output
    assert "notyaml.json: " in result.output
    assert stored(db_url) == {"good": 1}
    missing = runner.invoke(app, ["template", "apply", str(folder / "nope.yaml"), "--database-url", db_url])
    assert missing.exit_code == 1 and "no such file" in missing.output
    workspace = runner.invoke(app, ["template", "apply", str(folder), "--database-url", db_url, "-w", "x"])
    assert workspace.exit_code == 1 and "no workspace 'x'" in workspace.output


def test_lint_against_the_workspace_or_a_contract_file(db_url: str, tmp_path: Path) -> None:
    clean = runner.invoke(app, ["template", "lint", str(EXAMPLES), "--database-url", db_url])
    assert clean.exit_code == 0, clean.output
    assert "5 files checked, 0 findings" in clean.output
    typo = tmp_path / "typo.yaml"
    typo.write_text("key: typo\nchannel: sms\nbody: |\n  Hi\n  {{ trigger.cart.itemz.size }}\n")
    found = runner.invoke(app, ["template", "lint", str(typo), "--database-url", db_url])
    assert found.exit_code == 1
    assert "typo.yaml: body:2:4: error unknown_relationship" in found.output
    offline = runner.invoke(
        app,
        [
            "template",
            "lint",
            str(typo),
            "--contract",
            str(ROOT / "examples" / "contract.yaml"),
            "--database-url",
            f"sqlite:///{tmp_path / 'absent.db'}",
        ],
    )
    assert offline.exit_code == 1 and "unknown_relationship" in offline.output
    assert not (tmp_path / "absent.db").exists()
    syntax_only = runner.invoke(
        app, ["template", "lint", str(typo), "--database-url", f"sqlite:///{tmp_path / 'absent.db'}"]
    )
    assert syntax_only.exit_code == 0 and "0 findings" in syntax_only.output
