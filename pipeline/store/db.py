"""The database layer: one connection, one SQL dialect (``?`` placeholders), one transaction per user action.

Two backends behind one API: SQLite (a file in the data directory, the embedded default) and
PostgreSQL (``postgresql://…``, through psycopg 3). Everything above this module writes portable SQL
(see :mod:`pipeline.store`); what differs between the two is handled here, nowhere else: placeholders,
DDL types, transactions and locks, and the few SQL fragments of :meth:`Database.sql`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from pipeline.errors import BadInput, MissingDependency

Params = Sequence[Any] | dict[str, Any]
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class Row(Protocol):
    """A result row: by column name (``row["id"]``) or position (``row[0]``); ``dict(row)`` works."""

    def __getitem__(self, key: str | int, /) -> Any: ...  # noqa: D105

    def keys(self) -> Iterable[str]: ...  # noqa: D102


class Cursor(Protocol):
    """What :meth:`Tx.execute` returns."""

    @property
    def rowcount(self) -> int: ...  # noqa: D102

    def fetchone(self) -> Any: ...  # noqa: D102

    def fetchall(self) -> list[Any]: ...  # noqa: D102


def now() -> str:
    """Current UTC time as ISO 8601 with seconds (how every time is stored)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def is_postgres(target: str | Path | None) -> bool:
    """Whether a ``--db`` value names a PostgreSQL database."""
    return str(target or "").startswith(POSTGRES_SCHEMES)


def safe_url(url: str) -> str:
    """A database URL fit for messages: any password replaced by ``***``."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def connect(target: str | Path) -> Database:
    """Open the database a ``--db`` value names: a ``postgresql://`` URL or an SQLite file path."""
    if is_postgres(target):
        return PostgresDatabase(str(target))
    return SqliteDatabase(Path(target))


class Tx:
    """The open transaction: statements run here commit or roll back together."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        """Run one statement."""
        return self._db._execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement once per parameter row."""
        self._db._executemany(sql, rows)

    def q(self, sql: str, params: Params = (), *, for_update: bool = False) -> list[Row]:
        """Rows of a query, read inside the transaction; ``for_update`` locks them as :meth:`one` does."""
        if for_update:
            sql += self._db.for_update
        return self._db._execute(sql, params).fetchall()

    def one(self, sql: str, params: Params = (), *, for_update: bool = False) -> Row | None:
        """The first row of a query, or None; ``for_update`` locks the rows read until the transaction ends.

        (On SQLite the whole database is already locked for writing by ``BEGIN IMMEDIATE``; on PostgreSQL
        it adds ``FOR UPDATE``, so a version read here cannot change before this transaction writes.)
        """
        if for_update:
            sql += self._db.for_update
        return self._db._execute(sql, params).fetchone()

    def lock(self, table: str) -> None:
        """Keep other writers off a whole table until the transaction ends (e.g. before ``SELECT MAX``)."""
        self._db._lock(table)

    def insert(self, sql: str, params: Params = ()) -> int:
        """Run an ``INSERT`` into a table with an ``id`` column; returns the new id (``RETURNING id``)."""
        row = self._db._execute(sql + " RETURNING id", params).fetchone()
        return int(row[0])


class Database:
    """A connection to the store's database; the API is the same for every backend."""

    dialect = ""
    url = ""
    for_update = ""

    def __init__(self) -> None:
        self._depth = 0

    def close(self) -> None:
        """Close the connection."""
        raise NotImplementedError

    def q(self, sql: str, params: Params = ()) -> list[Row]:
        """Rows of a read query (outside a transaction each query sees the latest committed data)."""
        return self._execute(sql, params).fetchall()

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a read query, or None."""
        return self._execute(sql, params).fetchone()

    def run(self, sql: str, params: Params = ()) -> None:
        """Run a statement that returns no rows, outside a transaction (DDL such as ``CREATE TABLE IF NOT EXISTS``)."""
        self._execute(sql, params)

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """A write transaction, rolled back on any error.

        Re-entrant: a ``tx()`` opened inside another joins it, so a user action made of several
        store calls commits once, at the end of the outermost one.
        """
        if self._depth:
            self._depth += 1
            try:
                yield Tx(self)
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield Tx(self)
        except BaseException:
            self._depth = 0
            self._rollback()
            raise
        self._depth = 0
        self._commit()

    def has_table(self, name: str) -> bool:
        """Whether the database has this table."""
        raise NotImplementedError

    def sql(self, fragment: str, column: str) -> str:
        """A SQL fragment the two dialects write differently: ``iso_date`` (``column`` holds YYYY-MM-DD)."""
        raise NotImplementedError

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """Held while migrating, so two processes opening a new store do not both create it."""
        yield

    def ddl(self, statement: str) -> str:
        """A ``CREATE``/``ALTER`` statement of :mod:`pipeline.store.schema` in this dialect."""
        return statement

    # --- backend ---------------------------------------------------------------------------------

    def _lock(self, table: str) -> None:
        """Nothing to do where ``BEGIN IMMEDIATE`` already holds the database's one write lock."""

    def _begin(self) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def _execute(self, sql: str, params: Params) -> Cursor:
        raise NotImplementedError

    def _executemany(self, sql: str, rows: Iterable[Params]) -> None:
        raise NotImplementedError


class SqliteDatabase(Database):
    """An SQLite file (WAL); writers take the file's write lock at ``BEGIN IMMEDIATE``."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.url = str(path)
        try:
            self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as e:
            raise BadInput(f"cannot open the store {path}: {e}") from e

    def close(self) -> None:  # noqa: D102
        self.conn.close()

    def has_table(self, name: str) -> bool:  # noqa: D102
        return self.one("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)) is not None

    def sql(self, fragment: str, column: str) -> str:  # noqa: D102
        if fragment == "iso_date":
            return f"{column} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"
        raise ValueError(fragment)

    def _begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self.conn.execute("COMMIT")

    def _rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def _execute(self, sql: str, params: Params) -> Cursor:
        return self.conn.execute(sql, params)

    def _executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self.conn.executemany(sql, rows)


_TOKENS = re.compile(r"('(?:[^']|'')*'|\"[^\"]*\")|(\?)|(%)")
_DDL = [  # SQLite DDL words -> PostgreSQL
    (re.compile(r"\bid INTEGER PRIMARY KEY\b"), "id SERIAL PRIMARY KEY"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
]


@lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """``?`` placeholders -> psycopg's ``%s`` (a literal ``%`` doubled); quoted text left alone."""
    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return m.group(1).replace("%", "%%") if m.group(1).startswith("'") else m.group(1)
        return "%s" if m.group(2) else "%%"

    return _TOKENS.sub(one, sql)


class _PgRow(dict[str, Any]):
    """A psycopg row that, like ``sqlite3.Row``, can also be read by position."""

    __slots__ = ("_values",)

    def __init__(self, names: list[str], values: Sequence[Any]) -> None:
        super().__init__(zip(names, values, strict=False))
        self._values = values

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int):
            return self._values[key]
        return super().__getitem__(key)


def _pg_rows(cursor: Any) -> Any:
    names = [c.name for c in cursor.description or ()]
    return lambda values: _PgRow(names, values)


class PostgresDatabase(Database):
    """A PostgreSQL database; concurrent writers are kept apart by its row locks (``SELECT … FOR UPDATE``)."""

    dialect = "postgresql"
    for_update = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        try:
            import psycopg
        except ImportError as e:
            raise MissingDependency("PostgreSQL needs the psycopg package: pip install 'psycopg[binary]'") from e
        self._psycopg = psycopg
        try:
            self.conn = psycopg.connect(url, autocommit=True, row_factory=_pg_rows, connect_timeout=10)
        except psycopg.Error as e:
            raise BadInput(f"cannot connect to the store {safe_url(url)}: {str(e).strip()}") from e
        self._tx: Any = None

    def close(self) -> None:  # noqa: D102
        self.conn.close()

    def has_table(self, name: str) -> bool:  # noqa: D102
        row = self.one("SELECT to_regclass(?) IS NOT NULL", (name,))
        return bool(row and row[0])

    def sql(self, fragment: str, column: str) -> str:  # noqa: D102
        if fragment == "iso_date":
            return f"{column} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$'"
        raise ValueError(fragment)

    @contextmanager
    def migration_lock(self) -> Iterator[None]:  # noqa: D102
        self.conn.execute("SELECT pg_advisory_lock(7357)")
        try:
            yield
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(7357)")

    def ddl(self, statement: str) -> str:  # noqa: D102
        for pattern, replacement in _DDL:
            statement = pattern.sub(replacement, statement)
        return statement

    def _lock(self, table: str) -> None:
        self._execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE", ())

    def _begin(self) -> None:
        self._tx = self.conn.transaction()
        self._tx.__enter__()

    def _commit(self) -> None:
        tx, self._tx = self._tx, None
        tx.__exit__(None, None, None)

    def _rollback(self) -> None:
        tx, self._tx = self._tx, None
        tx.__exit__(RuntimeError, RuntimeError("rolled back"), None)

    def _execute(self, sql: str, params: Params) -> Cursor:
        return self.conn.execute(to_pyformat(sql), params)

    def _executemany(self, sql: str, rows: Iterable[Params]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(to_pyformat(sql), rows)
