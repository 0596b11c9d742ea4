"""The store: every read and write of Susulan's data goes through here.

Layout (one concern per module; ``Store`` is the facade everyone else holds)::

    db.py       Database: the connection, one SQL dialect, transactions (SQLite; PostgreSQL the same way)
    schema.py   the schema as named migrations
    audit.py    the one audit writer (every change to a value, a state, an account, an ERM decision)
    files.py    printed serials, batches, files, pages (what ingest writes)
    records.py  records, field values, issues; people's and the machine's changes (versioned, audited)
    review.py   what the review app asks: changes, approvals, counts, problem pages; NEEDS_LOOK
    sheets.py   the review screens: sheets worst first, one sheet ready to show, sheet actions, columns
    users.py    staff accounts
    learning.py reviewed cells and the versions of a clinic's adaptations
    facade.py   ``Store`` = the repositories above over one ``Database``

Conventions:

- **Adding a method**: put it in the module of its concern (a method of the repo class, or a
  function taking ``store`` in ``review.py``/``users.py``); read with ``self.db.q`` / ``self.db.one``,
  write inside ``with self.db.tx() as c:`` using ``c.execute`` / ``c.insert`` (returns the new id).
  Return rows (``row["col"]``) or plain dicts/dataclasses. Code outside ``pipeline/store`` never
  writes SQL: it calls a method.
- **Portable SQL only**: ``?`` placeholders; ``COALESCE`` not ``IFNULL``; ``INSERT ... ON CONFLICT
  DO NOTHING/DO UPDATE`` not ``INSERT OR IGNORE/REPLACE``; new ids by ``c.insert`` (``RETURNING id``),
  never ``lastrowid``; ``"user"`` double-quoted; ``COUNT(*) FILTER (WHERE ...)`` or ``SUM(CASE ...)``
  rather than summing booleans; no SQLite-only functions (``GLOB``, ``IFNULL``, ``printf``).
- **A transaction per user action**: ``with store.tx():`` around several store calls makes them one
  transaction (``tx`` is re-entrant: inner ones join the outer, which commits at its end or rolls
  back on any exception).
- **Concurrency**: a change that checks a version reads the row with ``c.one(..., for_update=True)``
  (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already holds its one write lock);
  ``c.lock(table)`` before a ``SELECT MAX(...)`` that decides what to insert. A claim is one atomic
  statement on both backends: ``c.q("UPDATE pages SET status='running' WHERE id=? AND status='pending'
  RETURNING id", ...)`` (PostgreSQL re-checks the ``WHERE`` after waiting for a row lock).
- **Every change is audited** through :func:`pipeline.store.audit.write`, inside the transaction
  that makes the change.
- **A migration**: append ``("NNNN_what", "SQL; SQL")`` to ``schema.MIGRATIONS`` with the next
  free number and a descriptive name; never edit or rename one that is on main.
"""

from pipeline.store.db import Database, Row, now
from pipeline.store.facade import Store, describe
from pipeline.store.records import HUMAN_STATUSES, MACHINE_USER, Conflict

__all__ = ["HUMAN_STATUSES", "MACHINE_USER", "Conflict", "Database", "Row", "Store", "describe", "now"]
