"""The README's tour works as written: its batch is accepted and the profile shows the cart and its item."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from relata.storage.workspaces import Credentials

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_tour(client: TestClient, workspace: Credentials) -> None:
    text = README.read_text()
    body = re.search(r"-d '(\{.*?\})'", text, re.S)
    assert body is not None
    sent = client.post(
        "/api/v2/batch",
        content=body.group(1),
        headers={"content-type": "application/json"},
        auth=(workspace.site_id, workspace.track_api_key),
    )
    assert (sent.status_code, sent.json()) == (200, {})
    path = re.search(r"'http://127\.0\.0\.1:8000(/v1/people/[^']+)'", text)
    assert path is not None
    profile = client.get(path.group(1), headers={"Authorization": f"Bearer {workspace.app_api_key}"})
    assert profile.status_code == 200, profile.text
    document = json.dumps(profile.json())
    assert "cart_1" in document
    assert "item_1" in document
