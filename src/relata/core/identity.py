"""How people and objects are named in requests (SPEC §2, §3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from relata.core.errors import ValidationError

PersonKey = Literal["id", "email", "cio_id"]


@dataclass(frozen=True)
class PersonRef:
    """A person named by their ``id``, their ``email`` (case-insensitive) or their ``cio_id``."""

    kind: PersonKey
    value: str

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"


@dataclass(frozen=True)
class ObjectRef:
    """An object named by its type (numeric id or name) and object id, or by its ``cio_object_id``."""

    type: str | None
    object_id: str | None
    cio_object_id: str | None = None

    def __str__(self) -> str:
        if self.cio_object_id is not None:
            return f"cio_object_id={self.cio_object_id}"
        return f"{self.type}/{self.object_id}"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def person_ref_from_path(identifier: str, path: str = "identifier") -> PersonRef:
    """A Track v1 path identifier: an email when it contains ``@``, ``cio_<id>``, else an id."""
    if not identifier or not identifier.strip():
        raise ValidationError(path, "must not be empty")
    if identifier.startswith("cio_") and len(identifier) > 4:
        return PersonRef("cio_id", identifier[4:])
    if "@" in identifier:
        return PersonRef("email", identifier)
    return PersonRef("id", identifier)


def _text(value: object, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(path, "must be a string")
    text = str(value)
    if not text.strip():
        raise ValidationError(path, "must not be empty")
    return text


def person_ref_from_identifiers(identifiers: object, path: str = "identifiers") -> PersonRef:
    """Track v2 person identifiers: exactly one of ``{"id"}``, ``{"email"}``, ``{"cio_id"}``."""
    if not isinstance(identifiers, Mapping):
        raise ValidationError(path, 'must be an object with exactly one of "id", "email", "cio_id"')
    keys = [k for k in ("id", "email", "cio_id") if k in identifiers and identifiers[k] is not None]
    unknown = sorted(set(identifiers) - {"id", "email", "cio_id"})
    if unknown:
        raise ValidationError(
            f"{path}.{unknown[0]}", 'unknown identifier; use one of "id", "email", "cio_id"'
        )
    if len(keys) != 1:
        raise ValidationError(path, 'must have exactly one of "id", "email", "cio_id"')
    key: PersonKey = keys[0]  # type: ignore[assignment]
    value = _text(identifiers[key], f"{path}.{key}")
    if key == "email" and "@" not in value:
        raise ValidationError(f"{path}.email", "is not an email address")
    return PersonRef(key, value)


def object_ref_from_identifiers(identifiers: object, path: str = "identifiers") -> ObjectRef:
    """Object identifiers: ``{"object_type_id", "object_id"}`` or ``{"cio_object_id"}``."""
    if not isinstance(identifiers, Mapping):
        raise ValidationError(path, 'must be an object with "object_type_id" and "object_id"')
    if identifiers.get("cio_object_id") is not None:
        return ObjectRef(None, None, _text(identifiers["cio_object_id"], f"{path}.cio_object_id"))
    type_value = identifiers.get("object_type_id", identifiers.get("object_type"))
    if type_value is None:
        raise ValidationError(f"{path}.object_type_id", "is required")
    if "object_id" not in identifiers or identifiers["object_id"] is None:
        raise ValidationError(f"{path}.object_id", "is required")
    return ObjectRef(
        _text(type_value, f"{path}.object_type_id"), _text(identifiers["object_id"], f"{path}.object_id")
    )


def is_object_identifiers(identifiers: object) -> bool:
    return isinstance(identifiers, Mapping) and (
        "object_id" in identifiers or "cio_object_id" in identifiers or "object_type_id" in identifiers
    )
