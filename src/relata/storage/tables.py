"""Every table of every subsystem, registered on one ``metadata`` (what migrations compare against)."""

from __future__ import annotations

from relata.storage import schema_segments, schema_templates
from relata.storage.schema import metadata

__all__ = ["metadata", "schema_segments", "schema_templates"]
