"""The store: one SQLite file in the data directory, and the API every other part uses.

The review app talks only to this class. Only the ingest parent process writes pages;
people's changes go through :meth:`Store.set_value` / :meth:`Store.confirm`, which
check a version number (optimistic locking) and write an audit row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.errors import BadInput, SusulanError
from pipeline.models import Issue, PageResult
from pipeline.store.schema import migrate, now

DB_NAME = "susulan.db"
HUMAN_STATUSES = ("corrected", "confirmed")
MACHINE_USER = "susulan"
"""Name in the audit log for changes the software makes itself (batch consistency)."""


class Conflict(SusulanError):
    """Someone else changed the value first; ``current`` is what is stored now."""

    def __init__(self, message: str, current: dict[str, Any]) -> None:
        super().__init__(message)
        self.current = current


class Store:
    """Repository over ``<data_dir>/susulan.db``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BadInput(f"cannot create data directory {self.data_dir}: {e.strerror}") from e
        self.conn = sqlite3.connect(self.data_dir / DB_NAME, timeout=30, isolation_level=None,
                                    check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=30000")
        migrate(self.conn)

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
        self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``), rolled back on any error."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def q(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """Run a read query."""
        return self.conn.execute(sql, params).fetchall()

    # --- printing ------------------------------------------------------------------------------

    def reserve_serials(self, form_id: str, count: int, start: int | None = None) -> list[int]:
        """Allocate ``count`` serials for printing; by default one past the highest printed."""
        with self.tx() as c:
            if start is None:
                start = (c.execute("SELECT MAX(serial) FROM printed_serials WHERE form_id=?",
                                   (form_id,)).fetchone()[0] or 0) + 1
            serials = list(range(start, start + count))
            at = now()
            c.executemany("INSERT OR IGNORE INTO printed_serials VALUES (?, ?, ?)",
                          [(form_id, s, at) for s in serials])
        return serials

    # --- files and pages -----------------------------------------------------------------------

    def start_batch(self, source: str, user: str = "") -> int:
        """Record the start of an ingest run."""
        with self.tx() as c:
            return int(c.execute("INSERT INTO batches (started_at, source, user) VALUES (?, ?, ?)",
                                 (now(), source, user)).lastrowid or 0)

    def finish_batch(self, batch_id: int) -> None:
        """Record the end of an ingest run."""
        with self.tx() as c:
            c.execute("UPDATE batches SET finished_at=? WHERE id=?", (now(), batch_id))

    def pages_of_open_batches(self) -> set[int]:
        """Page ids of files added by batches not finished yet: this run's, and any an interruption cut short."""
        return {r["id"] for r in self.q("SELECT p.id FROM pages p JOIN files f ON f.id = p.file_id "
                                         "JOIN batches b ON b.id = f.batch_id WHERE b.finished_at IS NULL")}

    def file_by_sha(self, sha256: str) -> sqlite3.Row | None:
        """The stored file with this content hash, if any."""
        rows = self.q("SELECT * FROM files WHERE sha256=?", (sha256,))
        return rows[0] if rows else None

    def add_file(self, sha256: str, name: str, stored_path: str, size: int, batch_id: int) -> int:
        """Register a source file (its original is already copied into the data dir)."""
        with self.tx() as c:
            return int(c.execute(
                "INSERT INTO files (sha256, name, stored_path, size, batch_id, added_at) VALUES (?,?,?,?,?,?)",
                (sha256, name, stored_path, size, batch_id, now())).lastrowid or 0)

    def set_file(self, file_id: int, **values: Any) -> None:
        """Update columns of a file row (status, reason, message, page_count)."""
        cols = ", ".join(f"{k}=?" for k in values)
        with self.tx() as c:
            c.execute(f"UPDATE files SET {cols} WHERE id=?", (*values.values(), file_id))

    def ensure_pages(self, file_id: int, count: int) -> list[sqlite3.Row]:
        """Create page rows 1..count (idempotent); returns those not finished yet."""
        with self.tx() as c:
            at = now()
            c.executemany("INSERT OR IGNORE INTO pages (file_id, page_no, updated_at) VALUES (?, ?, ?)",
                          [(file_id, n, at) for n in range(1, count + 1)])
            c.execute("UPDATE files SET page_count=? WHERE id=?", (count, file_id))
        return self.q("SELECT * FROM pages WHERE file_id=? AND status='pending' ORDER BY page_no", (file_id,))

    def pages_with_serial(self, form_id: str, serial: int) -> list[sqlite3.Row]:
        """Finished pages that carry this printed serial."""
        return self.q("SELECT * FROM pages WHERE form_id=? AND serial=? AND status IN ('done','duplicate') "
                      "ORDER BY id", (form_id, serial))

    def page(self, page_id: int) -> sqlite3.Row:
        """One page row."""
        rows = self.q("SELECT p.*, f.name AS file_name FROM pages p JOIN files f ON f.id=p.file_id WHERE p.id=?",
                      (page_id,))
        if not rows:
            raise BadInput(f"no page {page_id}")
        return rows[0]

    def mark_page(self, page_id: int, status: str, reason: str = "", message: str = "", **values: Any) -> None:
        """Set a page's status (``problem``/``duplicate``/``discarded``/``pending``) with a reason."""
        extra = "".join(f", {k}=?" for k in values)
        with self.tx() as c:
            c.execute(f"UPDATE pages SET status=?, reason=?, message=?, updated_at=?{extra} WHERE id=?",
                      (status, reason, message, now(), *values.values(), page_id))

    def save_page(self, page_id: int, result: PageResult, page_key: str, image_path: str | None) -> None:
        """Write a recognised page: its identity, records, field values, crops and issues, atomically."""
        ident = result.ident
        images = {(im.name, im.record): im for im in result.images}
        with self.tx() as c:
            c.execute(
                "UPDATE pages SET status='done', reason=?, message=?, form_id=?, version=?, serial=?, page_key=?, "
                "orientation=?, residual_mm=?, image_path=?, signature=?, identified_by=?, seconds=?, updated_at=? "
                "WHERE id=?",
                (result.reason, result.message, ident.form_id if ident else None, ident.version if ident else None,
                 ident.serial if ident else None, page_key, result.orientation, result.residual_mm, image_path,
                 result.signature, result.identified_by, result.seconds, now(), page_id))
            c.execute("DELETE FROM issues WHERE record_id IN (SELECT id FROM records WHERE page_id=?)", (page_id,))
            c.execute("DELETE FROM records WHERE page_id=?", (page_id,))
            c.execute("DELETE FROM fields WHERE page_id=?", (page_id,))
            rec_ids = {}
            for r in result.records:
                rec_ids[r] = c.execute("INSERT INTO records (page_id, record_no, updated_at) VALUES (?, ?, ?)",
                                       (page_id, r, now())).lastrowid
            for rd in result.readings:
                if rd.record is not None and rd.record not in rec_ids:
                    continue
                im = images.get((rd.name, rd.record))
                c.execute(
                    "INSERT INTO fields (page_id, record_no, name, kind, machine_value, topk, confidence, engine, "
                    "status, final_value, crop, cells, box, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (page_id, rd.record, rd.name, rd.kind, rd.value, json.dumps(rd.topk), rd.confidence, rd.engine,
                     rd.status, rd.value, im.png if im else None, json.dumps(im.cells_px if im else []),
                     json.dumps(im.box_px if im else []), json.dumps(rd.detail)))
            for r, issue in result.issues:
                if r in rec_ids:
                    _insert_issue(c, rec_ids[r], issue)

    # --- records and values ----------------------------------------------------------------------

    def record(self, record_id: int) -> sqlite3.Row:
        """One record joined with its page."""
        rows = self.q("SELECT r.*, p.page_key, p.form_id, p.version AS form_version, p.serial, p.image_path, "
                      "p.file_id, p.page_no, f.name AS file_name FROM records r JOIN pages p ON p.id=r.page_id "
                      "JOIN files f ON f.id=p.file_id WHERE r.id=?", (record_id,))
        if not rows:
            raise BadInput(f"no record {record_id}")
        return rows[0]

    def record_fields(self, record_id: int) -> list[sqlite3.Row]:
        """The record's fields, page-level fields (shared by all rows) included, in form order."""
        rec = self.record(record_id)
        return self.q("SELECT id, page_id, record_no, name, kind, machine_value, topk, confidence, engine, status, "
                      "final_value, changed_by, changed_at, version FROM fields WHERE page_id=? AND "
                      "(record_no=? OR record_no IS NULL) ORDER BY id", (rec["page_id"], rec["record_no"]))

    def field(self, field_id: int) -> sqlite3.Row:
        """One field value without its image."""
        rows = self.q("SELECT id, page_id, record_no, name, kind, machine_value, topk, confidence, engine, status, "
                      "final_value, changed_by, changed_at, version, cells, box FROM fields WHERE id=?", (field_id,))
        if not rows:
            raise BadInput(f"no field {field_id}")
        return rows[0]

    def field_crop(self, field_id: int) -> bytes | None:
        """PNG snippet of a field as it was scanned."""
        rows = self.q("SELECT crop FROM fields WHERE id=?", (field_id,))
        return rows[0]["crop"] if rows else None

    def records_of_page(self, page_id: int) -> list[int]:
        """Record ids on a page, in row order."""
        return [r["id"] for r in self.q("SELECT id FROM records WHERE page_id=? ORDER BY record_no", (page_id,))]

    def issues(self, record_id: int) -> list[sqlite3.Row]:
        """Rules this record breaks now."""
        return self.q("SELECT field, rule, message, blocking FROM issues WHERE record_id=? ORDER BY id", (record_id,))

    def replace_issues(self, record_id: int, issues: list[Issue]) -> None:
        """Store the result of re-validating a record."""
        with self.tx() as c:
            c.execute("DELETE FROM issues WHERE record_id=?", (record_id,))
            for issue in issues:
                _insert_issue(c, record_id, issue)

    def set_value(self, field_id: int, value: str, user: str, expected_version: int, note: str = "") -> int:
        """A person sets a field's final value; returns the new version.

        Raises :class:`Conflict` if the field changed since ``expected_version`` was read.
        """
        return self._change(field_id, user, expected_version, value, note)

    def confirm(self, field_id: int, user: str, expected_version: int) -> int:
        """A person confirms the current value is right."""
        return self._change(field_id, user, expected_version, None, "")

    def machine_fields(self, name: str, kind: str) -> list[sqlite3.Row]:
        """Every value of field ``name`` (one ``kind``) on read pages, in scan order.

        Each row carries the machine reading's detail (per-cell candidates), the value
        now stored (``final_value``), its status (a person's, or ``auto``/``review``) and
        the page's form.
        """
        return self.q("SELECT x.id, x.page_id, x.record_no, x.machine_value, x.final_value, x.confidence, "
                      "x.status, x.version, x.detail, p.form_id FROM fields x JOIN pages p ON p.id = x.page_id "
                      "WHERE x.name=? AND x.kind=? AND p.status='done' ORDER BY x.page_id, x.record_no",
                      (name, kind))

    def revise_machine(self, field_id: int, expected_version: int, value: str, confidence: float, status: str,
                       detail: dict[str, Any] | None, note: str) -> bool:
        """Replace the machine reading of a field no person has touched (audited as user ``susulan``).

        ``detail`` None keeps the stored detail.
        Returns False, changing nothing, if a person touched the field or it changed since read.
        """
        if status not in ("auto", "review"):
            raise BadInput(f"a machine reading is 'auto' or 'review', not {status!r}")
        with self.tx() as c:
            row = c.execute("SELECT * FROM fields WHERE id=?", (field_id,)).fetchone()
            if row is None or row["version"] != expected_version or row["status"] in HUMAN_STATUSES:
                return False
            at = now()
            c.execute("UPDATE fields SET machine_value=?, final_value=?, confidence=?, status=?, detail=?, "
                      "version=version+1 WHERE id=?",
                      (value, value, confidence, status,
                       row["detail"] if detail is None else json.dumps(detail), field_id))
            if value != row["final_value"]:
                _audit_field(c, at, MACHINE_USER, "machine", row, _field_records(c, row), value, note)
        return True

    def _change(self, field_id: int, user: str, expected_version: int, value: str | None, note: str) -> int:
        if not user:
            raise BadInput("every change needs a user name")
        with self.tx() as c:
            row = c.execute("SELECT * FROM fields WHERE id=?", (field_id,)).fetchone()
            if row is None:
                raise BadInput(f"no field {field_id}")
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
            rec = _field_records(c, row)
            for r in rec:
                c.execute("UPDATE records SET version=version+1, updated_by=?, updated_at=? WHERE id=?",
                          (user, at, r))
            _audit_field(c, at, user, "confirm" if value is None else "set", row, rec, new, note)
        return version

    def set_record_state(self, record_id: int, state: str, user: str, expected_version: int | None = None,
                         note: str = "") -> None:
        """Approve, flag or reopen a record (audited)."""
        with self.tx() as c:
            row = c.execute("SELECT * FROM records WHERE id=?", (record_id,)).fetchone()
            if row is None:
                raise BadInput(f"no record {record_id}")
            if expected_version is not None and row["version"] != expected_version:
                raise Conflict(f"record {record_id} was changed by {row['updated_by']} at {row['updated_at']}",
                               {"state": row["state"], "version": row["version"]})
            at = now()
            c.execute("UPDATE records SET state=?, version=version+1, updated_by=?, updated_at=? WHERE id=?",
                      (state, user, at, record_id))
            c.execute("INSERT INTO audit (at, user, action, record_id, old, new, note) VALUES (?,?,?,?,?,?,?)",
                      (at, user, "state", record_id, row["state"], state, note))

    def history(self, record_id: int) -> list[sqlite3.Row]:
        """Audit rows of a record, oldest first."""
        return self.q("SELECT * FROM audit WHERE record_id=? ORDER BY id", (record_id,))

    # --- overview ------------------------------------------------------------------------------

    def status_counts(self) -> dict[str, Any]:
        """Pages by status and reason, records by state, values by status, problem files."""
        return {
            "files": self.q("SELECT COUNT(*) AS n FROM files")[0]["n"],
            "pages": [dict(r) for r in self.q(
                "SELECT status, reason, COUNT(*) AS n FROM pages GROUP BY status, reason ORDER BY status, reason")],
            "file_problems": [dict(r) for r in self.q(
                "SELECT name, reason, message FROM files WHERE status='problem' ORDER BY id")],
            "records": [dict(r) for r in self.q(
                "SELECT state, COUNT(*) AS n FROM records GROUP BY state ORDER BY state")],
            "values": [dict(r) for r in self.q(
                "SELECT f.status, COUNT(*) AS n FROM fields f JOIN records r ON r.page_id=f.page_id AND "
                "(f.record_no=r.record_no OR (f.record_no IS NULL AND r.record_no=0)) GROUP BY f.status")],
        }

    def problem_pages(self) -> list[sqlite3.Row]:
        """Pages that need a person: unreadable, unknown, duplicates; with their source file."""
        return self.q("SELECT p.id, p.page_no, p.status, p.reason, p.message, p.page_key, f.name AS file_name "
                      "FROM pages p JOIN files f ON f.id=p.file_id WHERE p.status NOT IN ('done','discarded') "
                      "ORDER BY p.id")

    def record_ids(self, states: tuple[str, ...] | None = None) -> list[int]:
        """Record ids, optionally only in some states, in scan order."""
        if states:
            marks = ",".join("?" * len(states))
            return [r["id"] for r in self.q(f"SELECT id FROM records WHERE state IN ({marks}) ORDER BY id", states)]
        return [r["id"] for r in self.q("SELECT id FROM records ORDER BY id")]


def _field_records(c: sqlite3.Connection, field: sqlite3.Row) -> list[int]:
    """Ids of the records a field belongs to (every record of the page for a page-level field)."""
    return [r["id"] for r in c.execute("SELECT id FROM records WHERE page_id=? AND (record_no=? OR ? IS NULL) "
                                       "ORDER BY id", (field["page_id"], field["record_no"], field["record_no"]))]


def _audit_field(c: sqlite3.Connection, at: str, user: str, action: str, field: sqlite3.Row, records: list[int],
                 new: str, note: str) -> None:
    """One audit row for a change of ``field`` from its stored final value to ``new``."""
    c.execute("INSERT INTO audit (at, user, action, record_id, field_id, field, old, new, note) "
              "VALUES (?,?,?,?,?,?,?,?,?)",
              (at, user, action, records[0] if records else None, field["id"], field["name"], field["final_value"],
               new, note))


def _insert_issue(c: sqlite3.Connection, record_id: int, issue: Issue) -> None:
    c.execute("INSERT INTO issues (record_id, field, rule, message, blocking) VALUES (?,?,?,?,?)",
              (record_id, issue.field, issue.rule, issue.message, int(issue.blocking)))
