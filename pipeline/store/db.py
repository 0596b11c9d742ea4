"""The database layer: one connection, one SQL dialect (``?`` placeholders), one transaction per user action.

Everything above this module writes portable SQL (see :mod:`pipeline.store`); what differs between
SQLite and PostgreSQL is handled here and in :mod:`pipeline.store.schema`, nowhere else.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pipeline.errors import BadInput

Params = Sequence[Any] | dict[str, Any]


class Row(Protocol):
    """A result row: by column name (``row["id"]``) or position (``row[0]``); ``dict(row)`` works."""

    def __getitem__(self, key: str | int, /) -> Any: ...  # noqa: D105

    def keys(self) -> list[str]: ...  # noqa: D102


class Cursor(Protocol):
    """What :meth:`Tx.execute` returns."""

    rowcount: int

    def fetchone(self) -> Any: ...  # noqa: D102

    def fetchall(self) -> list[Any]: ...  # noqa: D102


def now() -> str:
    """Current UTC time as ISO 8601 with seconds (how every time is stored)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


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

    def q(self, sql: str, params: Params = ()) -> list[Row]:
        """Rows of a query, read inside the transaction."""
        return self._db._execute(sql, params).fetchall()

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query, or None."""
        return self._db._execute(sql, params).fetchone()  # type: ignore[no-any-return]

    def insert(self, sql: str, params: Params = ()) -> int:
        """Run an ``INSERT`` into a table with an ``id`` column; returns the new id (``RETURNING id``)."""
        row = self._db._execute(sql + " RETURNING id", params).fetchone()
        return int(row[0])


class Database:
    """A connection to the store's database (SQLite file; PostgreSQL comes through the same API)."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.url = str(path)
        try:
            self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise BadInput(f"cannot open the store {path}: {e}") from e
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=30000")
        self._depth = 0

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def q(self, sql: str, params: Params = ()) -> list[Row]:
        """Rows of a read query (outside a transaction each query sees the latest committed data)."""
        return self._execute(sql, params).fetchall()

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a read query, or None."""
        return self._execute(sql, params).fetchone()  # type: ignore[no-any-return]

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

    # --- dialect -------------------------------------------------------------------------------------

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

    def script(self, statements: list[str]) -> None:
        """Run DDL statements (inside :meth:`tx`)."""
        for s in statements:
            self.conn.execute(s)
