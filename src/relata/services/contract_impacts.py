"""What a proposed contract would break beyond stored data: segments whose conditions no longer
validate, and templates that no longer lint clean (SPEC §4: reported before the change is applied).

Only what the proposal breaks is reported: a segment or template already invalid under the contract in
force is not the proposal's doing.
"""

from __future__ import annotations

from relata.core.conditions import parse_condition, validate
from relata.core.contract import Contract
from relata.core.errors import ValidationError
from relata.core.templates.document import template_from_content
from relata.core.templates.lint import lint
from relata.core.templates.model import Template
from relata.services.contract_admin import ImpactItem, Proposal
from relata.storage import segments as segment_rows
from relata.storage import templates as template_rows


def _condition_error(data: object, contract: Contract) -> str | None:
    try:
        validate(parse_condition(data), contract)
    except ValidationError as error:
        return str(error)
    return None


def segments_impact(proposal: Proposal) -> list[ImpactItem]:
    items = []
    for row in segment_rows.all_segments(proposal.conn, proposal.workspace_id, "dynamic"):
        if row.condition is None or _condition_error(row.condition, proposal.old) is not None:
            continue
        problem = _condition_error(row.condition, proposal.new)
        if problem is not None:
            items.append(
                ImpactItem("segment", row.key, 1, f"segment {row.key!r} would not validate: {problem}")
            )
    return items


def _errors(template: Template, contract: Contract) -> set[tuple[str, str]]:
    return {(f.field, f.message) for f in lint(template, contract) if f.severity == "error"}


def templates_impact(proposal: Proposal) -> list[ImpactItem]:
    items = []
    for stored in template_rows.list_current(proposal.conn, proposal.workspace_id):
        template = template_from_content(stored.channel, stored.content)
        new = _errors(template, proposal.new) - _errors(template, proposal.old)
        if new:
            field, message = sorted(new)[0]
            items.append(
                ImpactItem(
                    "template",
                    stored.key,
                    len(new),
                    f"template {stored.key!r} would fail lint: {field}: {message}",
                    samples=[{"field": f, "message": m} for f, m in sorted(new)[:5]],
                )
            )
    return items
