"""How attribute values compare (SPEC §6: numbers numerically, timestamps as times, strings by case).

This module is the definition both executors follow; ``relata.storage.conditions_sql`` builds the same
rules in SQL. The rules, in short:

- A value is *missing* when the key is absent or JSON ``null``.
- *Numbers* are JSON numbers (not booleans) and *numeric strings* (``-?[0-9]+(\\.[0-9]+)?``, at most 300
  characters), compared as IEEE doubles.
- *Times* are numbers or numeric strings read as unix seconds (or unix milliseconds from 1e11 up), and
  ISO-8601 strings of the shapes ``YYYY-MM-DD`` and ``YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}][Z|±HH:MM]``
  (fractions are truncated to milliseconds; naive times are UTC). They compare as milliseconds.
- *Strings* compare case-sensitively by code point, or after ASCII lower-casing with
  ``"case": "insensitive"``.
"""

from __future__ import annotations

import re
from typing import Any

NUMERIC = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
NUMERIC_MAX_LENGTH = 300
ISO = re.compile(
    r"([1-9][0-9]{3})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?(Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
MS_THRESHOLD = 100_000_000_000.0  # numbers from here up are unix milliseconds

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """ASCII lower-casing, the case-insensitive comparison both databases can do the same way."""
    return text.translate(_ASCII_LOWER)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_numeric_string(value: Any) -> bool:
    return (
        isinstance(value, str) and len(value) <= NUMERIC_MAX_LENGTH and NUMERIC.fullmatch(value) is not None
    )


def as_number(value: Any) -> float | None:
    """The number a value stands for: a JSON number or a numeric string."""
    if is_number(value):
        return float(value)
    if is_numeric_string(value):
        return float(value)
    return None


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (days past a month's end roll over)."""
    year -= 1 if month <= 2 else 0
    era = year // 400
    yoe = year - era * 400
    mp = month - 3 if month > 2 else month + 9
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def iso_millis(text: str) -> int | None:
    """Milliseconds of an ISO-8601 string of the accepted shapes, or None."""
    match = ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    hour = int(match[4] or 0)
    minute = int(match[5] or 0)
    second = int(match[6] or 0)
    fraction = match[7] or ""
    zone = match[8] or ""
    offset = 0
    if zone and zone != "Z":
        zone_hours, zone_minutes = int(zone[1:3]), int(zone[4:6])
        if zone_hours > 23 or zone_minutes > 59:
            return None
        offset = (zone_hours * 60 + zone_minutes) * 60_000 * (1 if zone[0] == "+" else -1)
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 59):
        return None
    millis = int((fraction + "00")[:3])
    return (
        days_from_civil(year, month, day) * 86_400_000
        + hour * 3_600_000
        + minute * 60_000
        + second * 1000
        + millis
        - offset
    )


def number_as_time(number: float) -> float:
    return number if number >= MS_THRESHOLD else number * 1000.0


def as_time(value: Any) -> float | None:
    """Milliseconds since the epoch a value stands for, or None when it is not a time."""
    number = as_number(value)
    if number is not None:
        return number_as_time(number)
    if isinstance(value, str):
        millis = iso_millis(value)
        return None if millis is None else float(millis)
    return None


def equals(value: Any, literal: Any, insensitive: bool = False) -> bool:
    """``eq``: typed equality of a stored value and a literal (missing values equal nothing)."""
    if value is None:
        return False
    if isinstance(literal, bool):
        if isinstance(value, bool):
            return value is literal
        return isinstance(value, str) and value == ("true" if literal else "false")
    if is_number(literal):
        number = as_number(value)
        return number is not None and number == float(literal)
    if isinstance(literal, str):
        if isinstance(value, str):
            return fold(value) == fold(literal) if insensitive else value == literal
        if isinstance(value, bool):
            return literal == ("true" if value else "false")
        if is_number(value) and is_numeric_string(literal):
            return float(value) == float(literal)
    return False


OrderKind = str  # "number" | "time" | "string"


def order_kind(literal: Any) -> OrderKind | None:
    """How ``gt``/``gte``/``lt``/``lte``/``between`` compare against this literal."""
    if is_number(literal) or is_numeric_string(literal):
        return "number"
    if isinstance(literal, str):
        return "time" if iso_millis(literal) is not None else "string"
    return None


def ordered_operands(value: Any, literal: Any, insensitive: bool) -> tuple[Any, Any] | None:
    """The two sides of an ordering comparison in the literal's kind, or None when incomparable."""
    kind = order_kind(literal)
    if kind == "number":
        number = as_number(value)
        return None if number is None else (number, as_number(literal))
    if kind == "time":
        moment = as_time(value)
        return None if moment is None else (moment, as_time(literal))
    if kind == "string" and isinstance(value, str):
        return (fold(value), fold(literal)) if insensitive else (value, literal)
    return None


def compare(operator: str, left: Any, right: Any) -> bool:
    if operator == "gt":
        return bool(left > right)
    if operator == "gte":
        return bool(left >= right)
    if operator == "lt":
        return bool(left < right)
    if operator == "lte":
        return bool(left <= right)
    if operator == "eq":
        return bool(left == right)
    if operator == "neq":
        return bool(left != right)
    raise ValueError(f"not a comparison: {operator}")


def between_kind(low: Any, high: Any) -> OrderKind | None:
    """``between`` compares numerically when both bounds are numbers, as times when both are ISO times."""
    if as_number(low) is not None and as_number(high) is not None:
        return "number"
    if (
        isinstance(low, str)
        and isinstance(high, str)
        and iso_millis(low) is not None
        and iso_millis(high) is not None
    ):
        return "time"
    return None


def contains(value: Any, literal: Any, insensitive: bool = False) -> bool:
    """Substring of a string value, or an element of an array value equal to the literal."""
    if isinstance(value, str) and isinstance(literal, str):
        return fold(literal) in fold(value) if insensitive else literal in value
    if isinstance(value, list):
        return any(equals(item, literal, insensitive) for item in value)
    return False


def starts_with(value: Any, literal: Any, insensitive: bool = False) -> bool:
    if not isinstance(value, str) or not isinstance(literal, str):
        return False
    return fold(value).startswith(fold(literal)) if insensitive else value.startswith(literal)


def ends_with(value: Any, literal: Any, insensitive: bool = False) -> bool:
    if not isinstance(value, str) or not isinstance(literal, str):
        return False
    return fold(value).endswith(fold(literal)) if insensitive else value.endswith(literal)
