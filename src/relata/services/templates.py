"""Templates and snippets of a workspace (SPEC §7): save with versions, lint, preview, render.

Saving rejects Liquid syntax errors (``ValidationError`` naming the field, with line and column) and
returns the other lint findings against the workspace's contract as warnings. Every change is a new
version; ``(template id, version)`` names exactly what a message was rendered from.

Rendering is fast on the second message: a workspace's ``TemplateEngine`` (with its snippets) is kept
until a snippet changes, and each ``(workspace, template id, version)`` is prepared once (CSS inlined
into the template, fields parsed) and kept.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from liquid.exceptions import FilterArgumentError, LiquidError
from sqlalchemy import Connection

from relata.core.clock import Clock
from relata.core.contract import Contract
from relata.core.errors import NotFound, ValidationError
from relata.core.identity import ObjectRef, PersonRef
from relata.core.model import Workspace
from relata.core.templates import (
    EventData,
    Finding,
    GraphEntity,
    MessageContext,
    Outcome,
    Template,
    TemplateEngine,
    lint,
)
from relata.core.templates.document import (
    TemplateDocument,
    check_key,
    check_snippet_name,
    snippet_from_document,
    template_content,
    template_from_content,
    template_from_document,
)
from relata.core.templates.engine import describe
from relata.core.templates.filters import zone
from relata.core.templates.graph import LazyEntity, RelatedList
from relata.services.contracts import ContractCache
from relata.storage import templates as rows
from relata.storage.database import Database
from relata.storage.template_graph import StorageGraph
from relata.storage.templates import StoredSnippet, StoredTemplate, VersionInfo

PREVIEW_PATHS = {
    "unsubscribe_url": "/preview/unsubscribe",
    "preferences_url": "/preview/preferences",
    "view_in_browser_url": "/preview/view_in_browser",
}
_PARTIAL = re.compile(r"""{%-?\s*(?:render|include)\s+(["'])(.*?)\1""")


class Conflict(Exception):
    """A resource with that key exists already (``POST`` of a new template)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SaveResult:
    template: StoredTemplate
    warnings: list[Finding]
    changed: bool
    created: bool


@dataclass(frozen=True)
class PreviewInput:
    """What a preview renders against; every part is optional."""

    person: PersonRef | None = None
    object: ObjectRef | None = None
    relationship: Mapping[str, Any] | None = None
    event: EventData | None = None
    journey: Mapping[str, Any] = field(default_factory=dict)
    message_data: Mapping[str, Any] = field(default_factory=dict)
    trigger_data: Mapping[str, Any] = field(default_factory=dict)
    version: int | None = None


@dataclass(frozen=True)
class Preview:
    outcome: Outcome
    context: Mapping[str, Any]
    findings: list[Finding]
    graph_reads: int
    template: StoredTemplate | None
    timezone: str


class Templates:
    def __init__(self, db: Database, clock: Clock, contracts: ContractCache, cache_size: int = 1024) -> None:
        self.db = db
        self.clock = clock
        self.contracts = contracts
        self._engines: dict[int, tuple[tuple[tuple[str, int], ...], TemplateEngine]] = {}
        self._prepared: OrderedDict[tuple[int, int, int], Template] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    # -- engines and prepared templates -----------------------------------------------------------

    def engine(self, conn: Connection, workspace_id: int) -> TemplateEngine:
        """The workspace's engine, whose ``include``/``render`` read the workspace's snippets."""
        in_force = rows.snippet_versions_in_force(conn, workspace_id)
        with self._lock:
            found = self._engines.get(workspace_id)
        if found is not None and found[0] == in_force:
            return found[1]
        sources = {snippet.name: snippet.source for snippet in rows.list_snippets(conn, workspace_id)}
        engine = TemplateEngine(snippets=sources)
        with self._lock:
            self._engines[workspace_id] = (in_force, engine)
        return engine

    def prepared(self, workspace_id: int, stored: StoredTemplate, engine: TemplateEngine) -> Template:
        """``stored`` ready to render, prepared once per ``(workspace, template id, version)``."""
        key = (workspace_id, stored.id, stored.version)
        with self._lock:
            found = self._prepared.get(key)
            if found is not None:
                self._prepared.move_to_end(key)
                return found
        template = engine.prepare(template_from_content(stored.channel, stored.content))
        for source in template.fields().values():
            try:
                engine.parse(source)
            except LiquidError:
                break
        with self._lock:
            self._prepared[key] = template
            while len(self._prepared) > self._cache_size:
                self._prepared.popitem(last=False)
        return template

    def render(self, workspace_id: int, key: str, version: int | None, context: MessageContext) -> Outcome:
        """Render a stored template version with ``context`` (whose graph reads this workspace)."""
        with self.db.read() as conn:
            stored = self._stored(conn, workspace_id, key, version)
            engine = self.engine(conn, workspace_id)
            return engine.render(self.prepared(workspace_id, stored, engine), context)

    # -- templates --------------------------------------------------------------------------------

    def all(self, workspace_id: int) -> list[StoredTemplate]:
        with self.db.read() as conn:
            return rows.list_current(conn, workspace_id)

    def get(self, workspace_id: int, key: str, version: int | None = None) -> StoredTemplate:
        with self.db.read() as conn:
            return self._stored(conn, workspace_id, key, version)

    def versions(self, workspace_id: int, key: str) -> tuple[StoredTemplate, list[VersionInfo]]:
        with self.db.read() as conn:
            stored = self._stored(conn, workspace_id, key, None)
            return stored, rows.versions(conn, stored.id)

    def save(
        self, workspace_id: int, document: object, *, key: str | None = None, create: bool = False
    ) -> SaveResult:
        """Create or update from a document; ``create`` refuses an existing key (``Conflict``)."""
        parsed = template_from_document(document, key=key)
        with self.db.write() as conn:
            engine = self.engine(conn, workspace_id)
            check_syntax(parsed.template, engine)
            existing = rows.get(conn, workspace_id, parsed.key)
            if existing is not None and create:
                raise Conflict("key", f"a template {parsed.key!r} exists; use PUT to change it")
            if existing is not None and existing.channel != parsed.channel:
                raise ValidationError(
                    "channel", f"is {existing.channel!r} for template {parsed.key!r} and cannot change"
                )
            stored, changed = rows.save(
                conn,
                workspace_id,
                parsed.key,
                parsed.channel,
                parsed.name,
                template_content(parsed.template),
                self.clock.now(),
            )
            warnings = self._lint(conn, workspace_id, parsed.template, engine)
        return SaveResult(stored, warnings, changed, existing is None)

    def delete(self, workspace_id: int, key: str) -> None:
        check_key(key)
        with self.db.write() as conn:
            if not rows.delete(conn, workspace_id, key, self.clock.now()):
                raise NotFound(f"template {key!r}")

    def lint_stored(self, workspace_id: int, key: str, version: int | None = None) -> list[Finding]:
        with self.db.read() as conn:
            stored = self._stored(conn, workspace_id, key, version)
            engine = self.engine(conn, workspace_id)
            template = template_from_content(stored.channel, stored.content)
            return self._lint(conn, workspace_id, template, engine)

    def lint_document(self, workspace_id: int, document: object) -> list[Finding]:
        """Findings of an unsaved template (syntax errors are findings here, not errors)."""
        parsed = _unsaved(document)
        with self.db.read() as conn:
            engine = self.engine(conn, workspace_id)
            return self._lint(conn, workspace_id, parsed.template, engine)

    def _lint(
        self, conn: Connection, workspace_id: int, template: Template, engine: TemplateEngine
    ) -> list[Finding]:
        contract = self.contracts.current(conn, workspace_id)
        known = {name for name, _version in rows.snippet_versions_in_force(conn, workspace_id)}
        return lint_template(template, contract, engine, known)

    def _stored(self, conn: Connection, workspace_id: int, key: str, version: int | None) -> StoredTemplate:
        check_key(key)
        stored = rows.get(conn, workspace_id, key, version)
        if stored is None:
            what = f"template {key!r}" if version is None else f"version {version} of template {key!r}"
            raise NotFound(what)
        return stored

    # -- snippets ---------------------------------------------------------------------------------

    def snippets(self, workspace_id: int) -> list[StoredSnippet]:
        with self.db.read() as conn:
            return rows.list_snippets(conn, workspace_id)

    def snippet(self, workspace_id: int, name: str) -> StoredSnippet:
        check_snippet_name(name)
        with self.db.read() as conn:
            found = rows.get_snippet(conn, workspace_id, name)
        if found is None:
            raise NotFound(f"snippet {name!r}")
        return found

    def save_snippet(
        self, workspace_id: int, document: object, *, name: str | None = None
    ) -> tuple[StoredSnippet, bool]:
        """Create or update a snippet; a Liquid syntax error names ``source`` with line and column."""
        resolved, source = snippet_from_document(document, name=name)
        with self.db.write() as conn:
            engine = self.engine(conn, workspace_id)
            try:
                engine.parse(source)
            except LiquidError as exc:
                raise ValidationError("source", describe(exc, engine.env, source), "syntax_error") from None
            return rows.save_snippet(conn, workspace_id, resolved, source, self.clock.now())

    def delete_snippet(self, workspace_id: int, name: str) -> None:
        check_snippet_name(name)
        with self.db.write() as conn:
            if not rows.delete_snippet(conn, workspace_id, name, self.clock.now()):
                raise NotFound(f"snippet {name!r}")

    # -- preview ----------------------------------------------------------------------------------

    def preview(
        self,
        workspace: Workspace,
        given: PreviewInput,
        *,
        links_base: str,
        key: str | None = None,
        document: object = None,
    ) -> Preview:
        """Render a stored template (``key``) or an unsaved one (``document``) against stored data."""
        parsed = _unsaved(document) if key is None else None
        with self.db.read() as conn:
            engine = self.engine(conn, workspace.id)
            stored: StoredTemplate | None = None
            if parsed is None:
                assert key is not None
                stored = self._stored(conn, workspace.id, key, given.version)
                template = self.prepared(workspace.id, stored, engine)
            else:
                template = parsed.template
            contract = self.contracts.current(conn, workspace.id)
            graph = StorageGraph(conn, workspace.id)
            customer = _person(graph, given.person) if given.person is not None else None
            trigger = _object(graph, given.object) if given.object is not None else None
            relationship = given.relationship
            if relationship is None and customer is not None and trigger is not None:
                relationship = graph.person_link(customer.ref, trigger.ref)
            timezone = _timezone(customer, workspace.timezone)
            base = links_base.rstrip("/")
            context = MessageContext(
                customer=customer,
                event=given.event,
                trigger_object=trigger,
                trigger_relationship=relationship,
                trigger_data=given.trigger_data,
                journey=given.journey,
                message_data=given.message_data,
                links={name: base + path for name, path in PREVIEW_PATHS.items()},
                timezone=timezone,
                now=datetime.fromtimestamp(self.clock.now() / 1000, tz=UTC),
                graph=graph,
                contract=contract,
            )
            trace = engine.trace(template, context)
            used = {name: plain(value) for name, value in trace.variables.items()}
            known = {name for name, _version in rows.snippet_versions_in_force(conn, workspace.id)}
            findings = lint_template(
                template_from_content(stored.channel, stored.content) if stored is not None else template,
                contract,
                engine,
                known,
            )
        return Preview(trace.outcome, used, findings, trace.graph_reads, stored, timezone)


# --- helpers (pure) -------------------------------------------------------------------------------


def _unsaved(document: object) -> TemplateDocument:
    if isinstance(document, Mapping) and document.get("key") is None:
        document = {**document, "key": "preview"}
    return template_from_document(document)


def check_syntax(template: Template, engine: TemplateEngine) -> None:
    """Raise ``ValidationError(field, "... (line L, column C)", "syntax_error")`` for the first field
    that does not parse."""
    for name, source in template.fields().items():
        try:
            engine.parse(source)
        except LiquidError as exc:
            raise ValidationError(name, describe(exc, engine.env, source), "syntax_error") from None


def lint_template(
    template: Template, contract: Contract, engine: TemplateEngine, snippets: set[str]
) -> list[Finding]:
    """Lint findings plus ``unknown_snippet`` warnings for ``render``/``include`` of a missing snippet."""
    findings = lint(template, contract, engine=engine)
    for name, source in template.fields().items():
        for match in _PARTIAL.finditer(source):
            if match.group(2) not in snippets:
                before = source[: match.start()]
                line = before.count("\n") + 1
                column = match.start() - (before.rfind("\n") + 1) + 1
                message = f"there is no snippet {match.group(2)!r} in this workspace"
                findings.append(Finding(name, line, column, "unknown_snippet", message, "warning"))
    return findings


def _person(graph: StorageGraph, ref: PersonRef) -> GraphEntity:
    if ref.kind == "id":
        found = graph.person(ident=ref.value)
    elif ref.kind == "email":
        found = graph.person(email=ref.value)
    else:
        found = graph.person(cio_id=ref.value.removeprefix("cio_"))
    if found is None:
        raise NotFound(f"person {ref}")
    return found


def _object(graph: StorageGraph, ref: ObjectRef) -> GraphEntity:
    found: GraphEntity | None
    if ref.cio_object_id is not None:
        found = rows.object_by_cio_id(graph.conn, graph.workspace_id, ref.cio_object_id)
    else:
        assert ref.type is not None and ref.object_id is not None
        found = graph.object(ref.type, ref.object_id)
    if found is None:
        raise NotFound(f"object {ref}")
    return found


def _known_zone(name: object) -> bool:
    if not isinstance(name, str) or not name:
        return False
    try:
        zone(name)
    except FilterArgumentError:
        return False
    return True


def _timezone(customer: GraphEntity | None, default: str) -> str:
    """The customer's ``timezone`` attribute when it names a zone, else the workspace's."""
    wanted = customer.attributes.get("timezone") if customer is not None else None
    for name in (wanted, default):
        if _known_zone(name):
            assert isinstance(name, str)
            return name
    return "UTC"


def plain(value: Any, depth: int = 0) -> Any:
    """A render variable as JSON: entities with their fields, attributes and loaded relationships."""
    if depth > 20:
        return None
    if isinstance(value, LazyEntity):
        out = {key: plain(item, depth + 1) for key, item in value.to_dict().items()}
        if value.entity.link is not None:
            out.setdefault("relationship", plain(dict(value.entity.link), depth + 1))
        for name, related in value.related.items():
            out.setdefault(name, plain(related, depth + 1))
        return out
    if isinstance(value, RelatedList | list | tuple):
        return [plain(item, depth + 1) for item in value]
    if isinstance(value, Mapping):
        return {str(key): plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def findings_json(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    return [
        {
            "field": f.field,
            "line": f.line,
            "column": f.column,
            "code": f.code,
            "severity": f.severity,
            "message": f.message,
        }
        for f in findings
    ]
