"""Tables of templates (see ``relata.storage.schema`` for the conventions)."""

from __future__ import annotations

from relata.storage.schema import metadata

__all__ = ["metadata"]
