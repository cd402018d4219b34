"""Limits name the field they are about, NUL characters included (PostgreSQL cannot store them)."""

from __future__ import annotations

import pytest

from relata.core.errors import ValidationError
from relata.core.limits import Limits

LIMITS = Limits()


@pytest.mark.parametrize(
    ("check", "value", "path"),
    [
        (LIMITS.check_attributes, {"bio": "a\x00b"}, "attributes.bio"),
        (LIMITS.check_attributes, {"j": {"k": ["ok", "\x00"]}}, "attributes.j.k[1]"),
        (LIMITS.check_attributes, {"a\x00": 1}, "attributes"),
        (LIMITS.check_attributes, {"big": "x" * 1001}, "attributes.big"),
        (LIMITS.check_attributes, {f"a{i}": i for i in range(301)}, "attributes"),
        (LIMITS.check_event_data, {"x": {"y": "\x00"}}, "data.x.y"),
        (LIMITS.check_event_data, {"x": "y" * 100_001}, "data"),
        (LIMITS.check_identifier, "a\x00", "identifiers.id"),
        (LIMITS.check_identifier, "x" * 151, "identifiers.id"),
    ],
)
def test_limit_errors_name_the_field(check, value, path) -> None:
    root = path.split(".")[0].split("[")[0]
    with pytest.raises(ValidationError) as caught:
        check(value, "identifiers.id" if root == "identifiers" else root)
    assert caught.value.path == path


def test_unicode_within_limits_passes() -> None:
    LIMITS.check_attributes({"bio": "fine é ✓", "n": [1, {"a": "b"}]}, "attributes")
    LIMITS.check_event_data({"emoji": "🛒"}, "data")
