"""Templates and snippets over the App API: CRUD, versions, syntax errors, lint warnings, isolation."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from test_templates_api_support import apply_demo_contract, example

from relata.bootstrap import Runtime
from relata.storage.workspaces import Credentials

SMS = {"key": "hello", "channel": "sms", "name": "Hello", "body": "Hi {{ customer.first_name }}"}


def test_create_get_list_update_versions_delete(client: TestClient, app_headers: dict[str, str]) -> None:
    created = client.post("/v1/templates", json=SMS, headers=app_headers)
    assert created.status_code == 201, created.text
    template = created.json()["template"]
    assert template["key"] == "hello" and template["version"] == 1 and template["channel"] == "sms"
    assert template["body"] == SMS["body"] and template["required"] == []
    assert created.json()["warnings"] == []

    again = client.post("/v1/templates", json=SMS, headers=app_headers)
    assert again.status_code == 409
    assert again.json()["errors"][0]["reason"] == "conflict" and again.json()["errors"][0]["field"] == "key"

    same = client.put("/v1/templates/hello", json=SMS, headers=app_headers)
    assert (
        same.status_code == 200
        and same.json()["changed"] is False
        and same.json()["template"]["version"] == 1
    )

    changed = client.put(
        "/v1/templates/hello", json={**SMS, "body": "Hello {{ customer.first_name }}"}, headers=app_headers
    )
    assert changed.status_code == 200 and changed.json()["changed"] is True
    assert changed.json()["template"]["version"] == 2
    assert changed.json()["template"]["id"] == template["id"]

    current = client.get("/v1/templates/hello", headers=app_headers).json()["template"]
    assert current["version"] == 2 and current["body"].startswith("Hello")
    first = client.get("/v1/templates/hello?version=1", headers=app_headers).json()["template"]
    assert first["version"] == 1 and first["body"] == SMS["body"]
    versions = client.get("/v1/templates/hello/versions", headers=app_headers).json()
    assert [v["version"] for v in versions["versions"]] == [1, 2]

    listed = client.get("/v1/templates", headers=app_headers).json()["templates"]
    assert [(t["key"], t["version"]) for t in listed] == [("hello", 2)]

    assert client.delete("/v1/templates/hello", headers=app_headers).status_code == 204
    assert client.get("/v1/templates/hello", headers=app_headers).status_code == 404
    assert client.delete("/v1/templates/hello", headers=app_headers).status_code == 404
    assert client.get("/v1/templates", headers=app_headers).json()["templates"] == []
    # what was sent stays identifiable: old versions remain readable after a delete
    kept = client.get("/v1/templates/hello?version=2", headers=app_headers)
    assert kept.status_code == 200 and kept.json()["template"]["id"] == template["id"]
    revived = client.put("/v1/templates/hello", json=SMS, headers=app_headers)
    assert revived.status_code == 201 and revived.json()["template"]["version"] == 3
    assert revived.json()["template"]["id"] == template["id"]


def test_every_channel_round_trips(client: TestClient, app_headers: dict[str, str]) -> None:
    for name in ("cart-recovery", "cart-sms", "back-in-stock", "order-webhook"):
        document = example(name)
        response = client.put(f"/v1/templates/{document['key']}", json=document, headers=app_headers)
        assert response.status_code == 201, response.text
        stored = client.get(f"/v1/templates/{document['key']}", headers=app_headers).json()["template"]
        for field, value in document.items():
            assert stored[field] == value, field


def test_syntax_errors_are_rejected_with_field_line_and_column(
    client: TestClient, app_headers: dict[str, str]
) -> None:
    html = "<p>Hi</p>\n<p>{% if customer.first_name %}x</p>"
    response = client.post(
        "/v1/templates",
        json={"key": "broken", "channel": "email", "subject": "Hi", "html": html},
        headers=app_headers,
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["reason"] == "syntax_error" and error["field"] == "html"
    assert "line 2, column" in error["message"]
    subject = client.put(
        "/v1/templates/broken",
        json={"channel": "email", "subject": "{{ customer. }}", "html": "<p>x</p>"},
        headers=app_headers,
    )
    assert subject.status_code == 400 and subject.json()["errors"][0]["field"] == "subject"
    assert "line 1, column" in subject.json()["errors"][0]["message"]
    nested = client.put(
        "/v1/templates/hook",
        json={"channel": "webhook", "url": "https://x.example", "body": {"a": ["ok", "{% for %}"]}},
        headers=app_headers,
    )
    assert nested.status_code == 400 and nested.json()["errors"][0]["field"] == "body.a[1]"
    assert client.get("/v1/templates/broken", headers=app_headers).status_code == 404


def test_bad_documents_name_the_field(client: TestClient, app_headers: dict[str, str]) -> None:
    cases: list[tuple[Any, str]] = [
        ({"key": "x", "channel": "fax", "body": "x"}, "channel"),
        ({"key": "Bad Key", "channel": "sms", "body": "x"}, "key"),
        ({"key": "x", "channel": "sms"}, "body"),
        ({"key": "x", "channel": "sms", "body": 5}, "body"),
        ({"key": "x", "channel": "sms", "body": "x", "subject": "y"}, "subject"),
        ({"key": "x", "channel": "sms", "body": "x", "required": ["trigger..cart"]}, "required[0]"),
        ({"key": "x", "channel": "push", "body": "x", "data": {"a": 1}}, "data.a"),
        ({"key": "x", "channel": "email", "subject": "s", "html": "h", "inline_css": "no"}, "inline_css"),
        ([1, 2], "body"),
    ]
    for document, field in cases:
        response = client.post("/v1/templates", json=document, headers=app_headers)
        assert response.status_code == 400, (document, response.text)
        assert response.json()["errors"][0]["field"] == field, (document, response.json())
    mismatch = client.put("/v1/templates/one", json={**SMS, "key": "two"}, headers=app_headers)
    assert mismatch.status_code == 400 and mismatch.json()["errors"][0]["field"] == "key"
    garbage = client.post(
        "/v1/templates", content=b"{nope", headers={**app_headers, "content-type": "application/json"}
    )
    assert garbage.status_code == 400
    client.post("/v1/templates", json=SMS, headers=app_headers)
    channel = client.put("/v1/templates/hello", json={**SMS, "channel": "push"}, headers=app_headers)
    assert channel.status_code == 400 and channel.json()["errors"][0]["field"] == "channel"


def test_lint_warnings_on_save_and_lint_endpoints(
    client: TestClient, app_headers: dict[str, str], runtime: Runtime, workspace: Credentials
) -> None:
    apply_demo_contract(runtime, workspace.workspace.id)
    document = {
        "key": "typo",
        "channel": "sms",
        "body": "Hi {{ customer.first_name }}\n"
        "{{ trigger.cart.statuss }} {{ trigger.cart.cart_total | money }}",
        "required": ["trigger.cart.itemz"],
    }
    saved = client.post("/v1/templates", json=document, headers=app_headers)
    assert saved.status_code == 201
    warnings = saved.json()["warnings"]
    attribute = next(w for w in warnings if w["code"] == "unknown_attribute")
    assert (attribute["field"], attribute["line"], attribute["column"]) == ("body", 2, 4)
    assert "did you mean 'status'" in attribute["message"]
    assert any(w["field"] == "required[0]" and w["code"] == "unknown_attribute" for w in warnings)

    stored = client.post("/v1/templates/typo/lint", headers=app_headers).json()["findings"]
    assert stored == warnings
    unsaved = client.post(
        "/v1/templates/lint",
        json={"channel": "sms", "body": "{{ trigger.cart.checkout_url }} {% if %}"},
        headers=app_headers,
    ).json()["findings"]
    assert [(f["code"], f["line"]) for f in unsaved] == [("syntax_error", 1)]
    assert unsaved[0]["column"] >= 32
    clean = client.post("/v1/templates/lint", json=example("cart-recovery"), headers=app_headers)
    assert clean.status_code == 200 and clean.json()["findings"] == []
    assert client.post("/v1/templates/nope/lint", headers=app_headers).status_code == 404


def test_snippets_crud_and_use_in_templates(client: TestClient, app_headers: dict[str, str]) -> None:
    missing = client.put(
        "/v1/templates/cart-sms",
        json={"key": "cart-sms", "channel": "sms", "body": "x {% render 'sig' %}"},
        headers=app_headers,
    )
    assert missing.status_code == 201
    assert [w["code"] for w in missing.json()["warnings"]] == ["unknown_snippet"]

    put = client.put(
        "/v1/snippets/sig", json={"source": "-- {{ shop | default: 'Demo' }}"}, headers=app_headers
    )
    assert put.status_code == 201 and put.json()["snippet"]["version"] == 1
    assert client.get("/v1/snippets/sig", headers=app_headers).json()["snippet"]["source"].startswith("--")
    assert [s["name"] for s in client.get("/v1/snippets", headers=app_headers).json()["snippets"]] == ["sig"]

    rendered = client.post("/v1/templates/cart-sms/preview", json={}, headers=app_headers).json()
    assert rendered["outcome"] == "rendered" and rendered["content"]["body"] == "x -- Demo"
    assert rendered["lint"] == []

    client.put("/v1/snippets/sig", json={"source": "-- Relata"}, headers=app_headers)
    again = client.post("/v1/templates/cart-sms/preview", json={}, headers=app_headers).json()
    assert again["content"]["body"] == "x -- Relata"  # a changed snippet is seen at once

    bad = client.put("/v1/snippets/sig", json={"source": "{% for x in %}"}, headers=app_headers)
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "source"
    assert "line 1, column" in bad.json()["errors"][0]["message"]
    assert client.put("/v1/snippets/bad%20name", json={"source": "x"}, headers=app_headers).status_code == 400

    assert client.delete("/v1/snippets/sig", headers=app_headers).status_code == 204
    assert client.get("/v1/snippets/sig", headers=app_headers).status_code == 404
    gone = client.post("/v1/templates/cart-sms/preview", json={}, headers=app_headers).json()
    assert gone["outcome"] == "aborted" and gone["abort"]["reason"] == "render_error"
    assert "sig" in gone["abort"]["detail"]


def test_workspaces_are_isolated(client: TestClient, app_headers: dict[str, str], runtime: Runtime) -> None:
    other = runtime.services.workspaces.create("other")
    other_headers = {"Authorization": f"Bearer {other.app_api_key}"}
    assert client.put("/v1/templates/hello", json=SMS, headers=app_headers).status_code == 201
    assert client.put("/v1/snippets/sig", json={"source": "mine"}, headers=app_headers).status_code == 201
    assert client.get("/v1/templates/hello", headers=other_headers).status_code == 404
    assert client.get("/v1/templates", headers=other_headers).json()["templates"] == []
    assert client.get("/v1/snippets/sig", headers=other_headers).status_code == 404
    assert client.delete("/v1/templates/hello", headers=other_headers).status_code == 404
    theirs = client.put("/v1/templates/hello", json={**SMS, "body": "theirs"}, headers=other_headers)
    assert theirs.status_code == 201 and theirs.json()["template"]["version"] == 1
    assert client.get("/v1/templates/hello", headers=app_headers).json()["template"]["body"] == SMS["body"]
    assert client.get("/v1/templates", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/templates").status_code == 401
