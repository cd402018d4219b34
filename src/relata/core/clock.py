"""Time is injected: services ask a ``Clock``; tests use ``FakeClock``."""

from __future__ import annotations

from typing import Protocol

from relata.core.times import Millis


class Clock(Protocol):
    def now(self) -> Millis:
        """Milliseconds since the epoch, UTC."""
        ...


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: Millis = 1_767_225_600_000) -> None:  # 2026-01-01T00:00:00Z
        self.current = start

    def now(self) -> Millis:
        return self.current

    def advance(self, ms: Millis) -> None:
        self.current += ms
