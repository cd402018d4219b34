"""Lint templates against the data contract (SPEC §7): syntax errors, unknown attributes and
relationship names, misused filters, unknown filters and variables, each with line and column.

The checker walks the parsed Liquid tree with a small type environment: ``customer`` is a person,
``trigger.<type>`` an object of that type, a relationship name gives a list of the related type,
``{% for item in trigger.cart.items %}`` binds ``item`` to a cart item, and ``assign`` keeps the type
of its expression through ``where``/``sort``/``first``. Names the contract does not describe (event
data, journey attributes, object types outside the contract) are not checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from difflib import get_close_matches

from liquid import BoundTemplate, Node, RenderContext
from liquid.builtin.expressions import FilteredExpression, Path, StringLiteral
from liquid.builtin.tags.assign_tag import AssignNode
from liquid.builtin.tags.capture_tag import CaptureNode
from liquid.builtin.tags.for_tag import ForNode
from liquid.builtin.tags.tablerow_tag import TablerowNode
from liquid.exceptions import LiquidError
from liquid.expression import Expression

from relata.core.contract import PERSON, Contract
from relata.core.templates.engine import DEFAULT_ENGINE, TemplateEngine, error_index, line_column, parse_path
from relata.core.templates.model import Finding, Severity, Template

ROOTS = frozenset(
    {
        "customer",
        "event",
        "trigger",
        "journey",
        "message_data",
        "event_name",
        "event_id",
        "event_timestamp",
        "now",
        "today",
        "campaign",
        "broadcast",
        "delivery",
        "links",
    }
)
PERSON_FIELDS = frozenset({"id", "email", "cio_id"})
OBJECT_FIELDS = frozenset({"object_id", "cio_object_id"})
_LIST_KEEPING = frozenset({"where", "reject", "sort", "sort_natural", "reverse", "uniq", "compact", "slice"})
_KEYED = frozenset({"where", "reject", "sort", "sort_natural", "map", "find", "find_index", "has", "sum"})
_TEXT_FILTERS = frozenset(
    {
        "money",
        "date",
        "pluralize",
        "url_param",
        "image_fallback",
        "json",
        "append",
        "prepend",
        "upcase",
        "downcase",
        "capitalize",
        "escape",
        "strip",
        "truncate",
    }
)
# filter -> attribute types it may not be applied to
_MISUSE: dict[str, frozenset[str]] = {
    "money": frozenset({"string", "boolean", "timestamp", "url", "email", "enum", "currency"}),
    "date": frozenset({"boolean", "url", "email", "enum", "currency"}),
    "pluralize": frozenset({"string", "boolean", "timestamp", "url", "email", "enum", "currency"}),
    "image_fallback": frozenset({"number", "integer", "boolean", "timestamp", "currency"}),
}


@dataclass(frozen=True)
class _Entity:
    type_name: str


@dataclass(frozen=True)
class _List:
    item: _Entity


@dataclass(frozen=True)
class _Attr:
    type: str


class _TriggerSpace:
    pass


_TRIGGER = _TriggerSpace()
_Type = _Entity | _List | _Attr | _TriggerSpace | None


class _Checker:
    def __init__(
        self, contract: Contract, engine: TemplateEngine, field: str, source: str, extra_roots: frozenset[str]
    ) -> None:
        self.contract = contract
        self.engine = engine
        self.field = field
        self.source = source
        self.roots = ROOTS | extra_roots
        self.findings: list[Finding] = []
        self.assigned: dict[str, _Type] = {}
        self.collections: set[int] = set()
        self.checked = bool(contract.object_types or contract.relationships or contract.person_attributes)

    # -- positions and findings -------------------------------------------------------------------

    def add(self, index: int, code: str, message: str, severity: str = "error") -> None:
        line, column = line_column(self.source, index)
        level: Severity = "warning" if severity == "warning" else "error"
        finding = Finding(self.field, line, column, code, message, level)
        if finding not in self.findings:
            self.findings.append(finding)

    # -- types ------------------------------------------------------------------------------------

    def root(self, name: str, scopes: Sequence[dict[str, _Type]]) -> tuple[bool, _Type]:
        for scope in reversed(scopes):
            if name in scope:
                return True, scope[name]
        if name in self.assigned:
            return True, self.assigned[name]
        if name == "customer":
            return True, _Entity(PERSON)
        if name == "trigger":
            return True, _TRIGGER
        return name in self.roots, None

    def step(self, current: _Type, segment: str, index: int, *, more: bool, report: bool) -> _Type:
        if isinstance(current, _TriggerSpace):
            if segment == "customer":
                return _Entity(PERSON)
            if segment in self.contract.object_types:
                return _Entity(segment)
            return None
        if isinstance(current, _List):
            if segment == "size":
                return _Attr("integer")
            if segment in ("first", "last"):
                return current.item
            return self.step(current.item, segment, index, more=more, report=report)
        if isinstance(current, _Attr):
            return _Attr("integer") if segment == "size" and current.type != "json" else None
        if isinstance(current, _Entity):
            return self._entity_step(current.type_name, segment, index, more=more, report=report)
        return None

    def _entity_step(self, type_name: str, segment: str, index: int, *, more: bool, report: bool) -> _Type:
        contract = self.contract
        related = contract.relationship_named(type_name, segment)
        if type_name == PERSON:
            if segment in PERSON_FIELDS:
                return _Attr("string")
            if segment in contract.person_attributes:
                return _Attr(contract.person_attributes[segment].type)
            if related is not None:
                spec, forward = related
                return _List(_Entity(spec.to_type if forward else spec.from_type))
            if report and contract.person_attributes and self.checked:
                self._unknown(
                    "person",
                    segment,
                    index,
                    more=more,
                    known=[*contract.person_attributes, *self._relationship_names(PERSON)],
                )
            return None
        spec_type = contract.object_types.get(type_name)
        if spec_type is None:
            return None
        if segment in OBJECT_FIELDS:
            return _Attr("string")
        if segment == "relationship":
            return None
        if segment in spec_type.attributes:
            return _Attr(spec_type.attributes[segment].type)
        if related is not None:
            spec, forward = related
            other = spec.to_type if forward else spec.from_type
            return _List(_Entity(other))
        if report:
            self._unknown(
                type_name,
                segment,
                index,
                more=more,
                known=[*spec_type.attributes, *self._relationship_names(type_name)],
            )
        return None

    def _relationship_names(self, type_name: str) -> list[str]:
        names = [spec.name for spec in self.contract.relationships if spec.from_type == type_name]
        return names + [spec.inverse for spec in self.contract.relationships if spec.to_type == type_name]

    def _unknown(self, type_name: str, segment: str, index: int, *, more: bool, known: list[str]) -> None:
        what = "relationship" if more else "attribute"
        hint = get_close_matches(segment, known, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        self.add(
            index,
            f"unknown_{what}",
            f"{type_name} has no {what} {segment!r} in the data contract{suggestion}",
        )

    def path_type(self, path: Path, scopes: Sequence[dict[str, _Type]], *, report: bool) -> _Type:
        segments = path.path
        if not segments or not isinstance(segments[0], str):
            return None
        known, current = self.root(segments[0], scopes)
        if not known:
            if report:
                self.add(
                    path.token.start_index,
                    "unknown_variable",
                    f"{segments[0]!r} is not a message variable",
                    "warning",
                )
            return None
        for position, segment in enumerate(segments[1:], start=1):
            if isinstance(segment, int):
                current = current.item if isinstance(current, _List) else None
            elif isinstance(segment, str):
                more = position < len(segments) - 1 or id(path) in self.collections
                current = self.step(current, segment, path.token.start_index, more=more, report=report)
            else:
                current = None
            if current is None:
                return None
        return current

    def infer(self, expr: Expression, scopes: Sequence[dict[str, _Type]]) -> _Type:
        if isinstance(expr, Path):
            return self.path_type(expr, scopes, report=False)
        if isinstance(expr, FilteredExpression):
            current = self.infer(expr.left, scopes)
            for flt in expr.filters or ():
                current = _after_filter(flt.name, current)
            return current
        return None

    # -- walking ----------------------------------------------------------------------------------

    def check_expression(self, expr: Expression, scopes: Sequence[dict[str, _Type]]) -> None:
        if isinstance(expr, Path):
            self.path_type(expr, scopes, report=True)
        if isinstance(expr, FilteredExpression) and expr.filters:
            current = self.infer(expr.left, scopes)
            for flt in expr.filters:
                self._check_filter(flt.name, flt.token.start_index, current, flt.args)
                current = _after_filter(flt.name, current)
        for child in expr.children():
            self.check_expression(child, scopes)

    def _check_filter(self, name: str, index: int, current: _Type, args: Sequence[object]) -> None:
        if name not in self.engine.env.filters:
            self.add(index, "unknown_filter", f"unknown filter {name!r}")
            return
        banned = _MISUSE.get(name)
        if banned is not None:
            if isinstance(current, _Attr) and current.type in banned:
                self.add(
                    index,
                    "type_mismatch",
                    f"{name} applied to {_article(current.type)} {current.type} attribute",
                )
            elif isinstance(current, _Entity | _List):
                what = "a list of objects" if isinstance(current, _List) else "an object"
                self.add(index, "type_mismatch", f"{name} applied to {what}")
        if name in _KEYED and isinstance(current, _List) and args:
            first = getattr(args[0], "value", None)
            if isinstance(first, StringLiteral):
                self.step(current.item, first.value, first.token.start_index, more=False, report=True)

    def visit(self, nodes: Iterable[Node], scopes: list[dict[str, _Type]], static: RenderContext) -> None:
        for node in nodes:
            if isinstance(node, ForNode | TablerowNode):
                self.collections.add(id(node.expression.iterable))
            for expr in node.expressions():
                self.check_expression(expr, scopes)
            if isinstance(node, ForNode | TablerowNode):
                element = self.infer(node.expression.iterable, scopes)
                inner: dict[str, _Type] = {
                    node.expression.identifier: element.item if isinstance(element, _List) else None,
                    "forloop": None,
                    "tablerowloop": None,
                }
                scopes.append(inner)
                for child in node.children(static, include_partials=False):
                    self.visit([child], scopes, static)
                scopes.pop()
                continue
            if isinstance(node, AssignNode):
                self.assigned[str(node.name)] = self.infer(node.expression, scopes)
            elif isinstance(node, CaptureNode):
                self.assigned[str(node.name)] = _Attr("string")
            names = {str(name): None for name in node.block_scope()}
            if names:
                scopes.append(dict(names))
            self.visit(node.children(static, include_partials=False), scopes, static)
            if names:
                scopes.pop()


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _after_filter(name: str, current: _Type) -> _Type:
    if name in _LIST_KEEPING:
        return current if isinstance(current, _List) else None
    if name in ("first", "last"):
        return current.item if isinstance(current, _List) else None
    if name == "size":
        return _Attr("integer")
    if name == "default":
        return current
    if name in _TEXT_FILTERS:
        return _Attr("string")
    return None


def lint_source(
    source: str,
    contract: Contract,
    *,
    field: str = "body",
    engine: TemplateEngine = DEFAULT_ENGINE,
    extra_roots: Iterable[str] = (),
) -> list[Finding]:
    """Findings for one Liquid string."""
    checker = _Checker(contract, engine, field, source, frozenset(extra_roots))
    try:
        bound: BoundTemplate = engine.parse(source)
    except LiquidError as exc:
        checker.add(error_index(engine.env, source, exc), "syntax_error", str(exc.message))
        return checker.findings
    for name in bound.analyze(include_partials=False).locals:
        checker.assigned.setdefault(name, None)
    checker.visit(bound.nodes, [], RenderContext(bound))
    return checker.findings


def lint(
    template: Template,
    contract: Contract,
    *,
    engine: TemplateEngine = DEFAULT_ENGINE,
    extra_roots: Iterable[str] = (),
) -> list[Finding]:
    """Every finding of every field of ``template`` and of its ``required`` paths."""
    findings: list[Finding] = []
    for field, source in template.fields().items():
        findings += lint_source(source, contract, field=field, engine=engine, extra_roots=extra_roots)
    for number, path in enumerate(template.required):
        field = f"required[{number}]"
        try:
            parse_path(path)
        except ValueError as exc:
            findings.append(Finding(field, 1, 1, "syntax_error", str(exc)))
            continue
        found = lint_source(
            "{{ " + path + " }}", contract, field=field, engine=engine, extra_roots=extra_roots
        )
        findings += [replace(finding, column=max(1, finding.column - 3)) for finding in found]
    return findings
