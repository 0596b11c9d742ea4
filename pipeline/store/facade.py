"""``Store``: the one object the rest of Susulan holds; its methods come from the repository modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import BadInput
from pipeline.store.db import Database, Params, Row, Tx
from pipeline.store.files import FilesRepo
from pipeline.store.records import RecordsRepo
from pipeline.store.schema import migrate

DB_NAME = "susulan.db"


class Store(FilesRepo, RecordsRepo):
    """The store of one data directory: ``<data_dir>/susulan.db`` plus page images and originals beside it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BadInput(f"cannot create data directory {self.data_dir}: {e.strerror}") from e
        self.db = Database(self.data_dir / DB_NAME)
        migrate(self.db)

    @classmethod
    @contextmanager
    def open(cls, data_dir: Path) -> Iterator[Store]:
        """Open (creating and migrating if needed) and close when done."""
        store = cls(data_dir)
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
