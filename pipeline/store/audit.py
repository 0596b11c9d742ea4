"""The audit log: the one writer every change to a value, a state, an account or an ERM decision goes through."""

from __future__ import annotations

from pipeline.store.db import Database, Row, Tx, now


def write(c: Tx, user: str, action: str, *, record_id: int | None = None, field_id: int | None = None,
          field: str = "", old: str | None = None, new: str | None = None, note: str = "",
          at: str | None = None) -> None:
    """Append one audit row inside the transaction that makes the change.

    ``action`` says what happened (``set``, ``confirm``, ``machine``, ``state``, ``page_discard``,
    ``user_add``, ``erm_patient``…); ``field`` names the field, or the thing changed when it is not a
    field (``page:12``, an account name).
    """
    c.execute('INSERT INTO audit (at, "user", action, record_id, field_id, field, old, new, note) '
              "VALUES (?,?,?,?,?,?,?,?,?)",
              (at or now(), user, action, record_id, field_id, field, old, new, note))


def of_record(db: Database, record_id: int) -> list[Row]:
    """Audit rows of a record, oldest first."""
    return db.q("SELECT * FROM audit WHERE record_id=? ORDER BY id", (record_id,))


def recent(db: Database, limit: int = 200) -> list[Row]:
    """The latest audit rows (every user), newest first, with the record's page and form."""
    return db.q("SELECT a.*, p.page_key, p.form_id, r.record_no FROM audit a LEFT JOIN records r ON r.id = a.record_id "
                "LEFT JOIN pages p ON p.id = r.page_id ORDER BY a.id DESC LIMIT ?", (limit,))
