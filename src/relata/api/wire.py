"""Parsing pieces shared by the Customer.io-compatible APIs: attributes, relationships, times, text.

Each function raises ``ValidationError`` with the path of the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relata.core.errors import ValidationError
from relata.core.identity import (
    is_object_identifiers,
    object_ref_from_identifiers,
    person_ref_from_identifiers,
)
from relata.core.operations import Anonymous, Link
from relata.core.times import Millis, parse_timestamp


def attributes(value: Any, path: str) -> dict[str, Any]:
    """An attributes object (``None`` is empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(path, "must be a JSON object")
    return dict(value)


def text(value: Any, path: str, *, required: bool = True) -> str | None:
    """A non-empty string (numbers are accepted and turned into strings, as Customer.io does)."""
    if value is None or value == "":
        if required:
            raise ValidationError(path, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError(path, "must be a string")
    return str(value)


def timestamp(value: Any, path: str) -> Millis | None:
    return None if value is None else parse_timestamp(value, path)


def links(value: Any, path: str) -> tuple[Link, ...]:
    """``cio_relationships`` items: ``{"identifiers": {...}, "relationship_attributes": {...}}``.

    Identifiers name an object (``object_type_id`` + ``object_id``, or ``cio_object_id``), a person
    (``id``/``email``/``cio_id``) or an anonymous visitor (``anonymous_id``).
    """
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValidationError(path, "must be a list of relationships")
    found: list[Link] = []
    for index, item in enumerate(value):
        here = f"{path}[{index}]"
        if not isinstance(item, Mapping):
            raise ValidationError(here, "must be an object with identifiers")
        identifiers = item.get("identifiers")
        relationship_attributes = attributes(
            item.get("relationship_attributes"), f"{here}.relationship_attributes"
        )
        found.append(Link(target(identifiers, f"{here}.identifiers"), relationship_attributes))
    return tuple(found)


def target(identifiers: Any, path: str) -> Any:
    """The other end of a relationship named by ``identifiers``."""
    if isinstance(identifiers, Mapping) and set(identifiers) == {"anonymous_id"}:
        return Anonymous(text(identifiers["anonymous_id"], f"{path}.anonymous_id") or "")
    if is_object_identifiers(identifiers):
        return object_ref_from_identifiers(identifiers, path)
    return person_ref_from_identifiers(identifiers, path)


def cio_relationships(value: Any, path: str) -> tuple[tuple[Link, ...], bool]:
    """Track v1's ``cio_relationships``: a list, or ``{"action": ..., "relationships": [...]}``.

    Returns the links and whether they are to be removed.
    """
    if isinstance(value, list) or value is None:
        return links(value, path), False
    if not isinstance(value, Mapping):
        raise ValidationError(path, "must be a list or an object with action and relationships")
    action = value.get("action", "add_relationships")
    if action not in ("add_relationships", "delete_relationships"):
        raise ValidationError(f"{path}.action", 'must be "add_relationships" or "delete_relationships"')
    return links(value.get("relationships"), f"{path}.relationships"), action == "delete_relationships"
