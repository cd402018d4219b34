"""money, date with timezone, pluralize, url_param, image_fallback."""

from __future__ import annotations

from decimal import Decimal

import pytest

from relata.core.templates import Aborted, MessageContext, Rendered, RenderedSms, SmsTemplate, render


def out(body: str, **data: object) -> str:
    outcome = render(SmsTemplate(body), MessageContext(message_data=data, timezone="America/New_York"))
    assert isinstance(outcome, Rendered), outcome
    assert isinstance(outcome.content, RenderedSms)
    return outcome.content.body


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (12.5, "USD", "$12.50"),
        (1234.567, "EUR", "€1,234.57"),
        (0.125, "GBP", "£0.13"),
        (1200, "JPY", "¥1,200"),
        (1200.6, "JPY", "¥1,201"),
        ("99.9", "eur", "€99.90"),
        (-5, "USD", "-$5.00"),
        (1.2345, "KWD", "KWD 1.235"),
        (10, "CHF", "CHF 10.00"),
        (3, "XYZ", "3.00 XYZ"),
        (Decimal("19.99"), "CAD", "CA$19.99"),
        (7, None, "$7.00"),
    ],
)
def test_money(amount: object, currency: str | None, expected: str) -> None:
    assert out("{{ message_data.a | money: message_data.c }}", a=amount, c=currency) == expected


def test_money_of_nothing_is_empty_and_of_text_aborts() -> None:
    assert out("[{{ message_data.missing | money: 'EUR' }}]") == "[]"
    outcome = render(SmsTemplate("{{ 'free' | money }}"), MessageContext())
    assert isinstance(outcome, Aborted) and outcome.reason == "render_error"


@pytest.mark.parametrize(
    ("value", "args", "expected"),
    [
        (1_700_000_000, "'%Y-%m-%d %H:%M', 'UTC'", "2023-11-14 22:13"),
        (1_700_000_000, "'%Y-%m-%d %H:%M', 'Europe/Paris'", "2023-11-14 23:13"),
        (1_700_000_000, "'%Y-%m-%d %H:%M', 'Asia/Tokyo'", "2023-11-15 07:13"),
        (1_700_000_000, "'%H:%M %Z'", "17:13 EST"),  # the context's timezone
        (1_700_000_000_000, "'%Y-%m-%d', 'UTC'", "2023-11-14"),  # milliseconds
        ("2024-07-01T12:00:00Z", "'%d %b %H:%M', 'America/Los_Angeles'", "01 Jul 05:00"),  # DST
        ("2024-01-01T12:00:00Z", "'%d %b %H:%M', 'America/Los_Angeles'", "01 Jan 04:00"),
        ("2024-03-10", "'%A', 'UTC'", "Sunday"),
        ("1700000000", "'%Y', 'UTC'", "2023"),
    ],
)
def test_date_with_timezone(value: object, args: str, expected: str) -> None:
    assert out("{{ message_data.v | date: " + args + " }}", v=value) == expected


def test_date_errors_abort() -> None:
    for body in (
        "{{ 1700000000 | date: '%Y', 'Mars/Olympus' }}",
        "{{ 'yesterday-ish' | date: '%Y' }}",
        "{{ 1 | date: '%Y', '../../etc/passwd' }}",
    ):
        outcome = render(SmsTemplate(body), MessageContext())
        assert isinstance(outcome, Aborted) and outcome.reason == "render_error", body


@pytest.mark.parametrize(
    ("count", "expected"), [(0, "0 items"), (1, "1 item"), (2, "2 items"), ("1", "1 item"), (1.0, "1.0 item")]
)
def test_pluralize(count: object, expected: str) -> None:
    assert out("{{ message_data.n }} {{ message_data.n | pluralize: 'item', 'items' }}", n=count) == expected


def test_pluralize_default_plural_and_irregular() -> None:
    assert out("{{ 3 | pluralize: 'cart' }} {{ 2 | pluralize: 'person', 'people' }}") == "carts people"


def test_url_param() -> None:
    assert out("{{ 'https://s.test/c?a=1&utm_source=x' | url_param: 'utm_source', 'email' }}") == (
        "https://s.test/c?a=1&utm_source=email"
    )
    assert out("{{ 'https://s.test/c#top' | url_param: 'q', 'a b&c' }}") == "https://s.test/c?q=a+b%26c#top"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://img.test/a.png", "https://img.test/a.png"),
        ("", "FB"),
        (None, "FB"),
        ("javascript:alert(1)", "FB"),
        ("//cdn.test/x.png", "//cdn.test/x.png"),
    ],
)
def test_image_fallback(value: object, expected: str) -> None:
    assert out("{{ message_data.img | image_fallback: 'FB' }}", img=value) == expected
    assert out("{{ message_data.absent | image_fallback: 'FB' }}") == "FB"


def test_standard_filters_still_there() -> None:
    assert out("{{ message_data.x | default: 'none' }} {{ 'a,b' | split: ',' | first | upcase }}") == "none A"
