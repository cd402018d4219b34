"""Size limits on ingested data (SPEC §3). Defaults follow Customer.io; all are configurable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from relata.core.errors import ValidationError


@dataclass(frozen=True)
class Limits:
    identifier_bytes: int = 150
    attribute_name_bytes: int = 150
    attribute_value_bytes: int = 1000
    attributes_per_entity: int = 300
    attributes_total_bytes: int = 100_000
    event_name_bytes: int = 100
    event_data_bytes: int = 100_000
    entity_request_bytes: int = 32_000
    batch_request_bytes: int = 500_000
    batch_operation_bytes: int = 32_000

    def check_identifier(self, value: str, path: str) -> None:
        if "\x00" in value:
            raise ValidationError(path, "must not contain NUL characters")
        if len(value.encode()) > self.identifier_bytes:
            raise ValidationError(path, f"is longer than {self.identifier_bytes} bytes", "too_large")

    def check_event_name(self, name: str, path: str) -> None:
        if len(name.encode()) > self.event_name_bytes:
            raise ValidationError(path, f"is longer than {self.event_name_bytes} bytes", "too_large")

    def check_event_data(self, data: Mapping[str, object], path: str) -> None:
        encoded = orjson.dumps(data)
        if b"\\u0000" in encoded:
            raise ValidationError(_nul_path(data, path), "must not contain NUL characters")
        if len(encoded) > self.event_data_bytes:
            raise ValidationError(path, f"is larger than {self.event_data_bytes} bytes", "too_large")

    def check_attributes(self, attributes: Mapping[str, object], path: str) -> None:
        """Each name and value within its limit, at most N attributes and M bytes in all."""
        if len(attributes) > self.attributes_per_entity:
            raise ValidationError(path, f"has more than {self.attributes_per_entity} attributes", "too_large")
        total = 0
        for name, value in attributes.items():
            if not name:
                raise ValidationError(path, "attribute names must not be empty")
            if len(name.encode()) > self.attribute_name_bytes:
                raise ValidationError(
                    f"{path}.{name[:40]}",
                    f"name is longer than {self.attribute_name_bytes} bytes",
                    "too_large",
                )
            if "\x00" in name:
                raise ValidationError(path, "attribute names must not contain NUL characters")
            encoded = value.encode() if isinstance(value, str) else orjson.dumps(value)
            if b"\x00" in encoded or b"\\u0000" in encoded:
                raise ValidationError(_nul_path(value, f"{path}.{name}"), "must not contain NUL characters")
            size = len(encoded)
            if size > self.attribute_value_bytes:
                raise ValidationError(
                    f"{path}.{name}", f"value is larger than {self.attribute_value_bytes} bytes", "too_large"
                )
            total += size + len(name)
        if total > self.attributes_total_bytes:
            raise ValidationError(path, f"are larger than {self.attributes_total_bytes} bytes", "too_large")

    def check_attribute_count(self, count: int, path: str) -> None:
        if count > self.attributes_per_entity:
            raise ValidationError(
                path, f"would give more than {self.attributes_per_entity} attributes", "too_large"
            )


def _nul_path(value: object, path: str) -> str:
    """Where in ``value`` a NUL character is (PostgreSQL cannot store one in text or JSONB)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if _has_nul(key) or _has_nul(item):
                return _nul_path(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if _has_nul(item):
                return _nul_path(item, f"{path}[{index}]")
    return path


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
