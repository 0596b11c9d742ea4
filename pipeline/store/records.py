"""Records, field values and the rules they break: what people (and batch consistency) change, versioned and audited.

A record's fields are the fields of its page with its ``record_no`` plus the page-level fields
(``record_no IS NULL``, e.g. the date of a queue sheet), which every record on that page shares.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.errors import BadInput, SusulanError
from pipeline.models import Issue
from pipeline.sanitize import person_value
from pipeline.store import audit
from pipeline.store.db import Database, Row, Tx, now

HUMAN_STATUSES = ("corrected", "confirmed")
MACHINE_USER = "susulan"
"""Name in the audit log for changes the software makes itself (batch consistency)."""
FIELD_COLUMNS = ("id, page_id, record_no, name, kind, machine_value, topk, confidence, engine, status, final_value, "
                 "changed_by, changed_at, version")
"""A field row without its image."""


class Conflict(SusulanError):
    """Someone else changed the value first; ``current`` is what is stored now."""

    def __init__(self, message: str, current: dict[str, Any]) -> None:
        super().__init__(message)
        self.current = current


class RecordsRepo:
    """Records, values and issues (a mixin of :class:`pipeline.store.Store`)."""

    db: Database

    def record(self, record_id: int) -> Row:
        """One record joined with its page."""
        row = self.db.one("SELECT r.*, p.page_key, p.form_id, p.version AS form_version, p.serial, p.image_path, "
                          "p.file_id, p.page_no, f.name AS file_name FROM records r JOIN pages p ON p.id=r.page_id "
                          "JOIN files f ON f.id=p.file_id WHERE r.id=?", (record_id,))
        if row is None:
            raise BadInput(f"no record {record_id}")
        return row

    def record_fields(self, record_id: int) -> list[Row]:
        """The record's fields, page-level fields (shared by all rows) included, in form order."""
        rec = self.record(record_id)
        return self.db.q(f"SELECT {FIELD_COLUMNS} FROM fields WHERE page_id=? AND "
                         "(record_no=? OR record_no IS NULL) ORDER BY id", (rec["page_id"], rec["record_no"]))

    def field(self, field_id: int) -> Row:
        """One field value without its image."""
        row = self.db.one(f"SELECT {FIELD_COLUMNS}, cells, box FROM fields WHERE id=?", (field_id,))
        if row is None:
            raise BadInput(f"no field {field_id}")
        return row

    def field_crop(self, field_id: int) -> bytes | None:
        """PNG snippet of a field as it was scanned."""
        row = self.db.one("SELECT crop FROM fields WHERE id=?", (field_id,))
        return bytes(row["crop"]) if row and row["crop"] is not None else None

    def records_of_page(self, page_id: int) -> list[int]:
        """Record ids on a page, in row order."""
        return [r["id"] for r in self.db.q("SELECT id FROM records WHERE page_id=? ORDER BY record_no", (page_id,))]

    def record_ids(self, states: tuple[str, ...] | None = None) -> list[int]:
        """Record ids, optionally only in some states, in scan order."""
        if states:
            marks = ",".join("?" * len(states))
            return [r["id"] for r in self.db.q(f"SELECT id FROM records WHERE state IN ({marks}) ORDER BY id", states)]
        return [r["id"] for r in self.db.q("SELECT id FROM records ORDER BY id")]

    # --- rules ---------------------------------------------------------------------------------

    def issues(self, record_id: int) -> list[Row]:
        """Rules this record breaks now."""
        return self.db.q("SELECT field, rule, message, blocking FROM issues WHERE record_id=? ORDER BY id",
                         (record_id,))

    def replace_issues(self, record_id: int, issues: list[Issue]) -> None:
        """Store the result of re-validating a record."""
        with self.db.tx() as c:
            c.execute("DELETE FROM issues WHERE record_id=?", (record_id,))
            for issue in issues:
                insert_issue(c, record_id, issue)

    # --- changes -------------------------------------------------------------------------------

    def set_value(self, field_id: int, value: str, user: str, expected_version: int, note: str = "") -> int:
        """A person sets a field's final value; returns the new version.

        Raises :class:`Conflict` if the field changed since ``expected_version`` was read.
        """
        return self._change(field_id, user, expected_version, value, note)

    def confirm(self, field_id: int, user: str, expected_version: int) -> int:
        """A person confirms the current value is right."""
        return self._change(field_id, user, expected_version, None, "")

    def machine_fields(self, name: str, kind: str) -> list[Row]:
        """Every value of field ``name`` (one ``kind``) on read pages, in scan order.

        Each row carries the machine reading's detail (per-cell candidates), the value
        now stored (``final_value``), its status (a person's, or ``auto``/``review``) and
        the page's form and ingest batch.
        """
        return self.db.q("SELECT x.id, x.page_id, x.record_no, x.machine_value, x.final_value, x.confidence, "
                         "x.status, x.version, x.detail, p.form_id, f.batch_id FROM fields x "
                         "JOIN pages p ON p.id = x.page_id JOIN files f ON f.id = p.file_id "
                         "WHERE x.name=? AND x.kind=? AND p.status='done' ORDER BY x.page_id, x.record_no",
                         (name, kind))

    def revise_machine(self, field_id: int, expected_version: int, value: str, confidence: float, status: str,
                       detail: dict[str, Any] | None, note: str, audit_always: bool = False,
                       reading: tuple[str, Any] | None = None) -> bool:
        """Replace the machine reading of a field no person has touched (audited as user ``susulan``).

        ``detail`` None keeps the stored detail. A change of value is always audited; with
        ``audit_always`` also a reading confirmed as it was (e.g. against the ERM's patient master).
        ``reading``: ``(model, top candidates)`` of a new reading of the cells (a re-read), stored with it.
        Returns False, changing nothing, if a person touched the field, approved or flagged its
        record, or it changed since read.
        """
        if status not in ("auto", "review"):
            raise BadInput(f"a machine reading is 'auto' or 'review', not {status!r}")
        with self.db.tx() as c:
            row = c.one("SELECT * FROM fields WHERE id=?", (field_id,), for_update=True)
            if row is None or row["version"] != expected_version or row["status"] in HUMAN_STATUSES:
                return False
            # the value's records locked (after the field, as a person's edit takes them): an approval being
            # committed is waited for and then seen, never approved over
            states = c.q("SELECT state FROM records WHERE page_id=? AND (record_no=? OR ? IS NULL)",
                         (row["page_id"], row["record_no"], row["record_no"]), for_update=True)
            if any(r["state"] != "review" for r in states):
                return False
            at = now()
            model, topk = (row["model"], row["topk"]) if reading is None else (reading[0], json.dumps(reading[1]))
            c.execute("UPDATE fields SET machine_value=?, final_value=?, confidence=?, status=?, detail=?, model=?, "
                      "topk=?, version=version+1 WHERE id=?",
                      (value, value, confidence, status,
                       row["detail"] if detail is None else json.dumps(detail), model, topk, field_id))
            if value != row["final_value"] or audit_always:
                _audit_field(c, at, MACHINE_USER, "machine", row, field_records(c, row), value, note)
        return True

    def _change(self, field_id: int, user: str, expected_version: int, value: str | None, note: str) -> int:
        if not user:
            raise BadInput("every change needs a user name")
        with self.db.tx() as c:
            row = c.one("SELECT * FROM fields WHERE id=?", (field_id,), for_update=True)
            if row is None:
                raise BadInput(f"no field {field_id}")
            if value is not None:  # the one entry point of person-set values: NFKC, no invisible chars, limits
                value = person_value(value, row["kind"])
            if row["version"] != expected_version:
                current = {"value": row["final_value"], "status": row["status"], "by": row["changed_by"],
                           "at": row["changed_at"], "version": row["version"]}
                raise Conflict(f"{row['name']} was changed by {row['changed_by'] or 'someone'} at "
                               f"{row['changed_at']}: now {row['final_value']!r}", current)
            old = row["final_value"]
            new = old if value is None else value
            status = "confirmed" if value is None or value == row["machine_value"] and row["status"] != "corrected" \
                else "corrected"
            if value is not None and value == old and row["status"] in HUMAN_STATUSES:
                status = row["status"]
            version = row["version"] + 1
            at = now()
            c.execute("UPDATE fields SET final_value=?, status=?, changed_by=?, changed_at=?, version=? WHERE id=?",
                      (new, status, user, at, version, field_id))
            rec = field_records(c, row)
            for r in rec:
                c.execute("UPDATE records SET version=version+1, updated_by=?, updated_at=? WHERE id=?",
                          (user, at, r))
            _audit_field(c, at, user, "confirm" if value is None else "set", row, rec, new, note)
        return int(version)

    def complete_values(self, record_id: int, values: list[tuple[str, str, str]], user: str,
                        expected_version: int | None = None, note: str = "") -> None:
        """A person adds what the paper lacked: ``(name, kind, value)`` per field, in one transaction.

        A field the record has is set; one it does not have is added (engine ``person``, no snippet).
        Audited as ``set`` / ``add``.
        """
        if not user:
            raise BadInput("every change needs a user name")
        with self.db.tx() as c:
            rec = _record_at(c, record_id, expected_version)
            at = now()
            touched = {record_id}
            for name, kind, value in values:
                row = c.one("SELECT * FROM fields WHERE page_id=? AND (record_no=? OR record_no IS NULL) AND name=?",
                            (rec["page_id"], rec["record_no"], name))
                if row is not None:
                    c.execute("UPDATE fields SET final_value=?, status='corrected', changed_by=?, changed_at=?, "
                              "version=version+1 WHERE id=?", (value, user, at, row["id"]))
                    shared = field_records(c, row)  # a page-level value belongs to every row of the sheet
                    touched.update(shared)
                    _audit_field(c, at, user, "set", row, [record_id, *shared], value, note)
                    continue
                field_id = c.insert("INSERT INTO fields (page_id, record_no, name, kind, engine, status, final_value, "
                                    "changed_by, changed_at) VALUES (?,?,?,?,?,?,?,?,?)",
                                    (rec["page_id"], rec["record_no"], name, kind, "person", "corrected", value, user,
                                     at))
                audit.write(c, user, "add", record_id=record_id, field_id=field_id, field=name, old="", new=value,
                            note=note, at=at)
            for r in sorted(touched):
                c.execute("UPDATE records SET version=version+1, updated_by=?, updated_at=? WHERE id=?",
                          (user, at, r))

    def set_record_state(self, record_id: int, state: str, user: str, expected_version: int | None = None,
                         note: str = "", flagged: str | None = None) -> None:
        """Approve, flag or reopen a record (audited); ``flagged`` also sets the supervisor note."""
        with self.db.tx() as c:
            row = _record_at(c, record_id, expected_version)
            at = now()
            c.execute("UPDATE records SET state=?, flagged=COALESCE(?, flagged), version=version+1, updated_by=?, "
                      "updated_at=? WHERE id=?", (state, flagged, user, at, record_id))
            audit.write(c, user, "state", record_id=record_id, old=row["state"], new=state, note=note, at=at)

    def machine_changes(self) -> int:
        """How many values the software has changed itself so far (audit action ``machine``)."""
        row = self.db.one("SELECT COUNT(*) AS n FROM audit WHERE action = 'machine'")
        return int(row["n"]) if row else 0

    def history(self, record_id: int) -> list[Row]:
        """Audit rows of a record, oldest first."""
        return audit.of_record(self.db, record_id)


def _record_at(c: Tx, record_id: int, expected_version: int | None) -> Row:
    """A record read for a change; :class:`Conflict` if it is not at ``expected_version`` (when given)."""
    row = c.one("SELECT * FROM records WHERE id=?", (record_id,), for_update=True)
    if row is None:
        raise BadInput(f"no record {record_id}")
    if expected_version is not None and row["version"] != expected_version:
        raise Conflict(f"record {record_id} was changed by {row['updated_by']} at {row['updated_at']}",
                       {"state": row["state"], "version": row["version"]})
    return row


def field_records(c: Tx, field: Row) -> list[int]:
    """Ids of the records a field belongs to (every record of the page for a page-level field)."""
    if field["record_no"] is None:
        rows = c.q("SELECT id FROM records WHERE page_id=? ORDER BY id", (field["page_id"],))
    else:
        rows = c.q("SELECT id FROM records WHERE page_id=? AND record_no=? ORDER BY id",
                   (field["page_id"], field["record_no"]))
    return [r["id"] for r in rows]


def _audit_field(c: Tx, at: str, user: str, action: str, field: Row, records: list[int], new: str,
                 note: str) -> None:
    """One audit row for a change of ``field`` from its stored final value to ``new``."""
    audit.write(c, user, action, record_id=records[0] if records else None, field_id=field["id"],
                field=field["name"], old=field["final_value"], new=new, note=note, at=at)


def insert_issue(c: Tx, record_id: int, issue: Issue) -> None:
    """Store one broken rule of a record."""
    c.execute("INSERT INTO issues (record_id, field, rule, message, blocking) VALUES (?,?,?,?,?)",
              (record_id, issue.field, issue.rule, issue.message, int(issue.blocking)))
