"""What a contract says, and what changes between two versions of it (the dry-run diff of SPEC §4).

``summarize`` describes a contract for listings; ``diff`` lists every change as a path in the document
with its before and after; ``changed_rules`` names the rules whose stored-data impact a dry run must
measure (a rule that did not change breaks nothing new).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from relata.core.contract import PERSON, AttributeSpec, Contract, RelationshipSpec, Rule, TypeSpec
from relata.core.times import format_duration

ChangeKind = Literal["added", "removed", "changed"]
RuleKind = Literal[
    "attribute", "id_pattern", "unknown_type", "freshness", "expire", "relationship", "exclusive"
]


@dataclass(frozen=True)
class Change:
    """One difference: ``path`` in the document (``object_types.cart.attributes.status``)."""

    path: str
    change: ChangeKind
    before: Any = None
    after: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "change": self.change, "from": self.before, "to": self.after}


@dataclass(frozen=True, order=True)
class RuleKey:
    """A rule whose impact on stored data can be measured.

    ``owner`` is a type name, ``person``, or ``from→to`` for a relationship; ``attribute`` is set for
    attribute rules.
    """

    owner: str
    kind: RuleKind
    attribute: str | None = None


# --- descriptions ---------------------------------------------------------------------------------


def attribute_json(spec: AttributeSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"type": spec.type}
    if spec.required:
        out["required"] = True
    if spec.values:
        out["values"] = list(spec.values)
    for name in ("min", "max", "pattern"):
        value = getattr(spec, name)
        if value is not None:
            out[name] = value
    return out


def rule_json(rule: Rule | None, age_key: str) -> dict[str, Any] | None:
    if rule is None:
        return None
    out: dict[str, Any] = {"attribute": rule.attribute, age_key: format_duration(rule.max_age)}
    if rule.when is not None:
        out["when"] = dict(rule.when)
    if rule.set:
        out["set"] = dict(rule.set)
    return out


def type_json(spec: TypeSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "id": spec.type_id,
        "key": spec.key,
        "id_pattern": spec.id_pattern,
        "freshness": rule_json(spec.freshness, "max_age"),
        "expire": rule_json(spec.expire, "after"),
        "attributes": {name: attribute_json(a) for name, a in spec.attributes.items()},
    }


def relationship_json(spec: RelationshipSpec) -> dict[str, Any]:
    return {
        "from": spec.from_type,
        "to": spec.to_type,
        "as": spec.name,
        "inverse": spec.inverse,
        "exclusive": spec.exclusive,
        "attributes": {name: attribute_json(a) for name, a in spec.attributes.items()},
    }


def summarize(contract: Contract) -> dict[str, Any]:
    """The parsed contract as JSON: what the write path and the reports act on."""
    return {
        "mode": contract.mode,
        "object_types": [type_json(spec) for spec in contract.object_types.values()],
        "relationships": [relationship_json(spec) for spec in contract.relationships],
        "person": {"attributes": {n: attribute_json(a) for n, a in contract.person_attributes.items()}},
    }


# --- differences ----------------------------------------------------------------------------------


def diff(old: Contract, new: Contract) -> list[Change]:
    """Every change from ``old`` to ``new``, in document order."""
    changes: list[Change] = []
    if old.mode != new.mode:
        changes.append(Change("mode", "changed", old.mode, new.mode))
    for name in _ordered(old.object_types, new.object_types):
        path = f"object_types.{name}"
        before, after = old.object_types.get(name), new.object_types.get(name)
        if before is None or after is None:
            changes.append(_presence(path, before and type_json(before), after and type_json(after)))
            continue
        for key, age_key in (("freshness", "max_age"), ("expire", "after")):
            was_rule = rule_json(getattr(before, key), age_key)
            now_rule = rule_json(getattr(after, key), age_key)
            if was_rule != now_rule:
                changes.append(_change(f"{path}.{key}", was_rule, now_rule))
        for key, was, now in (
            ("id", before.type_id, after.type_id),
            ("key", before.key, after.key),
            ("id_pattern", before.id_pattern, after.id_pattern),
        ):
            if was != now:
                changes.append(_change(f"{path}.{key}", was, now))
        changes += _attributes_diff(f"{path}.attributes", before.attributes, after.attributes)
    old_links = {(r.from_type, r.to_type): r for r in old.relationships}
    new_links = {(r.from_type, r.to_type): r for r in new.relationships}
    for pair in _ordered(old_links, new_links):
        path = f"relationships.{pair[0]}→{pair[1]}"
        was_link, now_link = old_links.get(pair), new_links.get(pair)
        if was_link is None or now_link is None:
            changes.append(
                _presence(
                    path, was_link and relationship_json(was_link), now_link and relationship_json(now_link)
                )
            )
            continue
        for key in ("name", "inverse", "exclusive"):
            was, now = getattr(was_link, key), getattr(now_link, key)
            if was != now:
                changes.append(_change(f"{path}.{'as' if key == 'name' else key}", was, now))
        changes += _attributes_diff(f"{path}.attributes", was_link.attributes, now_link.attributes)
    changes += _attributes_diff("person.attributes", old.person_attributes, new.person_attributes)
    return changes


def _ordered(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> list[Any]:
    return list(new) + [key for key in old if key not in new]


def _presence(path: str, before: Any, after: Any) -> Change:
    return Change(path, "added" if before is None else "removed", before, after)


def _change(path: str, before: Any, after: Any) -> Change:
    if before is None:
        return Change(path, "added", None, after)
    if after is None:
        return Change(path, "removed", before, None)
    return Change(path, "changed", before, after)


def _attributes_diff(
    path: str, old: Mapping[str, AttributeSpec], new: Mapping[str, AttributeSpec]
) -> list[Change]:
    changes = []
    for name in _ordered(old, new):
        was = attribute_json(old[name]) if name in old else None
        now = attribute_json(new[name]) if name in new else None
        if was != now:
            changes.append(_change(f"{path}.{name}", was, now))
    return changes


# --- rules to measure -----------------------------------------------------------------------------


def changed_rules(old: Contract, new: Contract) -> set[RuleKey]:
    """Rules of ``new`` that are new or changed, and so may break stored data that conformed before.

    Turning ``enforce`` on changes every rule: data that was only observed before is now rejected on
    its next write. Removing a type or relationship matters only where the new contract checks it.
    """
    everything = new.enforced and not old.enforced
    keys: set[RuleKey] = set()
    for name, spec in new.object_types.items():
        before = old.object_types.get(name)
        if everything or before is None or before.type_id != spec.type_id:
            keys |= _type_rules(spec)
            continue
        if before.id_pattern != spec.id_pattern and spec.id_pattern:
            keys.add(RuleKey(name, "id_pattern"))
        for attribute, attr_spec in spec.attributes.items():
            if before.attributes.get(attribute) != attr_spec:
                keys.add(RuleKey(name, "attribute", attribute))
        if spec.freshness is not None and before.freshness != spec.freshness:
            keys.add(RuleKey(name, "freshness"))
        if spec.expire is not None and before.expire != spec.expire:
            keys.add(RuleKey(name, "expire"))
    for attribute, attr_spec in new.person_attributes.items():
        if everything or old.person_attributes.get(attribute) != attr_spec:
            keys.add(RuleKey(PERSON, "attribute", attribute))
    if new.object_types and (
        everything or not old.object_types or set(old.object_types) - set(new.object_types)
    ):
        keys.add(RuleKey("*", "unknown_type"))
    old_pairs = {(r.from_type, r.to_type): r for r in old.relationships}
    if new.object_types or new.relationships:
        new_pairs = {(r.from_type, r.to_type) for r in new.relationships}
        if everything or set(old_pairs) - new_pairs or not (old.object_types or old.relationships):
            keys.add(RuleKey("*", "relationship"))
    for link in new.relationships:
        was = old_pairs.get((link.from_type, link.to_type))
        if link.exclusive and (everything or was is None or not was.exclusive):
            keys.add(RuleKey(f"{link.from_type}→{link.to_type}", "exclusive"))
    return keys


def _type_rules(spec: TypeSpec) -> set[RuleKey]:
    keys = {RuleKey(spec.name, "attribute", name) for name in spec.attributes}
    if spec.id_pattern:
        keys.add(RuleKey(spec.name, "id_pattern"))
    if spec.freshness is not None:
        keys.add(RuleKey(spec.name, "freshness"))
    if spec.expire is not None:
        keys.add(RuleKey(spec.name, "expire"))
    return keys
