"""Walking a condition tree: the leaves under its ``and`` / ``or`` / ``not`` nodes.

Analyses that read what a condition tests (its dependencies, the data it needs, its next time flip)
treat the boolean nodes alike — they only descend — and differ at the leaves.
"""

from __future__ import annotations

from collections.abc import Iterator

from relata.core.conditions.tree import (
    And,
    Attribute,
    Condition,
    Event,
    Message,
    Not,
    Or,
    Related,
    Segment,
    TriggerObject,
)

Leaf = Attribute | Event | Related | Segment | Message | TriggerObject


def leaves(condition: Condition) -> Iterator[Leaf]:
    """The non-boolean nodes of ``condition``, depth first, left to right."""
    if isinstance(condition, And | Or):
        for item in condition.items:
            yield from leaves(item)
    elif isinstance(condition, Not):
        yield from leaves(condition.item)
    else:
        yield condition


__all__ = ["Leaf", "leaves"]
