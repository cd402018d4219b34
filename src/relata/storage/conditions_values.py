"""SQL for the value rules of ``relata.core.conditions.values``; the dialect differences live here.

A ``SqlValue`` is one JSON value (an attribute of a JSON column, an element of a JSON array, or a
string column) seen through the same lens on SQLite (``json_type``/``json_extract``/``json_each``) and
PostgreSQL (``jsonb_typeof``/``->``/``->>``/``jsonb_array_elements``). Every predicate built here may
be NULL; callers wrap whole tests in ``coalesce(..., false)`` so that ``not`` stays exact.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Float,
    String,
    and_,
    case,
    cast,
    event,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from relata.core.conditions.values import (
    MS_THRESHOLD,
    NUMERIC_MAX_LENGTH,
    as_time,
    fold,
    is_numeric_string,
    number_as_time,
)

Expr = ColumnElement[Any]
Bool = ColumnElement[bool]

_DATE = "[1-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
_TIME = "[T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
_FRACTIONS = ["", *(("." + "[0-9]" * digits) for digits in range(1, 7))]
_ZONES = ["", "Z", "[+-][0-9][0-9]:[0-9][0-9]"]
ISO_GLOBS = [_DATE] + [_DATE + _TIME + fraction + zone for fraction in _FRACTIONS for zone in _ZONES]
ISO_REGEX = (
    r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)
NUMERIC_REGEX = r"^-?[0-9]+(\.[0-9]+)?$"


@dataclass(frozen=True)
class SqlValue:
    """A JSON value in SQL. ``kind`` is the dialect's type name expression; ``text`` the scalar as SQL
    text (SQLite: the extracted SQL value); ``json`` (PostgreSQL) the jsonb value itself."""

    dialect: str
    kind: Expr | None
    text: Expr
    json: Expr | None = None
    column: bool = False  # a plain string column
    document: Expr | None = None  # SQLite: the JSON column and path the value is read from
    path: str | None = None

    @property
    def pg(self) -> bool:
        return self.dialect == "postgresql"

    def present(self) -> Bool:
        if self.column:
            return self.text.is_not(None)
        assert self.kind is not None
        return and_(self.kind.is_not(None), self.kind != "null")

    def is_string(self) -> Bool:
        if self.column:
            return self.text.is_not(None)
        assert self.kind is not None
        return self.kind == ("string" if self.pg else "text")

    def is_number(self) -> Bool:
        if self.column:
            return false()
        assert self.kind is not None
        return self.kind == "number" if self.pg else self.kind.in_(("integer", "real"))

    def is_bool(self, value: bool) -> Bool:
        if self.column:
            return false()
        assert self.kind is not None
        if self.pg:
            return and_(self.kind == "boolean", self.text == ("true" if value else "false"))
        return self.kind == ("true" if value else "false")

    def is_array(self) -> Bool:
        if self.column:
            return false()
        assert self.kind is not None
        return self.kind == "array"


class Sql:
    """Builders of typed values and tests for one dialect (``sqlite`` or ``postgresql``)."""

    def __init__(self, dialect: str) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"conditions run on SQLite and PostgreSQL, not {dialect}")
        self.dialect = dialect

    @property
    def pg(self) -> bool:
        return self.dialect == "postgresql"

    # --- values ------------------------------------------------------------------------------------

    def field(self, document: Expr, key: str) -> SqlValue:
        """The attribute ``key`` of a JSON column."""
        if self.pg:
            value = document.op("->", return_type=JSONB)(literal(key, String))
            return SqlValue(
                self.dialect,
                func.jsonb_typeof(value),
                document.op("->>", return_type=String)(literal(key, String)),
                value,
            )
        path = f'$."{key}"'
        return SqlValue(
            self.dialect,
            func.json_type(document, path),
            func.json_extract(document, path),
            document=document,
            path=path,
        )

    def column(self, column: Expr) -> SqlValue:
        return SqlValue(self.dialect, None, column, column=True)

    def elements(self, value: SqlValue) -> tuple[Any, SqlValue]:
        """A table of the elements of an array value, and the element as a value."""
        if self.pg:
            assert value.json is not None and value.kind is not None
            array = case((value.kind == "array", value.json), else_=literal_column("'[]'::jsonb"))
            table = func.jsonb_array_elements(array).table_valued("value").alias()
            item = table.c.value
            text = item.op("#>>", return_type=String)(literal_column("'{}'::text[]"))
            return table, SqlValue(self.dialect, func.jsonb_typeof(item), text, item)
        assert value.document is not None and value.path is not None
        table = func.json_each(value.document, value.path).table_valued("type", "atom").alias()
        return table, SqlValue(self.dialect, table.c.type, table.c.atom)

    # --- shapes ------------------------------------------------------------------------------------

    def numeric_shape(self, text: Expr) -> Bool:
        if self.pg:
            return and_(text.op("~")(NUMERIC_REGEX), func.length(text) <= NUMERIC_MAX_LENGTH)
        body = case((func.substr(text, 1, 1) == "-", func.substr(text, 2)), else_=text)
        return and_(
            func.length(text) <= NUMERIC_MAX_LENGTH,
            body.op("GLOB")("[0-9]*"),
            body.op("NOT GLOB")("*[^0-9.]*"),
            body.op("NOT GLOB")("*.*.*"),
            body.op("NOT GLOB")("*."),
        )

    def iso_shape(self, text: Expr) -> Bool:
        if self.pg:
            return text.op("~")(ISO_REGEX)
        return or_(*(text.op("GLOB")(pattern) for pattern in ISO_GLOBS))

    # --- typed readings ------------------------------------------------------------------------------

    def number(self, value: SqlValue) -> Expr:
        """The value as a double (numbers and numeric strings), else NULL."""
        if value.column:
            return case((self.numeric_shape(value.text), cast(value.text, Float)))
        return case(
            (value.is_number(), cast(value.text, Float)),
            (and_(value.is_string(), self.numeric_shape(value.text)), cast(value.text, Float)),
        )

    def string(self, value: SqlValue, insensitive: bool) -> Expr:
        text = value.text
        if self.pg:
            text = text.collate("C")
        return func.lower(text) if insensitive else text

    def time(self, value: SqlValue) -> Expr:
        """Milliseconds (as a double) of numbers (unix seconds, or ms from 1e11), numeric strings and
        ISO-8601 strings, else NULL.

        On SQLite this is the function ``relata_time`` (``values.as_time`` itself, installed on every
        connection by ``install_sqlite_functions``): the equivalent SQL is too deep for SQLite's parser
        stack once a condition nests a few hops."""
        if not self.pg:
            kind = literal("text") if value.column else value.kind
            return func.relata_time(kind, value.text, type_=Float)
        number = cast(value.text, Float)
        moment = case((number >= MS_THRESHOLD, number), else_=number * 1000.0)
        if value.column:
            return case(
                (self.numeric_shape(value.text), moment),
                (self.iso_shape(value.text), cast(self.iso_millis(value.text), Float)),
            )
        return case(
            (value.is_number(), moment),
            (and_(value.is_string(), self.numeric_shape(value.text)), moment),
            (and_(value.is_string(), self.iso_shape(value.text)), cast(self.iso_millis(value.text), Float)),
        )

    def iso_millis(self, text: Expr) -> Expr:
        """PostgreSQL: milliseconds of an ISO string of the accepted shapes (``values.iso_millis``), else
        NULL. Days come from the closed form of ``values.days_from_civil`` (years here are positive, so
        truncating integer division is floor division); days past a month's end roll over."""

        def part(start: Any, length: int) -> Expr:
            return cast(func.substr(text, start, length), BigInteger)

        size = func.length(text)
        timed = size > 10
        year, month, day = part(1, 4), part(6, 2), part(9, 2)
        hour = case((timed, part(12, 2)), else_=0)
        minute = case((timed, part(15, 2)), else_=0)
        second = case((timed, part(18, 2)), else_=0)
        has_zone = and_(size > 19, func.substr(text, size - 5, 1).in_(("+", "-")))
        zone_hours = case((has_zone, part(size - 4, 2)), else_=0)
        zone_minutes = case((has_zone, part(size - 1, 2)), else_=0)
        sign = case((func.substr(text, size - 5, 1) == "+", 1), else_=-1)
        offset = (zone_hours * 60 + zone_minutes) * 60000 * sign
        # the fraction's digits: up to three characters after the dot, cut where the zone starts
        head = func.replace(
            func.replace(func.replace(func.substr(text, 21, 3), "Z", "|"), "+", "|"), "-", "|"
        )
        cut = func.strpos(head, "|")
        digits = case((cut > 0, func.substr(head, 1, cut - 1)), else_=head)
        millis = case(
            (
                and_(size > 20, func.substr(text, 20, 1) == "."),
                cast(func.substr(digits.concat("00"), 1, 3), BigInteger),
            ),
            else_=0,
        )
        shifted = year - case((month <= 2, 1), else_=0)
        mp = case((month > 2, month - 3), else_=month + 9)
        days = (
            shifted * 365
            + shifted // 4
            - shifted // 100
            + shifted // 400
            + (153 * mp + 2) // 5
            + day
            - 719469
        )
        total = days * 86400000 + hour * 3600000 + minute * 60000 + second * 1000 + millis - offset
        valid = and_(
            month.between(1, 12),
            day.between(1, 31),
            hour <= 23,
            minute <= 59,
            second <= 59,
            zone_hours <= 23,
            zone_minutes <= 59,
        )
        return case((valid, total))

    # --- tests -------------------------------------------------------------------------------------

    def equals(self, value: SqlValue, literal_value: Any, insensitive: bool) -> Bool:
        """``values.equals`` in SQL."""
        if isinstance(literal_value, bool):
            word = "true" if literal_value else "false"
            return or_(value.is_bool(literal_value), and_(value.is_string(), value.text == word))
        if isinstance(literal_value, int | float):
            return self.number(value) == float(literal_value)
        assert isinstance(literal_value, str)
        expected = fold(literal_value) if insensitive else literal_value
        tests = [and_(value.is_string(), self.string(value, insensitive) == expected)]
        if literal_value in ("true", "false"):
            tests.append(value.is_bool(literal_value == "true"))
        if is_numeric_string(literal_value):
            tests.append(and_(value.is_number(), cast(value.text, Float) == float(literal_value)))
        return or_(*tests)

    def contains_text(self, value: SqlValue, needle: str, insensitive: bool) -> Bool:
        haystack = self.string(value, insensitive)
        expected = fold(needle) if insensitive else needle
        position = func.strpos(haystack, expected) if self.pg else func.instr(haystack, expected)
        return and_(value.is_string(), position > 0)

    def contains(self, value: SqlValue, needle: Any, insensitive: bool) -> Bool:
        tests = []
        if isinstance(needle, str):
            tests.append(self.contains_text(value, needle, insensitive))
        if not value.column:
            table, item = self.elements(value)
            tests.append(
                and_(
                    value.is_array(),
                    select(literal(1))
                    .select_from(table)
                    .where(self.equals(item, needle, insensitive))
                    .exists(),
                )
            )
        return or_(*tests) if tests else false()

    def starts_with(self, value: SqlValue, prefix: str, insensitive: bool) -> Bool:
        if not prefix:
            return value.is_string()
        expected = fold(prefix) if insensitive else prefix
        return and_(
            value.is_string(), func.substr(self.string(value, insensitive), 1, len(prefix)) == expected
        )

    def ends_with(self, value: SqlValue, suffix: str, insensitive: bool) -> Bool:
        if not suffix:
            return value.is_string()
        expected = fold(suffix) if insensitive else suffix
        text = self.string(value, insensitive)
        size = func.length(text)
        return and_(
            value.is_string(),
            size >= len(suffix),
            func.substr(text, size - len(suffix) + 1, len(suffix)) == expected,
        )


def _sqlite_time(kind: object, value: object) -> float | None:
    if kind in ("integer", "real") and isinstance(value, int | float):
        return number_as_time(float(value))
    if kind == "text" and isinstance(value, str):
        return as_time(value)
    return None


def install_sqlite_functions(dbapi_connection: Any) -> None:
    """Register the functions conditions use on a raw ``sqlite3`` connection (idempotent)."""
    dbapi_connection.create_function("relata_time", 2, _sqlite_time, deterministic=True)


_hooked: weakref.WeakSet[Engine] = weakref.WeakSet()


def prepare(conn: Connection) -> None:
    """Make ``conn`` (and every later connection of its engine) able to run compiled conditions."""
    if conn.dialect.name != "sqlite":
        return
    engine = conn.engine
    if engine not in _hooked:
        _hooked.add(engine)
        event.listen(
            engine, "connect", lambda dbapi_connection, _record: install_sqlite_functions(dbapi_connection)
        )
    install_sqlite_functions(conn.connection.dbapi_connection)


def definitely(test: Bool) -> Bool:
    """A test that is never NULL: NULL counts as false."""
    return func.coalesce(test, false())
