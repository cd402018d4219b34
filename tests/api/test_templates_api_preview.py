"""Preview over the App API: the cart recovery email from stored data, aborts, fallbacks, bad input."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_templates_api_support import CART_ID, CHECKOUT, apply_demo_contract, example, seed_cart

from relata.bootstrap import Runtime
from relata.storage.workspaces import Credentials

TRIGGER = {"person": {"id": "u_1"}, "object": {"type": "cart", "object_id": CART_ID}}


@pytest.fixture
def store(
    client: TestClient, app_headers: dict[str, str], runtime: Runtime, workspace: Credentials
) -> Runtime:
    apply_demo_contract(runtime, workspace.workspace.id)
    for name in ("cart-recovery", "cart-sms", "sms-stop"):
        document = example(name)
        if "snippet" in document:
            response = client.put(
                f"/v1/snippets/{document['snippet']}",
                json={"source": document["source"]},
                headers=app_headers,
            )
        else:
            response = client.put(f"/v1/templates/{document['key']}", json=document, headers=app_headers)
        assert response.status_code == 201, response.text
    return runtime


def preview(
    client: TestClient, headers: dict[str, str], body: dict[str, Any], key: str = "cart-recovery"
) -> Any:
    response = client.post(f"/v1/templates/{key}/preview", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_cart_recovery_email_lists_exactly_the_cart(
    client: TestClient, app_headers: dict[str, str], store: Runtime, workspace: Credentials
) -> None:
    seed_cart(store, workspace.workspace.id, items=5, without_image=3)
    result = preview(client, app_headers, TRIGGER)
    assert result["outcome"] == "rendered" and result["abort"] is None, result
    email = result["content"]
    assert email["subject"] == "Ada, you left 5 items behind"
    assert email["preheader"] == "Your cart total is €550.50"
    assert email["sender"] == "Demo Store <shop@example.com>"
    html = email["html"]
    assert re.findall(r"Linen shirt \d", html) == [f"Linen shirt {n}" for n in range(1, 6) for _ in (0, 1)]
    assert re.findall(r"(\d) x</td>", html) == ["1", "2", "3", "4", "5"]
    assert re.findall(r"€\d+\.\d\d", html) == [
        "€550.50",
        "€10.00",
        "€20.00",
        "€30.00",
        "€40.00",
        "€50.00",
        "€550.50",
    ]
    assert f'href="{CHECKOUT}?utm_source=email"' in html
    assert html.count("https://cdn.example.com/placeholder.png") == 1  # item 3 has no image
    for n in (1, 2, 4, 5):
        assert f"https://cdn.example.com/p/{n}.jpg" in html
    assert "<style" not in html and 'class="price" style="text-align: right;' in html
    assert "Saved January 1 at 01:00" in html  # the customer's zone (Europe/Paris)
    base = "http://testserver/preview/"
    assert f'href="{base}unsubscribe"' in html and f'href="{base}preferences"' in html
    assert re.search(r"Linen shirt 5\s+Linen shirt 5\s+5 x\s+€50.00", email["text"])
    assert "[]" not in email["text"]  # item.variant is a declared attribute, absent: not a relationship
    assert f"Back to your cart ({CHECKOUT}?utm_source=email)" in email["text"]
    assert result["graph_reads"] == 1  # the items, once, whatever their number
    assert result["lint"] == []
    assert result["timezone"] == "Europe/Paris"
    assert result["template"]["key"] == "cart-recovery" and result["template"]["version"] == 1
    context = result["context"]
    assert context["customer"]["first_name"] == "Ada" and context["customer"]["id"] == "u_1"
    cart = context["trigger"]["cart"]
    assert cart["object_id"] == CART_ID and [item["sku"] for item in cart["items"]] == [
        f"SKU-{n}" for n in range(1, 6)
    ]


def test_empty_cart_aborts_with_missing_data(
    client: TestClient, app_headers: dict[str, str], store: Runtime, workspace: Credentials
) -> None:
    seed_cart(store, workspace.workspace.id, items=0)
    result = preview(client, app_headers, TRIGGER)
    assert result["outcome"] == "aborted" and result["content"] is None
    assert result["abort"] == {"reason": "missing_data", "detail": "trigger.cart.items", "field": "required"}
    sms = preview(client, app_headers, TRIGGER, key="cart-sms")
    assert sms["abort"]["reason"] == "missing_data"


def test_sms_preview_with_snippet_and_segments(
    client: TestClient, app_headers: dict[str, str], store: Runtime, workspace: Credentials
) -> None:
    seed_cart(store, workspace.workspace.id, items=2)
    result = preview(client, app_headers, TRIGGER, key="cart-sms")
    body = result["content"]["body"]
    assert body == (
        f"Ada, your 2 items (€50.50) are waiting: {CHECKOUT}?utm_source=sms Reply STOP to opt out."
    )
    assert result["content"]["encoding"] == "UCS-2" or result["content"]["encoding"] == "GSM-7"
    assert result["content"]["segments"] >= 1


def test_preview_variables_event_journey_and_workspace_timezone(
    client: TestClient, app_headers: dict[str, str], store: Runtime, workspace: Credentials
) -> None:
    seed_cart(store, workspace.workspace.id, items=1)
    template = {
        "channel": "sms",
        "body": "{{ event.coupon }}/{{ event_name }}/{{ journey.step }}/{{ message_data.code }}/"
        "{{ trigger.relationship.role | default: 'none' }}/{{ trigger.cart.updated_at | date: '%H:%M' }}",
    }
    body = {
        "template": template,
        "object": {"type": "1", "object_id": CART_ID},
        "event": {"name": "cart_viewed", "data": {"coupon": "SAVE10"}},
        "journey": {"step": 2},
        "message_data": {"code": "X"},
        "relationship": {"role": "owner"},
    }
    response = client.post("/v1/templates/preview", json=body, headers=app_headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["content"]["body"] == "SAVE10/cart_viewed/2/X/owner/00:00"  # no customer: workspace UTC
    assert result["timezone"] == "UTC"
    assert result["context"]["event"] == {"coupon": "SAVE10"} and result["context"]["journey"] == {"step": 2}
    assert "template" not in result


def test_unsaved_preview_reports_syntax_errors_as_outcome(
    client: TestClient, app_headers: dict[str, str], store: Runtime
) -> None:
    response = client.post(
        "/v1/templates/preview",
        json={"template": {"channel": "sms", "body": "{% if %}"}},
        headers=app_headers,
    )
    assert response.status_code == 200
    result = response.json()
    assert result["outcome"] == "aborted" and result["abort"]["reason"] == "syntax_error"
    assert result["lint"][0]["code"] == "syntax_error"


def test_unknown_people_and_objects_are_404_and_bad_input_400(
    client: TestClient, app_headers: dict[str, str], store: Runtime, workspace: Credentials
) -> None:
    seed_cart(store, workspace.workspace.id, items=1)
    for body in (
        {"person": {"id": "nobody"}},
        {"person": {"email": "nobody@example.com"}},
        {"object": {"type": "cart", "object_id": "cart_ffffffffffff"}},
        {"object": {"type": "no_such_type", "object_id": "x"}},
        {"object": {"cio_object_id": "missing"}},
    ):
        response = client.post("/v1/templates/cart-recovery/preview", json=body, headers=app_headers)
        assert response.status_code == 404, (body, response.text)
    assert client.post("/v1/templates/nope/preview", json=TRIGGER, headers=app_headers).status_code == 404
    cases: list[tuple[Any, str]] = [
        ({"person": {"id": "u_1", "email": "a@b.c"}}, "person"),
        ({"person": "u_1"}, "person"),
        ({"object": {"type": "cart"}}, "object.object_id"),
        ({"object": {"object_id": "x"}}, "object.object_type_id"),
        ({"object": {"type": "cart", "object_id": "x", "colour": 1}}, "object.colour"),
        ({"event": {"data": {}}}, "event.name"),
        ({"event": {"name": "x", "data": [1]}}, "data"),
        ({"journey": [1]}, "journey"),
        ({"persons": {}}, "persons"),
        ({"template": {"channel": "sms", "body": "x"}}, "template"),
    ]
    for body, field in cases:
        response = client.post("/v1/templates/cart-recovery/preview", json=body, headers=app_headers)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["errors"][0]["field"] == field, (body, response.json())
    assert client.post("/v1/templates/preview", json={}, headers=app_headers).status_code == 400
    assert (
        client.post("/v1/templates/preview", json={"template": {"channel": "x"}}, headers=app_headers).json()[
            "errors"
        ][0]["field"]
        == "channel"
    )
    assert (
        client.post("/v1/templates/cart-recovery/preview?version=0", headers=app_headers).status_code == 400
    )
    assert (
        client.post("/v1/templates/cart-recovery/preview?version=9", headers=app_headers).status_code == 404
    )


def test_preview_reads_only_the_callers_workspace(
    client: TestClient, app_headers: dict[str, str], store: Runtime, workspace: Credentials
) -> None:
    seed_cart(store, workspace.workspace.id, items=2)
    other = store.services.workspaces.create("other")
    headers = {"Authorization": f"Bearer {other.app_api_key}"}
    document = example("cart-recovery")
    assert client.put("/v1/templates/cart-recovery", json=document, headers=headers).status_code == 201
    response = client.post("/v1/templates/cart-recovery/preview", json=TRIGGER, headers=headers)
    assert response.status_code == 404  # the person and the cart are the first workspace's
    by_email = client.post(
        "/v1/templates/cart-recovery/preview", json={"person": {"email": "u_1@example.com"}}, headers=headers
    )
    assert by_email.status_code == 404
