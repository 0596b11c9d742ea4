"""Printed serials, ingest batches, source files and their pages: what the ingest parent writes."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.errors import BadInput, SusulanError
from pipeline.models import PageResult, first_reading
from pipeline.store import audit
from pipeline.store.db import Database, Row, now
from pipeline.store.records import HUMAN_STATUSES, MACHINE_USER, field_records, insert_issue

STALE_RUN_S = 120.0
"""An ingest run that has not said it is alive for this long is taken for dead (its pages are freed)."""


class PageKeyTaken(SusulanError):
    """Another page already carries this page key (a concurrent run stored the same sheet first)."""


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
        """Record the start of an ingest run (with this process's host and pid, so a dead run can be told)."""
        at = now()
        with self.db.tx() as c:
            return c.insert('INSERT INTO batches (started_at, source, "user", host, pid, heartbeat_at) '
                            "VALUES (?, ?, ?, ?, ?, ?)", (at, source, user, socket.gethostname(), os.getpid(), at))

    def heartbeat(self, batch_id: int) -> None:
        """Say that run ``batch_id`` is still alive (its claims stay its own)."""
        with self.db.tx() as c:
            c.execute("UPDATE batches SET heartbeat_at=? WHERE id=?", (now(), batch_id))

    def finish_batch(self, batch_id: int, outcome: str = "finished") -> None:
        """Record the end of an ingest run; pages it claimed but did not finish go back to ``pending``."""
        with self.db.tx() as c:
            c.execute("UPDATE pages SET status='pending', claimed_by=NULL WHERE status='reading' AND claimed_by=?",
                      (batch_id,))
            c.execute("UPDATE batches SET finished_at=?, outcome=? WHERE id=?", (now(), outcome, batch_id))

    def adopt_dead_runs(self, batch_id: int, stale_s: float = STALE_RUN_S) -> list[int]:
        """Close runs that died (killed, power cut) and free the pages they had claimed; returns their ids.

        A run is dead when its process is gone (same host) or it has not said it is alive
        for ``stale_s`` seconds (any host). Its batch is closed as ``interrupted``.
        """
        host, cutoff = socket.gethostname(), _ago(stale_s)
        open_runs = self.db.q("SELECT id, host, pid, heartbeat_at FROM batches WHERE finished_at IS NULL AND id<>?",
                              (batch_id,))
        dead = [r["id"] for r in open_runs
                if r["heartbeat_at"] is None or r["heartbeat_at"] < cutoff
                or (r["host"] == host and r["pid"] is not None and not _pid_alive(int(r["pid"])))]
        adopted = []
        for run in dead:
            with self.db.tx() as c:
                if c.execute("UPDATE batches SET finished_at=?, outcome=? WHERE id=? AND finished_at IS NULL",
                             (now(), f"interrupted; continued by run {batch_id}", run)).rowcount:
                    c.execute("UPDATE pages SET status='pending', claimed_by=NULL "
                              "WHERE status='reading' AND claimed_by=?", (run,))
                    adopted.append(run)
        return adopted

    def pages_of_open_batches(self) -> set[int]:
        """Page ids of files added by batches not finished yet: this run's, and any an interruption cut short."""
        return {r["id"] for r in self.db.q("SELECT p.id FROM pages p JOIN files f ON f.id = p.file_id "
                                            "JOIN batches b ON b.id = f.batch_id WHERE b.finished_at IS NULL")}

    def pages_of_batches(self, batch_ids: list[int]) -> set[int]:
        """Page ids of the files these ingest runs added."""
        if not batch_ids:
            return set()
        marks = ",".join("?" * len(batch_ids))
        return {r["id"] for r in self.db.q(f"SELECT p.id FROM pages p JOIN files f ON f.id = p.file_id "
                                            f"WHERE f.batch_id IN ({marks})", tuple(batch_ids))}

    def file_by_sha(self, sha256: str) -> Row | None:
        """The stored file with this content hash, if any."""
        return self.db.one("SELECT * FROM files WHERE sha256=?", (sha256,))

    def add_file(self, sha256: str, name: str, stored_path: str, size: int, batch_id: int) -> int:
        """Register a source file (its original is already copied into the data dir)."""
        with self.db.tx() as c:
            return c.insert("INSERT INTO files (sha256, name, stored_path, size, batch_id, added_at) "
                            "VALUES (?,?,?,?,?,?)", (sha256, name, stored_path, size, batch_id, now()))

    def register_file(self, sha256: str, name: str, stored_path: str, size: int, batch_id: int, pages: int,
                      reason: str = "", message: str = "") -> int | None:
        """Register a file together with its ``pages`` page rows in one transaction.

        With a ``reason`` the file is stored as a ``problem`` (no pages). Returns the new
        file id, or None when another run registered the same content first.
        """
        with self.db.tx() as c:
            row = c.one(
                "INSERT INTO files (sha256, name, stored_path, size, batch_id, added_at, status, reason, message, "
                "page_count) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (sha256) DO NOTHING RETURNING id",
                (sha256, name, stored_path, size, batch_id, now(), "problem" if reason else "ok", reason, message,
                 None if reason else pages))
            if row is None:
                return None
            at = now()
            c.executemany("INSERT INTO pages (file_id, page_no, updated_at) VALUES (?, ?, ?)",
                          [(row[0], n, at) for n in range(1, (0 if reason else pages) + 1)])
        return int(row[0])

    def set_file_status_by_sha(self, sha256: str, status: str, reason: str, message: str) -> None:
        """Settle a ``problem`` file row by its key (e.g. an unreadable file that has now been read)."""
        if self.db.one("SELECT 1 FROM files WHERE sha256=? AND status='problem'", (sha256,)) is None:
            return
        with self.db.tx() as c:
            c.execute("UPDATE files SET status=?, reason=?, message=? WHERE sha256=? AND status='problem'",
                      (status, reason, message, sha256))

    def unfinished_files(self) -> list[Row]:
        """Files registered without their pages (left by an older version killed halfway): to read again."""
        return self.db.q("SELECT * FROM files f WHERE f.status='pending' AND NOT EXISTS "
                         "(SELECT 1 FROM pages p WHERE p.file_id = f.id) ORDER BY f.id")

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
            c.execute("UPDATE files SET page_count=?, status=CASE WHEN status='pending' THEN 'ok' ELSE status END "
                      "WHERE id=?", (count, file_id))
        return self.db.q("SELECT * FROM pages WHERE file_id=? AND status='pending' ORDER BY page_no", (file_id,))

    def pending_pages(self) -> list[Row]:
        """Every page not finished yet (``id``, ``page_no``, ``stored_path``), including those of an interrupted run."""
        return self.db.q("SELECT p.id, p.page_no, f.stored_path FROM pages p JOIN files f ON f.id=p.file_id "
                         "WHERE p.status='pending' ORDER BY p.id")

    def claim_pages(self, batch_id: int) -> list[Row]:
        """Claim every ``pending`` page for run ``batch_id``, atomically: a page is read by one run only."""
        with self.db.tx() as c:
            ids = [r[0] for r in c.q("UPDATE pages SET status='reading', claimed_by=?, updated_at=? "
                                     "WHERE status='pending' RETURNING id", (batch_id, now()))]
        if not ids:
            return []
        return self.db.q(f"SELECT p.id, p.page_no, f.stored_path FROM pages p JOIN files f ON f.id=p.file_id "
                         f"WHERE p.id IN ({','.join('?' * len(ids))}) ORDER BY p.id", tuple(ids))

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

    def mark_page(self, page_id: int, status: str, reason: str = "", message: str = "", claim: int | None = None,
                  **values: Any) -> bool:
        """Set a page's status (``problem``/``duplicate``/``discarded``/``pending``) with a reason.

        With ``claim`` (a run id) only a page that run still holds is changed; returns whether it was.
        """
        extra = "".join(f", {k}=?" for k in values)
        held = " AND status='reading' AND claimed_by=?" if claim is not None else ""
        with self.db.tx() as c:
            return bool(c.execute(
                f"UPDATE pages SET status=?, reason=?, message=?, updated_at=?, claimed_by=NULL{extra} "
                f"WHERE id=?{held}",
                (status, reason, message, now(), *values.values(), page_id,
                 *((claim,) if claim is not None else ()))).rowcount)

    def save_page(self, page_id: int, result: PageResult, page_key: str, image_path: str | None,
                  claim: int | None = None) -> bool:
        """Write a recognised page: its identity, records, field values, crops and issues, atomically.

        Re-reading a page never takes away what is there: records keep their id, state and
        version; a value a person confirmed or corrected is left exactly as it is; a machine
        value is replaced only when the new reading differs from the first reading (so batch
        corrections stay); every replaced value is audited. With ``claim`` (a run id) nothing
        is written unless that run still holds the page; returns whether it was written.
        Raises :class:`PageKeyTaken` if another page already carries ``page_key``.
        """
        ident = result.ident
        images = {(im.name, im.record): im for im in result.images}
        held = " AND status='reading' AND claimed_by=?" if claim is not None else ""
        with self.db.tx() as c:
            c.lock("pages")  # runs at once: the page-key check and the write below see one another
            if c.one("SELECT 1 FROM pages WHERE page_key=? AND id<>?", (page_key, page_id)):
                raise PageKeyTaken(page_key)
            at = now()
            if not c.execute(
                "UPDATE pages SET status='done', reason=?, message=?, form_id=?, version=?, serial=?, page_key=?, "
                "orientation=?, residual_mm=?, image_path=?, signature=?, identified_by=?, seconds=?, updated_at=?, "
                f"claimed_by=NULL WHERE id=?{held}",
                (result.reason, result.message, ident.form_id if ident else None, ident.version if ident else None,
                 ident.serial if ident else None, page_key, result.orientation, result.residual_mm, image_path,
                 result.signature, result.identified_by, result.seconds, at, page_id,
                 *((claim,) if claim is not None else ()))).rowcount:
                return False
            rec_ids = {r["record_no"]: r["id"] for r in c.q("SELECT id, record_no FROM records WHERE page_id=?",
                                                            (page_id,))}
            fresh = set()
            for r in result.records:
                if r not in rec_ids:
                    rec_ids[r] = c.insert("INSERT INTO records (page_id, record_no, updated_at) VALUES (?, ?, ?)",
                                          (page_id, r, at))
                    fresh.add(r)
            stored = {(f["record_no"], f["name"]): f for f in c.q("SELECT * FROM fields WHERE page_id=?",
                                                                  (page_id,))}
            for rd in result.readings:
                if rd.record is not None and rd.record not in rec_ids:
                    continue
                im = images.get((rd.name, rd.record))
                cols = (rd.kind, rd.value, json.dumps(rd.topk), rd.confidence, rd.engine, rd.status, rd.value,
                        im.png if im else None, json.dumps(im.cells_px if im else []),
                        json.dumps(im.box_px if im else []), json.dumps(rd.detail),
                        result.model if rd.engine == "icr" else "")
                old = stored.get((rd.record, rd.name))
                if old is None:
                    c.execute("INSERT INTO fields (kind, machine_value, topk, confidence, engine, status, "
                              "final_value, crop, cells, box, detail, model, page_id, record_no, name) "
                              "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (*cols, page_id, rd.record, rd.name))
                    continue
                if old["status"] in HUMAN_STATUSES or first_reading(
                        json.loads(old["detail"] or "{}"), old["machine_value"], old["confidence"])[0] == rd.value:
                    continue
                c.execute("UPDATE fields SET kind=?, machine_value=?, topk=?, confidence=?, engine=?, status=?, "
                          "final_value=?, crop=?, cells=?, box=?, detail=?, model=?, version=version+1 WHERE id=?",
                          (*cols, old["id"]))
                if rd.value != old["final_value"]:
                    records = field_records(c, old)
                    audit.write(c, MACHINE_USER, "machine", record_id=records[0] if records else None,
                                field_id=old["id"], field=old["name"], old=old["final_value"], new=rd.value,
                                note="dibaca ulang dari pindaian", at=at)
            for r, issue in result.issues:
                if r in fresh:
                    insert_issue(c, rec_ids[r], issue)
        return True

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
        """Pages that need a person: unreadable, unknown, duplicates; with their source file (not those being read)."""
        return self.db.q("SELECT p.id, p.page_no, p.status, p.reason, p.message, p.page_key, f.name AS file_name "
                         "FROM pages p JOIN files f ON f.id=p.file_id "
                         "WHERE p.status NOT IN ('done', 'discarded', 'pending', 'reading') ORDER BY p.id")


def _ago(seconds: float) -> str:
    """The time ``seconds`` ago in the format of :func:`now` (comparable as text)."""
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="seconds")


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True
