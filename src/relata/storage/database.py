"""Engines and transactions for SQLite and PostgreSQL; the dialect differences live here.

SQLite has one writer: writes take a process-wide lock and ``BEGIN IMMEDIATE`` so they never fail
half-way on a busy database, and the database runs in WAL mode so reads go on beside the writer.
PostgreSQL takes any number of writers.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Column, Connection, CursorResult, Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


def normalize_url(url: str) -> str:
    """``postgresql://`` uses psycopg 3; a bare path means a SQLite file."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:
        return f"sqlite:///{url}"
    return url


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = normalize_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        self._write_lock = threading.RLock()
        if self.is_sqlite:
            _ensure_sqlite_folder(self.url)
            self.engine: Engine = create_engine(
                self.url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": 30},
                json_serializer=json_dumps,
                json_deserializer=json_loads,
                pool_size=pool_size,
                max_overflow=pool_size,
            )
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = create_engine(
                self.url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                json_serializer=json_dumps,
                json_deserializer=json_loads,
            )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction that commits on success; on SQLite writers take turns, on PostgreSQL they run
        side by side (callers retry a transaction that loses a race, see ``services.ingest``)."""
        with self._write_lock if self.is_sqlite else nullcontext(), self.engine.connect() as conn:
            if self.is_sqlite:
                conn.info["immediate"] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("immediate", None)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent read (one transaction) that writes nothing."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself so that writes can ask for BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")


def null_pool_engine(url: str) -> Engine:
    """A throwaway engine (migrations, admin statements)."""
    url = normalize_url(url)
    _ensure_sqlite_folder(url)
    return create_engine(url, poolclass=NullPool)


def _ensure_sqlite_folder(url: str) -> None:
    """SQLite creates a missing file but not a missing folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def inserted_pk(result: CursorResult[Any]) -> int:
    """The primary key of the row an INSERT just wrote."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def json_dumps(value: Any) -> str:
    """JSON columns are written with orjson (several times faster); what it cannot encode falls back."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def json_loads(text_: str | bytes) -> Any:
    try:
        return orjson.loads(text_)
    except orjson.JSONDecodeError:
        return json.loads(text_)  # NaN and the like, written before orjson


class PrimaryKeys:
    """Primary keys handed out before their rows are inserted, so that rows can be written in bulk later.

    SQLite has one writer, which holds the database's write lock for the whole transaction: the next
    key is one past the highest ever used (the table's rows and its AUTOINCREMENT high-water mark, so
    a deleted row's key is never reused), read once per table and counted on in memory. PostgreSQL
    takes values of the column's sequence in blocks (``nextval`` over ``generate_series``); unused
    values leave gaps, as any rolled-back insert does.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.is_sqlite = conn.dialect.name == "sqlite"
        self._next: dict[Column[Any], int] = {}
        self._free: dict[str, list[int]] = {}
        self._hint: dict[str, int] = {}

    def expect(self, column: Column[Any], count: int) -> None:
        """About ``count`` keys of ``column`` will be needed: fetch them in one round trip."""
        name = _key_name(column)
        self._hint[name] = max(self._hint.get(name, 0), count)

    def _sqlite_high_water(self, column: Column[Any]) -> int:
        """The highest key ever used: deleted rows' keys are never handed out again (AUTOINCREMENT)."""
        highest = int(self.conn.execute(select(func.max(column))).scalar() or 0)
        used = self.conn.execute(
            text("SELECT seq FROM sqlite_sequence WHERE name = :name"), {"name": column.table.name}
        ).scalar()
        return max(highest, int(used or 0))

    def take(self, column: Column[Any]) -> int:
        if self.is_sqlite:
            key = self._next.get(column)
            if key is None:
                key = self._sqlite_high_water(column) + 1
            self._next[column] = key + 1
            return key
        name = _key_name(column)
        free = self._free.setdefault(name, [])
        if not free:
            count = max(self._hint.pop(name, 0), 16)
            sequence = f"pg_get_serial_sequence('{column.table.name}', '{column.name}')"
            rows = self.conn.execute(text(f"SELECT nextval({sequence}) FROM generate_series(1, {count})"))
            free.extend(sorted((int(r[0]) for r in rows), reverse=True))
        return free.pop()

    def reset(self) -> None:
        """Forget what was counted (rows may have been inserted behind our back)."""
        self._next.clear()


def _key_name(column: Column[Any]) -> str:
    return f"{column.table.name}.{column.name}"


@dataclass(frozen=True)
class _Prepared:
    statement: Any
    sql: str  # with positional placeholders
    names: tuple[str, ...]  # the parameter of each placeholder, in order
    processors: tuple[Callable[[Any], Any] | None, ...]
    values: str | None  # an INSERT of all rows given as one JSON document


_prepared: dict[tuple[int, str, tuple[str, ...]], _Prepared] = {}
_NAMED = re.compile(r"%\((\w+)\)s")


def _prepare(conn: Connection, statement: Any, keys: tuple[str, ...]) -> _Prepared:
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(keys), for_executemany=True)
    sql = str(compiled)
    if compiled.positional:
        names = tuple(compiled.positiontup or ())
    else:  # pyformat (psycopg): make it positional, so that rows can be tuples and VALUES can repeat
        names = tuple(_NAMED.findall(sql))
        sql = _NAMED.sub("%s", sql)
    if missing := set(names) - set(keys):
        raise ValueError(f"rows lack the parameters {sorted(missing)} of {sql}")
    processors = tuple(compiled.binds[name].type.bind_processor(conn.dialect) for name in names)
    values = None
    if getattr(statement, "is_insert", False) and conn.dialect.name == "postgresql" and " VALUES (" in sql:
        # INSERT ... SELECT FROM jsonb_to_recordset(%s): every row in one JSON parameter, encoded at once
        # by orjson and parsed once by the server (arrays of text would be escaped value by value); in
        # order, so that keys drawn from a sequence follow the rows (the change log's order).
        head, group = sql.split(" VALUES (", 1)
        types = [item.strip().removeprefix("%s::") for item in group.rstrip(")").split(",")]
        if len(types) == len(names) and not any("%" in t for t in types):
            columns = ", ".join(f'"{name}"' for name in names)
            record = ", ".join(f'"{name}" {type_}' for name, type_ in zip(names, types, strict=True))
            values = (
                f"{head} SELECT {columns} FROM ROWS FROM (jsonb_to_recordset(%s::JSONB) AS ({record}))"
                f" WITH ORDINALITY AS r({columns}, row_number) ORDER BY row_number"
            )
    return _Prepared(statement, sql, names, processors, values)


def executemany(conn: Connection, statement: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run ``statement`` for every row, in as few round trips as the driver allows.

    The statement is compiled once per dialect and set of keys; each value goes through its column
    type's bind processor (JSON is encoded with the engine's serializer) and rows reach the driver as
    plain tuples: SQLAlchemy's per-row parameter handling, which costs more than SQLite's own work for
    small rows, is skipped. SQLite gets the driver's ``executemany`` (a loop in C); on PostgreSQL an
    INSERT becomes one ``INSERT ... SELECT ... FROM jsonb_to_recordset(<all rows>)``, other statements
    go to psycopg's pipelined ``executemany``. ``statement`` must live as long as the process (a module
    constant or a cached property): compiled forms are kept by its id.
    """
    if not rows:
        return
    keys = tuple(rows[0])
    key = (id(statement), conn.dialect.name, keys)
    prepared = _prepared.get(key)
    if prepared is None or prepared.statement is not statement:
        prepared = _prepared[key] = _prepare(conn, statement, keys)
    if prepared.values is not None:
        conn.exec_driver_sql(prepared.values, (json_dumps(rows),))
        return
    plan = list(zip(prepared.names, prepared.processors, strict=True))
    params = [
        tuple(row[name] if process is None else process(row[name]) for name, process in plan) for row in rows
    ]
    conn.exec_driver_sql(prepared.sql, params)
