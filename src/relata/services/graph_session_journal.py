"""The undo journal of a ``GraphSession``: every change to its state between ``begin`` and ``commit``.

The session's state is dicts and lists; each write to them goes through ``Journal.set`` or
``Journal.append``, which record what was there before while an operation is open. ``rollback`` replays
the record backwards, so a rejected operation leaves nothing behind and its neighbours in the batch see
the state as if it had never run. Outside an operation nothing is recorded.
"""

from __future__ import annotations

from typing import Any

ABSENT: Any = object()  # no entry: a key the session does not hold, or held nothing for


class Journal:
    """The changes of the open operation, oldest first; ``None`` when no operation is open."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, Any, Any]] | None = None

    def begin(self) -> None:
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        """Undo every change since ``begin``, newest first."""
        undo, self._undo = self._undo or [], None
        for target, key, old in reversed(undo):
            if isinstance(target, list):
                del target[key:]
            elif old is ABSENT:
                target.pop(key, None)
            else:
                target[key] = old

    def set(self, target: dict[Any, Any], key: Any, value: Any) -> None:
        if self._undo is not None:
            self._undo.append((target, key, target.get(key, ABSENT)))
        target[key] = value

    def append(self, target: list[Any], value: Any) -> None:
        if self._undo is not None:
            self._undo.append((target, len(target), None))
        target.append(value)
