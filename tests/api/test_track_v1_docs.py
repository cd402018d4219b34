"""The curl examples of docs/api/track-v1.md, sent as written, succeed."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from fastapi.testclient import TestClient

DOC = Path(__file__).resolve().parents[2] / "docs" / "api" / "track-v1.md"


def curl_commands() -> list[list[str]]:
    """Each ``curl`` of the ``sh`` blocks, split into arguments (multi-line ``-d`` bodies included)."""
    text = DOC.read_text().replace("\\\n", " ")
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            if line.startswith("curl "):
                commands.append(line)
            elif commands and not line.startswith("export "):
                commands[-1] += "\n" + line
    return [shlex.split(command) for command in commands]


def request_of(command: list[str]) -> tuple[str, str, str | None]:
    at = command.index("-X")
    body = command[command.index("-d") + 1] if "-d" in command else None
    return command[at + 1], command[at + 2].replace("$RELATA", ""), body


def test_doc_has_an_example_for_every_endpoint() -> None:
    routes = set()
    for command in curl_commands():
        method, url, _ = request_of(command)
        url = re.sub(r"/customers/[^/]+", "/customers/{identifier}", url)
        routes.add(f"{method} {re.sub(r'/devices/[^/]+$', '/devices/{token}', url)}")
    assert routes == {
        "PUT /api/v1/customers/{identifier}",
        "DELETE /api/v1/customers/{identifier}",
        "PUT /api/v1/customers/{identifier}/devices",
        "DELETE /api/v1/customers/{identifier}/devices/{token}",
        "POST /api/v1/customers/{identifier}/events",
        "POST /api/v1/events",
        "POST /api/v1/merge_customers",
        "POST /api/v1/customers/{identifier}/suppress",
        "POST /api/v1/customers/{identifier}/unsuppress",
    }


def test_doc_examples_succeed(client: TestClient, track_auth: tuple[str, str]) -> None:
    for command in curl_commands():
        method, url, body = request_of(command)
        response = client.request(
            method, url, content=body, headers={"content-type": "application/json"}, auth=track_auth
        )
        assert (response.status_code, response.json()) == (200, {}), (command, response.text)
