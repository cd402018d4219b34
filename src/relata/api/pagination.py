"""Cursor pagination for the App API: ``limit`` and an opaque ``cursor``; responses carry ``next``.

A cursor is the key of the last item of a page, tagged with the list it belongs to, as unpadded
base64url JSON. It is opaque to clients: pass ``next`` back as ``cursor`` (or as ``start``, the name
Customer.io's App API uses) to get the following page; ``next`` is null on the last page. A cursor that
is not one this list issued is a 400 naming the parameter.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any

import orjson
from fastapi import Query

from relata.core.errors import ValidationError

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000

Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})."),
]
Cursor = Annotated[
    str | None,
    Query(max_length=500, description="The `next` value of the previous page; omit for the first page."),
]
Start = Annotated[
    str | None,
    Query(max_length=500, description="Customer.io's name for `cursor`; either may be used."),
]


def encode(kind: str, key: Sequence[Any] | None) -> str | None:
    """The cursor for the page after ``key`` in list ``kind``; None when there is no next page."""
    if key is None:
        return None
    raw = orjson.dumps([kind, *key])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(cursor: str | None, start: str | None, kind: str, shape: Sequence[type]) -> tuple[Any, ...] | None:
    """The key carried by ``cursor`` (or ``start``), checked to be one ``kind`` issued; None if neither."""
    value, name = (cursor, "cursor") if cursor else (start, "start")
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        parsed = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise ValidationError(name, "is not a valid cursor; pass the next value of a previous page") from None
    if (
        not isinstance(parsed, list)
        or len(parsed) != len(shape) + 1
        or parsed[0] != kind
        or not all(
            isinstance(v, t) and not isinstance(v, bool) for v, t in zip(parsed[1:], shape, strict=True)
        )
    ):
        raise ValidationError(name, "is not a cursor of this list; pass the next value of a previous page")
    return tuple(parsed[1:])


def _fits(value: Any, kind: type) -> bool:
    if isinstance(value, bool) or not isinstance(value, kind):
        return False
    return not isinstance(value, int) or -(2**63) <= value < 2**63
