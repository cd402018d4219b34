"""The condition language of SPEC §6: one tree for segments, triggers, guards, goals and branches.

- ``parse_condition(data)`` / ``to_data(condition)``: JSON/YAML form ⇄ tree, errors with their path;
- ``validate(condition, contract)``: relationship, type and attribute names against the data contract;
- ``Scope`` / ``resolve``: values for refs (``trigger.cart.updated_at``) and the trigger object;
- ``evaluate(condition, snapshot, now=…)``: the per-person executor over a ``PersonSnapshot``.

The set-based executor is ``relata.storage.conditions_sql``; the reference is docs/conditions.md.
"""

from relata.core.conditions.evaluate import evaluate
from relata.core.conditions.parse import parse_condition, to_data
from relata.core.conditions.plan import Hop, plan_hop, validate
from relata.core.conditions.scope import Scope, resolve
from relata.core.conditions.snapshot import EventSnapshot, LinkSnapshot, ObjectSnapshot, PersonSnapshot
from relata.core.conditions.tree import (
    MESSAGE_EVENTS,
    MISSING,
    OPERATORS,
    Aggregate,
    And,
    Attribute,
    Bound,
    Condition,
    Event,
    Message,
    Missing,
    Not,
    Or,
    Ref,
    Related,
    Segment,
    TriggerObject,
)

__all__ = [
    "MESSAGE_EVENTS",
    "MISSING",
    "OPERATORS",
    "Aggregate",
    "And",
    "Attribute",
    "Bound",
    "Condition",
    "Event",
    "EventSnapshot",
    "Hop",
    "LinkSnapshot",
    "Message",
    "Missing",
    "Not",
    "ObjectSnapshot",
    "Or",
    "PersonSnapshot",
    "Ref",
    "Related",
    "Scope",
    "Segment",
    "TriggerObject",
    "evaluate",
    "parse_condition",
    "plan_hop",
    "resolve",
    "to_data",
    "validate",
]
