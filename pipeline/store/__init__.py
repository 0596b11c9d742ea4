"""Schema, migrations and the repository API over the SQLite store."""

from pipeline.store.db import Conflict, Store

__all__ = ["Conflict", "Store"]
