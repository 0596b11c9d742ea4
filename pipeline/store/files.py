"""Printed serials, ingest batches, source files and their pages: what the ingest parent writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.errors import BadInput
from pipeline.models import PageResult
from pipeline.store.db import Database, Row, now
from pipeline.store.records import insert_issue


class FilesRepo:
    """Files, pages and batches (a mixin of :class:`pipeline.store.Store`)."""

    db: Database
    data_dir: Path

    # --- printing ------------------------------------------------------------------------------

    def reserve_serials(self, form_id: str, count: int, start: int | None = None) -> list[int]:
        """Allocate ``count`` serials for printing; by default one past the highest printed."""
        with self.db.tx() as c:
            if start is None:
                c.lock("printed_serials")
                top = c.one("SELECT MAX(serial) FROM printed_serials WHERE form_id=?", (form_id,))
                start = int(top[0] if top and top[0] else 0) + 1
            serials = list(range(start, start + count))
            at = now()
            c.executemany("INSERT INTO printed_serials VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                          [(form_id, s, at) for s in serials])
        return serials

    # --- files and pages -----------------------------------------------------------------------

    def start_batch(self, source: str, user: str = "") -> int:
        """Record the start of an ingest run."""
        with self.db.tx() as c:
            return c.insert('INSERT INTO batches (started_at, source, "user") VALUES (?, ?, ?)', (now(), source, user))

    def finish_batch(self, batch_id: int) -> None:
        """Record the end of an ingest run."""
        with self.db.tx() as c:
            c.execute("UPDATE batches SET finished_at=? WHERE id=?", (now(), batch_id))

    def pages_of_open_batches(self) -> set[int]:
        """Page ids of files added by batches not finished yet: this run's, and any an interruption cut short."""
        return {r["id"] for r in self.db.q("SELECT p.id FROM pages p JOIN files f ON f.id = p.file_id "
                                            "JOIN batches b ON b.id = f.batch_id WHERE b.finished_at IS NULL")}

    def file_by_sha(self, sha256: str) -> Row | None:
        """The stored file with this content hash, if any."""
        return self.db.one("SELECT * FROM files WHERE sha256=?", (sha256,))

    def add_file(self, sha256: str, name: str, stored_path: str, size: int, batch_id: int) -> int:
        """Register a source file (its original is already copied into the data dir)."""
        with self.db.tx() as c:
            return c.insert("INSERT INTO files (sha256, name, stored_path, size, batch_id, added_at) "
                            "VALUES (?,?,?,?,?,?)", (sha256, name, stored_path, size, batch_id, now()))

    def set_file(self, file_id: int, **values: Any) -> None:
        """Update columns of a file row (status, reason, message, page_count)."""
        cols = ", ".join(f"{k}=?" for k in values)
        with self.db.tx() as c:
            c.execute(f"UPDATE files SET {cols} WHERE id=?", (*values.values(), file_id))

    def ensure_pages(self, file_id: int, count: int) -> list[Row]:
        """Create page rows 1..count (idempotent); returns those not finished yet."""
        with self.db.tx() as c:
            at = now()
            c.executemany("INSERT INTO pages (file_id, page_no, updated_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                          [(file_id, n, at) for n in range(1, count + 1)])
            c.execute("UPDATE files SET page_count=? WHERE id=?", (count, file_id))
        return self.db.q("SELECT * FROM pages WHERE file_id=? AND status='pending' ORDER BY page_no", (file_id,))

    def pending_pages(self) -> list[Row]:
        """Every page not finished yet (``id``, ``page_no``, ``stored_path``), including those of an interrupted run."""
        return self.db.q("SELECT p.id, p.page_no, f.stored_path FROM pages p JOIN files f ON f.id=p.file_id "
                         "WHERE p.status='pending' ORDER BY p.id")

    def pages_with_serial(self, form_id: str, serial: int) -> list[Row]:
        """Finished pages that carry this printed serial."""
        return self.db.q("SELECT * FROM pages WHERE form_id=? AND serial=? AND status IN ('done','duplicate') "
                         "ORDER BY id", (form_id, serial))

    def page(self, page_id: int) -> Row:
        """One page row."""
        row = self.db.one("SELECT p.*, f.name AS file_name FROM pages p JOIN files f ON f.id=p.file_id WHERE p.id=?",
                          (page_id,))
        if row is None:
            raise BadInput(f"no page {page_id}")
        return row

    def mark_page(self, page_id: int, status: str, reason: str = "", message: str = "", **values: Any) -> None:
        """Set a page's status (``problem``/``duplicate``/``discarded``/``pending``) with a reason."""
        extra = "".join(f", {k}=?" for k in values)
        with self.db.tx() as c:
            c.execute(f"UPDATE pages SET status=?, reason=?, message=?, updated_at=?{extra} WHERE id=?",
                      (status, reason, message, now(), *values.values(), page_id))

    def save_page(self, page_id: int, result: PageResult, page_key: str, image_path: str | None) -> None:
        """Write a recognised page: its identity, records, field values, crops and issues, atomically."""
        ident = result.ident
        images = {(im.name, im.record): im for im in result.images}
        with self.db.tx() as c:
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
                rec_ids[r] = c.insert("INSERT INTO records (page_id, record_no, updated_at) VALUES (?, ?, ?)",
                                      (page_id, r, now()))
            for rd in result.readings:
                if rd.record is not None and rd.record not in rec_ids:
                    continue
                im = images.get((rd.name, rd.record))
                c.execute(
                    "INSERT INTO fields (page_id, record_no, name, kind, machine_value, topk, confidence, engine, "
                    "status, final_value, crop, cells, box, detail, model) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (page_id, rd.record, rd.name, rd.kind, rd.value, json.dumps(rd.topk), rd.confidence, rd.engine,
                     rd.status, rd.value, im.png if im else None, json.dumps(im.cells_px if im else []),
                     json.dumps(im.box_px if im else []), json.dumps(rd.detail),
                     result.model if rd.engine == "icr" else ""))
            for r, issue in result.issues:
                if r in rec_ids:
                    insert_issue(c, rec_ids[r], issue)

    # --- overview ------------------------------------------------------------------------------

    def status_counts(self) -> dict[str, Any]:
        """Pages by status and reason, records by state, values by status, problem files."""
        q = self.db.q
        return {
            "files": q("SELECT COUNT(*) AS n FROM files")[0]["n"],
            "pages": [dict(r) for r in q(
                "SELECT status, reason, COUNT(*) AS n FROM pages GROUP BY status, reason ORDER BY status, reason")],
            "file_problems": [dict(r) for r in q(
                "SELECT name, reason, message FROM files WHERE status='problem' ORDER BY id")],
            "records": [dict(r) for r in q(
                "SELECT state, COUNT(*) AS n FROM records GROUP BY state ORDER BY state")],
            "values": [dict(r) for r in q(
                "SELECT f.status, COUNT(*) AS n FROM fields f JOIN records r ON r.page_id=f.page_id AND "
                "(f.record_no=r.record_no OR (f.record_no IS NULL AND r.record_no=0)) GROUP BY f.status")],
        }

    def problem_pages(self) -> list[Row]:
        """Pages that need a person: unreadable, unknown, duplicates; with their source file."""
        return self.db.q("SELECT p.id, p.page_no, p.status, p.reason, p.message, p.page_key, f.name AS file_name "
                         "FROM pages p JOIN files f ON f.id=p.file_id WHERE p.status NOT IN ('done','discarded') "
                         "ORDER BY p.id")
