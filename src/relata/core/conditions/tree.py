"""The condition tree (SPEC §6): frozen values built by ``parse`` and read by both executors.

A condition is a tree of ``And``/``Or``/``Not`` over leaves. Which leaves may appear depends on where
the condition stands (its *context*):

- person context (a segment, a trigger audience, a guard, a goal): every leaf;
- object context (``related.where``, ``trigger_object``): ``attribute`` (of the object) and ``related``;
- data context (``event.where``, ``relationship_where``): ``attribute`` only (of the event's data or of
  the relationship's attributes).

Values are JSON literals or ``Ref``s to a field in scope (``trigger.cart.updated_at``), resolved by
``relata.core.conditions.scope.resolve`` before evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from relata.core.times import Millis

Scalar = str | int | float | bool

OPERATORS: tuple[str, ...] = (
    "eq",
    "neq",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "exists",
    "not_exists",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "within",
    "older_than",
    "before",
    "after",
    "between",
)
# Each negative operator is exactly the negation of its positive form (so it holds on a missing attribute).
NEGATIONS: dict[str, str] = {"neq": "eq", "not_in": "in", "not_exists": "exists", "not_contains": "contains"}
ORDERING = ("gt", "gte", "lt", "lte")
TIME_OPERATORS = ("within", "older_than", "before", "after", "between")
STRING_OPERATORS = ("contains", "not_contains", "starts_with", "ends_with")
COUNT_OPERATORS: tuple[str, ...] = ("eq", "gt", "gte", "lt", "lte")
AGGREGATE_FUNCTIONS: tuple[str, ...] = ("count", "sum", "min", "max", "avg")
AGGREGATE_OPERATORS: tuple[str, ...] = ("eq", "neq", "gt", "gte", "lt", "lte", "between")
OCCURRENCE_OPERATORS: tuple[str, ...] = ("within", "older_than", "before", "after", "between")
REF_ROOTS: tuple[str, ...] = ("trigger", "customer", "event")

# The ``message`` leaf reads delivery activity recorded as events on the person (SPEC §2): these names,
# with ``campaign_id`` and ``template`` in the event data.
MESSAGE_EVENTS: dict[str, str] = {
    "received": "message_sent",
    "delivered": "message_delivered",
    "opened": "message_opened",
    "clicked": "message_clicked",
    "converted": "message_converted",
    "bounced": "message_bounced",
    "unsubscribed": "message_unsubscribed",
}

Occurrence = Literal["first", "last"]


@dataclass(frozen=True)
class Ref:
    """A value read from the scope at evaluation time: ``trigger.cart.updated_at``, ``customer.timezone``."""

    path: str


@dataclass(frozen=True)
class Missing:
    """What a ``Ref`` resolves to when the scope has no such field (comparisons against it are false)."""


MISSING = Missing()

Value = Scalar | Ref | Missing | tuple["Scalar | Ref | Missing", ...]


@dataclass(frozen=True)
class Attribute:
    """``field operator value`` on the attributes of whatever the context names."""

    field: str
    operator: str
    value: Value | None = None
    case_insensitive: bool = False


@dataclass(frozen=True)
class Bound:
    """One bound of a count: ``count {gte: 2}``."""

    operator: str
    value: int


@dataclass(frozen=True)
class Event:
    """Events named ``name`` (``where`` on their data, ``within`` a window before now).

    Without ``occurrence`` it holds when the number of such events meets every bound of ``count``
    (default: at least one). With ``occurrence`` ("first"/"last") it tests the time of the first or last
    such event with ``operator``/``value`` (a time operator).
    """

    name: str
    where: Condition | None = None
    within: Millis | None = None
    count: tuple[Bound, ...] = ()
    occurrence: Occurrence | None = None
    operator: str | None = None
    value: Value | None = None


@dataclass(frozen=True)
class Aggregate:
    function: str
    field: str | None
    operator: str
    value: Value


@dataclass(frozen=True)
class Related:
    """Objects related to the current person or object, by relationship name (``via``) and/or ``type``."""

    type: str | None = None
    via: str | None = None
    where: Condition | None = None
    relationship_where: Condition | None = None
    count: tuple[Bound, ...] = ()
    aggregate: Aggregate | None = None


@dataclass(frozen=True)
class Segment:
    id: str


@dataclass(frozen=True)
class Message:
    """The person received/opened/clicked… a message of ``campaign`` (and/or ``template``).

    Read from the message events of ``MESSAGE_EVENTS``; ``to_event`` gives the equivalent event leaf.
    """

    action: str
    campaign: str | None = None
    template: str | None = None
    within: Millis | None = None
    count: tuple[Bound, ...] = ()

    def to_event(self) -> Event:
        tests: list[Condition] = []
        if self.campaign is not None:
            tests.append(Attribute("campaign_id", "eq", self.campaign))
        if self.template is not None:
            tests.append(Attribute("template", "eq", self.template))
        where: Condition | None = None
        if len(tests) == 1:
            where = tests[0]
        elif tests:
            where = And(tuple(tests))
        return Event(MESSAGE_EVENTS[self.action], where=where, within=self.within, count=self.count)


@dataclass(frozen=True)
class TriggerObject:
    """A condition on the object that triggered the campaign (guards): object context."""

    condition: Condition


@dataclass(frozen=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = And | Or | Not | Attribute | Event | Related | Segment | Message | TriggerObject

Context = Literal["person", "object", "data"]
