"""Timestamps and durations. Internally every instant is an int of milliseconds since the epoch (UTC)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from relata.core.errors import ValidationError

Millis = int

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
# Unix seconds above this are taken to be milliseconds (year 5138 in seconds).
_MS_THRESHOLD = 100_000_000_000
# 9999-12-31T23:59:59Z: the last instant every store and datetime can hold.
MAX_MILLIS = 253_402_300_799_000


def to_millis(dt: datetime) -> Millis:
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return int(dt.timestamp() * 1000)


def from_millis(ms: Millis) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_unix(ms: Millis) -> int:
    return ms // 1000


def to_iso(ms: Millis) -> str:
    return from_millis(ms).isoformat().replace("+00:00", "Z")


def parse_timestamp(value: object, path: str) -> Millis:
    """Unix seconds (int/float, or milliseconds when implausibly large) or ISO-8601 -> milliseconds."""
    ms = _parse_timestamp(value, path)
    if ms > MAX_MILLIS:
        raise ValidationError(path, "must be before the year 10000")
    return ms


def _parse_timestamp(value: object, path: str) -> Millis:
    if isinstance(value, bool):
        raise ValidationError(path, "must be a unix timestamp or an ISO-8601 date-time")
    if isinstance(value, int | float):
        if value < 0 or math.isnan(value):
            raise ValidationError(path, "must be a non-negative number")
        if value == float("inf"):
            raise ValidationError(path, "must be before the year 10000")
        if value >= _MS_THRESHOLD:
            return int(value)
        return int(value * 1000)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return _parse_timestamp(float(text) if "." in text else int(text), path)
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValidationError(path, f"{value!r} is not a unix timestamp or ISO-8601 date-time") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return to_millis(dt)
    raise ValidationError(path, "must be a unix timestamp or an ISO-8601 date-time")


def parse_duration(value: object, path: str) -> Millis:
    """``"30m"``, ``"4h"``, ``"7d"``, ``"2w"`` or a number of seconds -> milliseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return int(value * 1000)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return int(float(match.group(1)) * _UNIT_MS[match.group(2)])
    raise ValidationError(path, f"{value!r} is not a duration like 30m, 4h or 7d")


def format_duration(ms: Millis) -> str:
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_MS[unit]
        if ms % size == 0 and ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def as_timedelta(ms: Millis) -> timedelta:
    return timedelta(milliseconds=ms)
