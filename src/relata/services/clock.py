"""The wall clock."""

from __future__ import annotations

import time

from relata.core.times import Millis


class SystemClock:
    def now(self) -> Millis:
        return time.time_ns() // 1_000_000
