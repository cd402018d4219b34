"""What a message is rendered with, and the Liquid variables built from it (Customer.io names).

=====================  =================================================================
``customer``           the recipient: attributes plus ``id``, ``email``, ``cio_id``; related
                       objects through relationship names (``customer.carts``)
``event``              the triggering event's data; ``event_name``, ``event_id``,
                       ``event_timestamp`` beside it
``trigger``            ``trigger.<type_name>`` the triggering object, ``trigger.relationship``
                       its relationship attributes, ``trigger.customer``, and any
                       broadcast/API trigger data
``journey``            attributes set during the journey
``message_data``       transactional message data
``campaign``, ...      anything in ``extra``
=====================  =================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from relata.core.contract import Contract
from relata.core.templates.graph import EmptyGraph, GraphEntity, GraphReader, LazyGraph

LINK_NAMES = ("unsubscribe_url", "preferences_url", "view_in_browser_url")


@dataclass(frozen=True)
class EventData:
    name: str
    data: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    timestamp: int | None = None


@dataclass(frozen=True)
class MessageContext:
    """Everything a render may use. ``graph`` loads related objects; ``links`` holds the URLs the
    ``unsubscribe_url`` / ``preferences_url`` / ``view_in_browser_url`` tags print (delivery signs
    them); ``timezone`` is the default of the ``date`` filter (the recipient's, else the
    workspace's); ``now`` is what ``"now"`` means to ``date`` (no clock is read while rendering)."""

    customer: GraphEntity | None = None
    event: EventData | None = None
    trigger_object: GraphEntity | None = None
    trigger_relationship: Mapping[str, Any] | None = None
    trigger_data: Mapping[str, Any] = field(default_factory=dict)
    journey: Mapping[str, Any] = field(default_factory=dict)
    message_data: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)
    timezone: str = "UTC"
    now: datetime | None = None
    graph: GraphReader = field(default_factory=EmptyGraph)
    contract: Contract | None = None


def build_variables(context: MessageContext, graph: LazyGraph) -> dict[str, Any]:
    """The Liquid global namespace for ``context``; entities are wrapped for lazy relationships."""
    customer = graph.entity(context.customer) if context.customer is not None else None
    trigger: dict[str, Any] = dict(context.trigger_data)
    if context.trigger_object is not None:
        trigger[context.trigger_object.ref.type_name] = graph.entity(context.trigger_object)
        trigger["relationship"] = dict(context.trigger_relationship or {})
    if customer is not None:
        trigger["customer"] = customer
    variables: dict[str, Any] = dict(context.extra)
    variables.update(
        customer=customer if customer is not None else {},
        trigger=trigger,
        journey=dict(context.journey),
        message_data=dict(context.message_data),
        event={},
        # Liquid's built-in ``now``/``today`` read the clock; a render sees only the given instant.
        now=context.now,
        today=context.now.date() if context.now is not None else None,
    )
    if context.event is not None:
        variables["event"] = dict(context.event.data)
        variables["event_name"] = context.event.name
        variables["event_id"] = context.event.id
        variables["event_timestamp"] = context.event.timestamp
    return variables
