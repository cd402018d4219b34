"""Limits on a render: time, output size, loop iterations, related entities (SPEC §7 sandbox).

Liquid itself cannot reach the file system or the network here: the environment has no file
loader (``include``/``render`` read only an in-memory snippet store), ``now``/``today`` are the
instant given by the caller, and CSS inlining never fetches stylesheets. What a template can still
do is spend: these limits turn that into an ``Aborted("render_limit", ...)`` outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from io import StringIO
from typing import Any

from liquid import RenderContext
from liquid.undefined import UNDEFINED


@dataclass(frozen=True)
class Limits:
    render_seconds: float = 0.5
    output_chars: int = 512 * 1024
    loop_iterations: int = 10_000
    related_entities: int = 10_000
    local_namespace_bytes: int = 1024 * 1024


class RenderLimitError(Exception):
    """A sandbox limit was reached; the message says which."""


class AbortSignal(Exception):
    """``{% abort "reason" %}`` was rendered."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Budget:
    """A render's time allowance. ``clock`` is a monotonic clock (CPU budget, not domain time)."""

    __slots__ = ("clock", "deadline", "seconds", "ticks")

    def __init__(self, seconds: float, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.seconds = seconds
        self.deadline = clock() + seconds
        self.ticks = 0

    def check(self) -> None:
        if self.clock() > self.deadline:
            raise RenderLimitError(f"render took longer than {self.seconds:g} s")

    def tick(self) -> None:
        self.ticks += 1
        if not self.ticks & 31:
            self.check()


@dataclass
class RenderState:
    """Per-render values that filters and tags read (through ``SandboxContext.state``)."""

    budget: Budget
    timezone: str = "UTC"
    now: datetime | None = None
    links: Mapping[str, str] = field(default_factory=dict)
    used_links: set[str] = field(default_factory=set)


class SandboxContext(RenderContext):
    """A Liquid render context that carries the render state and spends the time budget."""

    __slots__ = ("state",)
    state: RenderState

    def get(self, path: list[object], *, token: Any, default: object = UNDEFINED) -> object:
        budget = self.state.budget
        budget.ticks += 1
        if not budget.ticks & 63:
            budget.check()
        return RenderContext.get(self, path, token=token, default=default)

    def copy(self, *args: Any, **kwargs: Any) -> RenderContext:
        ctx = super().copy(*args, **kwargs)
        if isinstance(ctx, SandboxContext):
            ctx.state = self.state
        return ctx


def state_of(context: RenderContext) -> RenderState | None:
    return context.state if isinstance(context, SandboxContext) else None


class LimitedOutput(StringIO):
    """An output buffer that stops at ``limit`` characters (time is spent-checked on variable reads)."""

    __slots__ = ("limit", "room")

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.room = limit

    @property
    def size(self) -> int:
        """Characters written so far."""
        return self.limit - self.room

    def write(self, text: str, /) -> int:
        room = self.room - len(text)
        if room < 0:
            raise RenderLimitError(f"output larger than {self.limit} characters")
        self.room = room
        return _write(self, text)


_write = StringIO.write
