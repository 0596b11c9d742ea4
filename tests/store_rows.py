"""Read a test's store directly (whichever backend ``$SUSULAN_DB`` names) to check what was written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.store import Store


def rows(data_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of a query on the store of ``data_dir``, as dicts."""
    with Store.open(data_dir) as store:
        return [dict(r) for r in store.db.q(sql, params)]


def count(data_dir: Path, table: str, where: str = "") -> int:
    """How many rows a table has (optionally ``WHERE`` something)."""
    return int(rows(data_dir, f"SELECT COUNT(*) AS n FROM {table}" + (f" WHERE {where}" if where else ""))[0]["n"])
