"""The ``relata`` command: workspaces, migrate, and ``serve`` as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from relata.cli import app

runner = CliRunner()


def test_workspace_create_list_keys_json(database_url: str) -> None:
    created = runner.invoke(app, ["workspace", "create", "shop", "--json", "--database-url", database_url])
    assert created.exit_code == 0, created.output
    keys = json.loads(created.stdout)
    assert set(keys) == {"workspace", "site_id", "track_api_key", "pipelines_write_key", "app_api_key"}
    assert keys["workspace"] == "shop"
    listed = runner.invoke(app, ["workspace", "list", "--json", "--database-url", database_url])
    assert [w["name"] for w in json.loads(listed.stdout)] == ["shop"]
    again = runner.invoke(app, ["workspace", "keys", "shop", "--json", "--database-url", database_url])
    assert json.loads(again.stdout) == keys
    duplicate = runner.invoke(app, ["workspace", "create", "shop", "--database-url", database_url])
    assert duplicate.exit_code == 1
    missing = runner.invoke(app, ["workspace", "keys", "nope", "--database-url", database_url])
    assert missing.exit_code == 1


def test_migrate_creates_a_new_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'new.db'}"
    result = runner.invoke(app, ["migrate", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "revision" in result.output
    assert (tmp_path / "sub" / "new.db").exists()


def test_serve_starts_on_a_fresh_database_and_prints_keys(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "RELATA_DATABASE_URL": f"sqlite:///{tmp_path / 'relata.db'}", "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "relata.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "relata serve did not answer"
            time.sleep(0.1)
        keys = json.loads(
            subprocess.run(
                [sys.executable, "-m", "relata.cli", "workspace", "keys", "--json"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        assert keys["workspace"] == "default"
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert keys["track_api_key"] in output
    assert keys["app_api_key"] in output


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_worker_keeps_segments_current(database_url: str) -> None:
    """``relata worker`` as a real process: a segment saved and a write made elsewhere reach its members."""
    from relata.bootstrap import build
    from relata.core.identity import PersonRef
    from relata.core.operations import IdentifyPerson
    from relata.settings import Settings

    services = build(Settings(database_url=database_url), migrate=False).services
    ws = services.workspaces.create("shop").workspace.id
    services.ingest.apply(ws, [IdentifyPerson(PersonRef("id", "ann"), {"vip": True})])
    services.segments.save(
        ws, {"id": "vip", "condition": {"attribute": {"field": "vip", "operator": "eq", "value": True}}}
    )
    env = {**os.environ, "RELATA_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "relata.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def members() -> list[str]:
            return sorted(item["id"] for item in services.segments.members(ws, "vip", None, 10).items)

        deadline = time.monotonic() + 30
        while members() != ["ann"]:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the worker did not refresh the new segment"
            time.sleep(0.1)
        services.ingest.apply(ws, [IdentifyPerson(PersonRef("id", "bob"), {"vip": True})])
        while members() != ["ann", "bob"]:
            assert time.monotonic() < deadline + 30, "the worker did not follow the change log"
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=30)
        services.db.dispose()
