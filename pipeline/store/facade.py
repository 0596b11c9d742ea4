"""``Store``: the one object the rest of Susulan holds; its methods come from the repository modules."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import BadInput
from pipeline.store.db import Database, Params, Row, Tx, connect, is_postgres, safe_url
from pipeline.store.erm import ErmRepo
from pipeline.store.files import FilesRepo
from pipeline.store.records import RecordsRepo
from pipeline.store.schema import migrate

DB_NAME = "susulan.db"
DB_ENV = "SUSULAN_DB"
"""Where the database is when ``--db`` is not given: a ``postgresql://`` URL or an SQLite file."""


def database_target(data_dir: Path, db: str | None = None) -> str:
    """The database a command uses: ``db``, else ``$SUSULAN_DB``, else ``<data_dir>/susulan.db``."""
    return db or os.environ.get(DB_ENV) or str(Path(data_dir) / DB_NAME)


def describe(data_dir: Path, db: str | None = None) -> str:
    """The database in words fit for messages (no password)."""
    target = database_target(data_dir, db)
    return f"PostgreSQL {safe_url(target)}" if is_postgres(target) else target


class Store(FilesRepo, RecordsRepo, ErmRepo):
    """The store of one data directory: the database plus page images and originals in the data directory.

    The database is SQLite (``<data_dir>/susulan.db``) unless ``db`` or ``$SUSULAN_DB`` names a
    PostgreSQL database (``postgresql://user:password@host/name``); the data directory then holds
    only the files, and every machine using that database must reach it under the same path.
    """

    def __init__(self, data_dir: Path, db: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BadInput(f"cannot create data directory {self.data_dir}: {e.strerror}") from e
        self.db: Database = connect(database_target(self.data_dir, db))
        try:
            migrate(self.db)
        except BaseException:
            self.db.close()
            raise

    @staticmethod
    def exists(data_dir: Path, db: str | None = None) -> bool:
        """Whether a store was ever created there (without creating one)."""
        target = database_target(data_dir, db)
        if not is_postgres(target):
            return Path(target).exists()
        database = connect(target)
        try:
            return database.has_table("schema_migrations")
        finally:
            database.close()

    @classmethod
    @contextmanager
    def open(cls, data_dir: Path, db: str | None = None) -> Iterator[Store]:
        """Open (creating and migrating if needed) and close when done."""
        store = cls(data_dir, db)
        try:
            yield store
        finally:
            store.close()

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """One transaction for one user action: store calls made inside it commit together."""
        with self.db.tx() as c:
            yield c

    def q(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a read query (to be replaced by store methods outside ``pipeline.store``)."""
        return self.db.q(sql, params)
