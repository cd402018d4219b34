"""Timestamps and durations: every accepted form, and errors that name the field."""

from __future__ import annotations

import pytest

from relata.core.errors import ValidationError
from relata.core.times import MAX_MILLIS, format_duration, parse_duration, parse_timestamp, to_iso


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_767_225_600, 1_767_225_600_000),
        (1_767_225_600.5, 1_767_225_600_500),
        (1_767_225_600_123, 1_767_225_600_123),
        ("1767225600", 1_767_225_600_000),
        ("2026-01-01T00:00:00Z", 1_767_225_600_000),
        ("2026-01-01T01:00:00+01:00", 1_767_225_600_000),
        ("2026-01-01", 1_767_225_600_000),
    ],
)
def test_accepted_forms(value: object, expected: int) -> None:
    assert parse_timestamp(value, "timestamp") == expected


@pytest.mark.parametrize(
    "value", [True, -1, "yesterday", None, [], float("nan"), float("inf"), 1e30, "10000-01-01"]
)
def test_rejected_forms_name_the_field(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_timestamp(value, "attributes.updated_at")
    assert caught.value.path == "attributes.updated_at"


def test_the_last_instant_is_accepted() -> None:
    assert parse_timestamp("9999-12-31T23:59:59Z", "t") == MAX_MILLIS
    assert to_iso(MAX_MILLIS) == "9999-12-31T23:59:59Z"


def test_durations() -> None:
    assert parse_duration("4h", "d") == 4 * 3_600_000
    assert parse_duration("7d", "d") == 7 * 86_400_000
    assert parse_duration(90, "d") == 90_000
    assert format_duration(parse_duration("72h", "d")) == "3d"
    with pytest.raises(ValidationError):
        parse_duration("soon", "d")
