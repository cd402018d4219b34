"""Attribute semantics shared by people, objects and relationships (SPEC §2).

Each attribute is a last-writer-wins register keyed by the timestamp of the write that set it. A write
merges its attributes into the stored ones; ``null`` or ``""`` removes an attribute, leaving a
tombstone stamp so that an older write arriving later cannot bring it back.

Equal stamps: a write that carries its own timestamp is ordered by the canonical JSON of its value, so
applying any permutation of the same timestamped writes yields the same state. A write stamped with the
time it was received (``arrival=True``) is ordered by arrival instead: it wins a tie, so two updates in
one request (or one millisecond) keep the later one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from relata.core.times import Millis

JSON = Any
Diff = dict[str, tuple[JSON, JSON]]


def is_removal(value: JSON) -> bool:
    return value is None or value == ""


def _differs(old: JSON, new: JSON) -> bool:
    """Whether two JSON values differ as JSON (Python has ``0 == False`` and ``[1] == [True]``)."""
    if old != new or type(old) is not type(new):
        return True
    return isinstance(old, list | dict) and _rank(old) != _rank(new)


def _rank(value: JSON) -> bytes:
    return orjson.dumps(None if is_removal(value) else value, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class AttributeState:
    """Visible values, and the stamp of every attribute ever written (removed ones included)."""

    values: Mapping[str, JSON] = field(default_factory=dict)
    stamps: Mapping[str, Millis] = field(default_factory=dict)

    def merge(
        self, writes: Mapping[str, JSON], stamp: Millis, *, arrival: bool = False
    ) -> tuple[AttributeState, Diff]:
        """Apply one write. Returns the new state and the visible changes as ``{name: (from, to)}``.

        ``arrival``: the stamp is the time of receipt, not a timestamp the sender gave (wins ties).
        """
        values: dict[str, JSON] | None = None
        stamps: dict[str, Millis] | None = None
        diff: Diff = {}
        for name, value in writes.items():
            current_stamp = self.stamps.get(name)
            if current_stamp is not None:
                if stamp < current_stamp:
                    continue
                if stamp == current_stamp and not arrival and _rank(value) <= _rank(self.values.get(name)):
                    continue
            if values is None or stamps is None:
                values, stamps = dict(self.values), dict(self.stamps)
            stamps[name] = stamp
            old = values.get(name)
            if is_removal(value):
                if name in values:
                    del values[name]
                    diff[name] = (old, None)
            elif name not in values or _differs(old, value):
                values[name] = value
                diff[name] = (old, value)
        if values is None or stamps is None:
            return self, diff
        return AttributeState(values, stamps), diff

    def count_after(self, writes: Mapping[str, JSON]) -> int:
        """How many visible attributes there would be at most after ``writes`` (for the 300 limit)."""
        names = set(self.values)
        for name, value in writes.items():
            if is_removal(value):
                names.discard(name)
            else:
                names.add(name)
        return len(names)
