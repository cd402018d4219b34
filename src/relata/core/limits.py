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
        if len(value.encode()) > self.identifier_bytes:
            raise ValidationError(path, f"is longer than {self.identifier_bytes} bytes", "too_large")

    def check_event_name(self, name: str, path: str) -> None:
        if len(name.encode()) > self.event_name_bytes:
            raise ValidationError(path, f"is longer than {self.event_name_bytes} bytes", "too_large")

    def check_event_data(self, data: Mapping[str, object], path: str) -> None:
        if len(orjson.dumps(data)) > self.event_data_bytes:
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
            size = len(value.encode()) if isinstance(value, str) else len(orjson.dumps(value))
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
