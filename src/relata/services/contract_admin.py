"""Managing a workspace's data contract (SPEC §4): read, dry-run, apply, violations, quality, expire.

- ``dry_run`` compares a proposed contract with the one in force: the document diff, how the stored
  ``object_types`` rows would be created or renamed, and the *impact*: for every new or changed rule,
  how many stored objects (people, relationships) would break it, with samples. Impact checks are a list
  of functions (``ImpactCheck``); stored data is checked today, and templates, segments and campaigns add
  their own checks to ``IMPACT_CHECKS`` (or pass ``impact_checks``) when they exist.
- ``put`` applies a contract (a new version) even when it breaks stored data; the dry run says so.
- ``quality`` is the data-quality report of the contract in force; ``expire_due`` runs its expire rules
  through the normal write path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from relata.core.clock import Clock
from relata.core.contract import PERSON, Contract, TypeSpec, rule_summary
from relata.core.contract_diff import RuleKey, changed_rules, diff, summarize
from relata.core.contract_parse import parse_contract
from relata.core.identity import ObjectRef
from relata.core.model import ObjectType
from relata.core.operations import IdentifyObject, Operation
from relata.core.times import Millis, to_iso
from relata.services.contracts import ContractCache
from relata.services.ingest import Ingest
from relata.storage import contracts as contract_rows
from relata.storage import objects as object_rows
from relata.storage import quality
from relata.storage.database import Database

SAMPLES = quality.SAMPLES
EXPIRE_CHUNK = 500


@dataclass(frozen=True)
class ImpactItem:
    """Stored things (or, later, templates/segments/campaigns) a proposed contract would break."""

    kind: str
    owner: str
    count: int
    message: str
    attribute: str | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "type": self.owner,
            "attribute": self.attribute,
            "count": self.count,
            "message": self.message,
            "samples": self.samples,
        }


@dataclass(frozen=True)
class Proposal:
    """What an impact check is given: the contracts, the rules that changed, and the stored types."""

    conn: Connection
    workspace_id: int
    old: Contract
    new: Contract
    rules: frozenset[RuleKey]
    stored_types: Sequence[ObjectType]
    renames: Mapping[str, str]  # stored type name -> its name once the contract is applied
    now: Millis


ImpactCheck = Callable[[Proposal], list[ImpactItem]]


# --- object_types rows ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeAction:
    action: str  # create | rename
    type_id: str
    name: str
    previous: str | None = None
    pk: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "type_id": self.type_id, "name": self.name}
        if self.previous is not None:
            out["from"] = self.previous
        return out


def plan_types(stored: Sequence[ObjectType], contract: Contract) -> list[TypeAction]:
    """Rows to create and rename so every declared type has its row, named as the contract names it.

    A row is matched by its numeric type id. A row whose name the contract gives to another id is renamed
    ``type_<id>`` (the name an unknown type has), so the objects stored under it stay where they are.
    """
    final = {row.pk: row.name for row in stored}
    by_id = {row.type_id: row for row in stored}
    declared = {spec.name for spec in contract.object_types.values()}
    for spec in contract.object_types.values():
        row = by_id.get(spec.type_id)
        if row is not None:
            final[row.pk] = spec.name
    declared_ids = {spec.type_id for spec in contract.object_types.values()}
    taken = set(final.values())
    for row in stored:
        if row.type_id not in declared_ids and final[row.pk] in declared:
            name = f"type_{row.type_id}"
            while name in taken:
                name += "_"
            final[row.pk] = name
            taken.add(name)
    actions = [
        TypeAction("rename", row.type_id, final[row.pk], row.name, row.pk)
        for row in stored
        if final[row.pk] != row.name
    ]
    actions += [
        TypeAction("create", spec.type_id, spec.name)
        for spec in contract.object_types.values()
        if spec.type_id not in by_id
    ]
    return actions


def apply_types(conn: Connection, workspace_id: int, actions: Sequence[TypeAction], now: Millis) -> None:
    renames = [a for a in actions if a.action == "rename" and a.pk is not None]
    # Two steps, so that names can be swapped between rows without breaking the unique name.
    for action in renames:
        assert action.pk is not None
        object_rows.rename_type(conn, action.pk, f"~renaming_{action.pk}")
    for action in renames:
        assert action.pk is not None
        object_rows.rename_type(conn, action.pk, action.name)
    for action in actions:
        if action.action == "create":
            object_rows.create_type(conn, workspace_id, action.type_id, action.name, now)


# --- impact on stored data ------------------------------------------------------------------------


def _row_of(proposal: Proposal, spec: TypeSpec) -> ObjectType | None:
    return next((row for row in proposal.stored_types if row.type_id == spec.type_id), None)


def stored_objects_impact(proposal: Proposal) -> list[ImpactItem]:
    """Stored objects and people that break a new or changed attribute, id or required rule."""
    wanted = {k for k in proposal.rules if k.kind in ("attribute", "id_pattern") and k.owner != PERSON}
    rows: dict[int, TypeSpec] = {}
    for spec in proposal.new.object_types.values():
        row = _row_of(proposal, spec)
        if row is not None and any(k.owner == spec.name for k in wanted):
            rows[row.pk] = spec
    tally: dict[tuple[str, str | None, str], list[Any]] = {}

    def count(owner: str, attribute: str | None, kind: str, sample: dict[str, Any], message: str) -> None:
        entry = tally.setdefault((owner, attribute, kind), [0, [], message])
        entry[0] += 1
        if len(entry[1]) < SAMPLES:
            entry[1].append(sample)

    for type_pk, object_id, attributes in quality.scan_objects(
        proposal.conn, proposal.workspace_id, list(rows)
    ):
        spec = rows[type_pk]
        for v in proposal.new.check_object(spec.name, object_id, attributes, attributes, ""):
            key = RuleKey(spec.name, "id_pattern") if v.kind == "id_pattern" else None
            key = key or RuleKey(spec.name, "attribute", v.attribute)
            if key in wanted:
                sample: dict[str, Any] = {"object_id": object_id, "message": v.message}
                if v.attribute is not None:
                    sample["value"] = attributes.get(v.attribute)
                count(spec.name, v.attribute, v.kind, sample, v.message)
    if any(k.owner == PERSON and k.kind == "attribute" for k in proposal.rules):
        for label, attributes in quality.scan_people(proposal.conn, proposal.workspace_id):
            for v in proposal.new.check_person(attributes, attributes, ""):
                if RuleKey(PERSON, "attribute", v.attribute) in proposal.rules:
                    count(PERSON, v.attribute, v.kind, {"person": label, "message": v.message}, v.message)
    items = []
    for (owner, attribute, kind), (n, samples, message) in sorted(tally.items(), key=lambda t: str(t[0])):
        what = "people" if owner == PERSON else f"{owner} objects"
        items.append(
            ImpactItem(
                kind, owner, n, f"{n} stored {what}: {attribute or 'object_id'} {message}", attribute, samples
            )
        )
    return items


def unknown_types_impact(proposal: Proposal) -> list[ImpactItem]:
    """Stored types the new contract does not declare: their writes are violations (rejected in enforce)."""
    if not any(k.kind == "unknown_type" for k in proposal.rules):
        return []
    declared = {spec.type_id for spec in proposal.new.object_types.values()}
    counts = object_rows.count_by_type(proposal.conn, proposal.workspace_id)
    verb = "rejected" if proposal.new.enforced else "recorded as violations"
    items = []
    for row in proposal.stored_types:
        if row.type_id in declared or not counts.get(row.pk):
            continue
        name = proposal.renames.get(row.name, row.name)
        items.append(
            ImpactItem(
                "unknown_type",
                name,
                counts[row.pk],
                f"{counts[row.pk]} stored objects of type {name!r} (id {row.type_id}) are not in the "
                f"contract; writes to them will be {verb}",
            )
        )
    return items


def relationships_impact(proposal: Proposal) -> list[ImpactItem]:
    """Stored relationships the map does not declare, and people with several objects of an exclusive type."""
    items = []
    new = proposal.new
    if any(k.kind == "relationship" for k in proposal.rules):
        verb = "rejected" if new.enforced else "recorded as violations"
        for from_type, to_type, n in quality.link_pairs(proposal.conn, proposal.workspace_id):
            source = proposal.renames.get(from_type, from_type)
            target = proposal.renames.get(to_type, to_type)
            if new.relationship(source, target) is None:
                items.append(
                    ImpactItem(
                        "unknown_relationship",
                        f"{source}→{target}",
                        n,
                        f"{n} stored relationships {source} → {target} are not in the relationship map; "
                        f"new ones will be {verb}",
                    )
                )
    for key in sorted(k for k in proposal.rules if k.kind == "exclusive"):
        to_type = key.owner.split("→", 1)[1]
        spec = new.object_types[to_type]
        row = _row_of(proposal, spec)
        found = quality.exclusive_conflicts(proposal.conn, proposal.workspace_id, row) if row else None
        if found and found.count:
            items.append(
                ImpactItem(
                    "exclusive",
                    key.owner,
                    found.count,
                    f"{found.count} people are related to more than one {to_type}; the next link of each "
                    f"replaces the others",
                    samples=found.samples,
                )
            )
    return items


def rules_impact(proposal: Proposal) -> list[ImpactItem]:
    """Objects stale under a new freshness rule, and objects a new expire rule would close at once."""
    items = []
    for key in sorted(k for k in proposal.rules if k.kind in ("freshness", "expire")):
        spec = proposal.new.object_types[key.owner]
        row = _row_of(proposal, spec)
        rule = spec.freshness if key.kind == "freshness" else spec.expire
        if row is None or rule is None:
            continue
        n, samples = quality.aged(
            proposal.conn,
            proposal.workspace_id,
            row,
            rule.attribute,
            rule.condition,
            proposal.now - rule.max_age,
            exclude=rule.set if key.kind == "expire" else None,
        )
        if not n:
            continue
        message = (
            f"{n} stored {spec.name} objects are stale ({rule_summary(rule)})"
            if key.kind == "freshness"
            else f"{n} stored {spec.name} objects would be expired (set {dict(rule.set)}) on the next run"
        )
        items.append(
            ImpactItem(key.kind, spec.name, n, message, rule.attribute, _ages(samples, proposal.now))
        )
    return items


def _ages(samples: list[dict[str, Any]], now: Millis) -> list[dict[str, Any]]:
    """Samples of aged objects with their instant in ISO-8601 and their age in seconds."""
    return [
        {"object_id": s["object_id"], "at": to_iso(s["at"]), "age_seconds": max(0, now - s["at"]) // 1000}
        for s in samples
    ]


IMPACT_CHECKS: list[ImpactCheck] = [
    stored_objects_impact,
    unknown_types_impact,
    relationships_impact,
    rules_impact,
]


# --- the service ----------------------------------------------------------------------------------


class ContractAdmin:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        contracts: ContractCache,
        ingest: Ingest,
        impact_checks: Sequence[ImpactCheck] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.contracts = contracts
        self.ingest = ingest
        self.impact_checks = list(IMPACT_CHECKS if impact_checks is None else impact_checks)

    def current(self, workspace_id: int) -> dict[str, Any]:
        """The contract in force: version (0 before any), document and what it means."""
        with self.db.read() as conn:
            found = contract_rows.current(conn, workspace_id)
            created = dict(contract_rows.versions(conn, workspace_id))
            contract = self.contracts.current(conn, workspace_id)
        version, document = found if found is not None else (0, {})
        return {
            "version": version,
            "created_at": created.get(version),
            "document": document,
            "summary": summarize(contract),
        }

    def dry_run(self, workspace_id: int, document: Mapping[str, Any]) -> dict[str, Any]:
        """What applying ``document`` would change and break; applies nothing. Invalid: ValidationError."""
        new = parse_contract(document)
        with self.db.read() as conn:
            return self._report(conn, workspace_id, new)

    def _report(self, conn: Connection, workspace_id: int, new: Contract) -> dict[str, Any]:
        old = self.contracts.current(conn, workspace_id)
        stored = object_rows.types(conn, workspace_id)
        actions = plan_types(stored, new)
        proposal = Proposal(
            conn,
            workspace_id,
            old,
            new,
            frozenset(changed_rules(old, new)),
            stored,
            {a.previous: a.name for a in actions if a.previous is not None},
            self.clock.now(),
        )
        impact = [item for check in self.impact_checks for item in check(proposal)]
        return {
            "valid": True,
            "current_version": contract_rows.current_version(conn, workspace_id),
            "changes": [c.to_json() for c in diff(old, new)],
            "object_types": [a.to_json() for a in actions],
            "impact": [item.to_json() for item in impact],
            "breaks_stored_data": any(item.count for item in impact),
        }

    def put(self, workspace_id: int, document: Mapping[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """Apply ``document`` as the next version (unless unchanged) and sync the object type rows."""
        new = parse_contract(document)
        if dry_run:
            with self.db.read() as conn:
                return {**self._report(conn, workspace_id, new), "applied": False, "version": None}
        with self.db.read() as conn:
            report = self._report(conn, workspace_id, new)
        with self.db.write() as conn:
            found = contract_rows.current(conn, workspace_id)
            unchanged = found is not None and dict(found[1]) == dict(document)
            now = self.clock.now()
            if found is not None and unchanged:
                version = found[0]
            else:
                version = contract_rows.add_version(conn, workspace_id, dict(document), now)
            apply_types(conn, workspace_id, plan_types(object_rows.types(conn, workspace_id), new), now)
        return {**report, "applied": not unchanged, "version": version}

    def versions(self, workspace_id: int) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [{"version": v, "created_at": at} for v, at in contract_rows.versions(conn, workspace_id)]

    def violations(self, workspace_id: int, type_name: str | None = None) -> list[dict[str, Any]]:
        """Recorded violations per type, attribute and kind (counts, rejected, first/last seen, samples)."""
        with self.db.read() as conn:
            found = contract_rows.list_violations(conn, workspace_id)
        return [v for v in found if type_name is None or v["type"] == type_name]

    def quality(self, workspace_id: int) -> dict[str, Any]:
        """The data-quality report of the contract in force (see docs/contract.md)."""
        now = self.clock.now()
        items: list[dict[str, Any]] = []
        with self.db.read() as conn:
            contract = self.contracts.current(conn, workspace_id)
            version = contract_rows.current_version(conn, workspace_id)
            for type_name, found in quality.dangling(conn, workspace_id).items():
                items.append(
                    _item(
                        "dangling_relationship",
                        type_name,
                        None,
                        found,
                        "relationships to objects never identified",
                    )
                )
            rows = {row.type_id: row for row in object_rows.types(conn, workspace_id)}
            for spec in contract.object_types.values():
                row = rows.get(spec.type_id)
                if row is None:
                    continue
                if spec.freshness is not None:
                    rule = spec.freshness
                    n, samples = quality.aged(
                        conn, workspace_id, row, rule.attribute, rule.condition, now - rule.max_age
                    )
                    found = quality.Found(n, _ages(samples, now))
                    items.append(_item("stale", spec.name, rule.attribute, found, rule_summary(rule)))
                if spec.expire is not None:
                    rule = spec.expire
                    n, samples = quality.aged(
                        conn,
                        workspace_id,
                        row,
                        rule.attribute,
                        rule.condition,
                        now - rule.max_age,
                        exclude=rule.set,
                    )
                    found = quality.Found(n, _ages(samples, now))
                    message = f"due to expire: {rule_summary(rule)}, set {dict(rule.set)}"
                    items.append(_item("expire_due", spec.name, rule.attribute, found, message))
                for name, attribute in spec.attributes.items():
                    if attribute.required:
                        found = quality.missing(conn, workspace_id, row, name)
                        items.append(
                            _item("missing_required", spec.name, name, found, "required attribute missing")
                        )
            for link in contract.relationships:
                row = rows.get(contract.object_types[link.to_type].type_id) if link.exclusive else None
                if row is not None:
                    found = quality.exclusive_conflicts(conn, workspace_id, row)
                    items.append(
                        _item(
                            "exclusive_conflict",
                            f"{link.from_type}→{link.to_type}",
                            None,
                            found,
                            f"people related to more than one {link.to_type} (exclusive)",
                        )
                    )
        totals: dict[str, int] = defaultdict(int)
        for item in items:
            totals[item["kind"]] += item["count"]
        return {"generated_at": now, "contract_version": version, "totals": dict(totals), "items": items}

    def expire_due(self, workspace_id: int, limit: int = 1000) -> int:
        """Write each due expire rule's ``set`` through the write path; returns how many objects changed.

        At most ``limit`` objects per call (a worker calls it again). Objects the write path rejects (an
        enforced contract the object breaks otherwise) are recorded as violations and not counted.
        """
        now = self.clock.now()
        operations: list[Operation] = []
        with self.db.read() as conn:
            contract = self.contracts.current(conn, workspace_id)
            rows = {row.type_id: row for row in object_rows.types(conn, workspace_id)}
            for spec in contract.object_types.values():
                rule, row = spec.expire, rows.get(spec.type_id)
                if rule is None or row is None or len(operations) >= limit:
                    continue
                _n, due = quality.aged(
                    conn,
                    workspace_id,
                    row,
                    rule.attribute,
                    rule.condition,
                    now - rule.max_age,
                    exclude=rule.set,
                    limit=limit - len(operations),
                )
                operations += [
                    IdentifyObject(ObjectRef(spec.type_id, d["object_id"]), dict(rule.set)) for d in due
                ]
        applied = 0
        for start in range(0, len(operations), EXPIRE_CHUNK):
            chunk = operations[start : start + EXPIRE_CHUNK]
            applied += len(chunk) - len(self.ingest.apply(workspace_id, chunk))
        return applied


def _item(kind: str, owner: str, attribute: str | None, found: quality.Found, message: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "type": owner,
        "attribute": attribute,
        "count": found.count,
        "message": message,
        "samples": found.samples,
    }
