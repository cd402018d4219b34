"""Relata's Liquid filters: ``money``, ``date`` (with a timezone), ``pluralize``, ``url_param``,
``image_fallback`` and ``json``. Liquid's standard filters (``default``, ``where``, ``first``, ...)
stay as they are.

A filter given a value it cannot use raises ``FilterArgumentError``: the render is aborted
(``render_error``) rather than sending ``$NaN``. An undefined or nil input renders empty.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from liquid import RenderContext, is_undefined
from liquid.exceptions import FilterArgumentError
from liquid.filter import with_context

from relata.core.templates.graph import LazyEntity
from relata.core.templates.sandbox import state_of

# symbol, decimals; symbols are placed before the amount ("€12.50", "CHF 12.50").
CURRENCIES: dict[str, tuple[str, int]] = {
    "USD": ("$", 2),
    "EUR": ("€", 2),
    "GBP": ("£", 2),
    "JPY": ("¥", 0),
    "CNY": ("CN¥", 2),
    "KRW": ("₩", 0),
    "INR": ("₹", 2),
    "CAD": ("CA$", 2),
    "AUD": ("A$", 2),
    "NZD": ("NZ$", 2),
    "CHF": ("CHF ", 2),
    "SEK": ("SEK ", 2),
    "NOK": ("NOK ", 2),
    "DKK": ("DKK ", 2),
    "PLN": ("PLN ", 2),
    "CZK": ("CZK ", 2),
    "HUF": ("HUF ", 2),
    "BRL": ("R$", 2),
    "MXN": ("MX$", 2),
    "ZAR": ("R ", 2),
    "SGD": ("S$", 2),
    "HKD": ("HK$", 2),
    "ILS": ("₪", 2),
    "TRY": ("TRY ", 2),
    "ISK": ("ISK ", 0),
    "CLP": ("CLP ", 0),
    "VND": ("₫", 0),
    "TWD": ("NT$", 2),
    "KWD": ("KWD ", 3),
    "BHD": ("BHD ", 3),
    "OMR": ("OMR ", 3),
    "JOD": ("JOD ", 3),
    "TND": ("TND ", 3),
}
DEFAULT_DATE_FORMAT = "%Y-%m-%d %H:%M"
_MS_THRESHOLD = 100_000_000_000


def _blank(value: object) -> bool:
    return value is None or is_undefined(value)


def to_decimal(value: object) -> Decimal | None:
    """A number from an int, float, Decimal or numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def format_money(amount: Decimal, currency: str) -> str:
    """``12.5, "EUR"`` → ``€12.50``; ``1200, "JPY"`` → ``¥1,200``; unknown codes: ``12.50 XYZ``."""
    code = currency.strip().upper()
    symbol, places = CURRENCIES.get(code, ("", 2))
    quantum = Decimal(1).scaleb(-places)
    rounded = amount.quantize(quantum, rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    digits = f"{abs(rounded):,.{places}f}"
    if symbol:
        return f"{sign}{symbol}{digits}"
    return f"{sign}{digits} {code}".rstrip()


def money(value: object, currency: object = None) -> str:
    """``{{ cart.cart_total | money: cart.currency }}``; without a currency, USD."""
    if _blank(value) or value == "":
        return ""
    code = "USD" if _blank(currency) or currency == "" else str(currency)
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return _money(value, code)  # prices repeat: formatted once per (amount, currency)
    amount = to_decimal(value)
    if amount is None:
        raise FilterArgumentError(f"money expects a number, found {value!r}", token=None)
    return format_money(amount, code)


@lru_cache(maxsize=8192, typed=True)
def _money(value: int | float | str, code: str) -> str:
    amount = to_decimal(value)
    if amount is None:
        raise FilterArgumentError(f"money expects a number, found {value!r}", token=None)
    return format_money(amount, code)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FilterArgumentError(f"unknown timezone {name!r}", token=None) from None


def to_datetime(value: object, now: datetime | None) -> datetime | None:
    """Unix seconds (or milliseconds), ISO-8601, a datetime/date, or ``"now"``/``"today"``."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        if text in ("now", "today"):
            return now
        number = to_decimal(text)
        if number is not None:
            return to_datetime(number, now)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        seconds = float(value)
        if abs(seconds) >= _MS_THRESHOLD:
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


@with_context
def date_filter(value: object, fmt: object = None, tz: object = None, *, context: RenderContext) -> str:
    """``{{ order.created_at | date: "%b %-d, %Y %H:%M", "Europe/Paris" }}``.

    Without a timezone the recipient's (``MessageContext.timezone``) is used.
    """
    if _blank(value) or value == "":
        return ""
    state = state_of(context)
    moment = to_datetime(value, state.now if state else None)
    if moment is None:
        raise FilterArgumentError(f"date expects a timestamp, found {value!r}", token=None)
    zone_name = str(tz) if not _blank(tz) and tz != "" else (state.timezone if state else "UTC")
    local = moment.astimezone(zone(zone_name))
    pattern = DEFAULT_DATE_FORMAT if _blank(fmt) or fmt == "" else str(fmt)
    try:
        return local.strftime(pattern)
    except ValueError as exc:
        raise FilterArgumentError(f"date format {pattern!r}: {exc}", token=None) from None


def pluralize(count: object, singular: object = "", plural: object = None) -> str:
    """``{{ cart.items.size }} {{ cart.items.size | pluralize: "item", "items" }}``."""
    one = "" if _blank(singular) else str(singular)
    many = one + "s" if _blank(plural) else str(plural)
    number = to_decimal(count) if not _blank(count) else Decimal(0)
    if number is None:
        raise FilterArgumentError(f"pluralize expects a number, found {count!r}", token=None)
    return one if abs(number) == 1 else many


def url_param(url: object, name: object, value: object = "") -> str:
    """``{{ cart.checkout_url | url_param: "utm_source", "email" }}``: sets one query parameter."""
    if _blank(url):
        return ""
    if _blank(name) or name == "":
        return str(url)
    return _url_param(str(url), str(name), "" if _blank(value) else str(value))


@lru_cache(maxsize=8192)
def _url_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    query.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


def image_fallback(url: object, fallback: object = "") -> str:
    """``{{ item.image_url | image_fallback: "https://cdn.example/placeholder.png" }}``:
    the fallback when the image URL is missing, empty or not http(s)."""
    text = "" if _blank(url) else str(url).strip()
    if text.lower().startswith(("https://", "http://", "//")):
        return text
    return "" if _blank(fallback) else str(fallback)


def _plain(value: object) -> Any:
    if isinstance(value, LazyEntity):
        return value.to_dict()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_undefined(value):
        return None
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_filter(value: object) -> str:
    """``{{ trigger.cart | json }}``: JSON text (entities show fields and attributes)."""
    return json.dumps(
        _plain(value) if isinstance(value, LazyEntity) else value,
        default=_plain,
        ensure_ascii=False,
        separators=(",", ":"),
    )


FILTERS: dict[str, Callable[..., Any]] = {
    "money": money,
    "date": date_filter,
    "pluralize": pluralize,
    "url_param": url_param,
    "image_fallback": image_fallback,
    "json": json_filter,
}
