"""What learning a clinic's hands asks of the store: reviewed cells, and the versions of adaptations.

An adaptation row is ``candidate`` while it is judged, then ``rejected`` (it did not
beat the one in use), ``active`` (at most one: ingest reads with it) or ``retired``
(replaced or rolled back). ``model`` is the classifier version its file gives
(``icr.model_version``), the same string every value it read records in
``fields.model``. Every change of the active one is audited.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.errors import BadInput
from pipeline.store import audit
from pipeline.store.db import Row, Tx, now
from pipeline.store.facade import Store
from pipeline.store.records import HUMAN_STATUSES

BOXED = ("digits", "date", "time", "letters")
REVIEW_ACTIONS = ("set", "confirm")
SHIPPED = "(model bawaan)"
"""How the audit log names reading without an adaptation."""


def _marks(values: tuple[str, ...]) -> str:
    return ",".join("?" * len(values))


def reviewed_fields(store: Store) -> list[Row]:
    """Comb-box values a person confirmed or corrected on read pages, with snippet, cell boxes and machine cells."""
    return store.db.q(
        "SELECT x.id, x.page_id, x.record_no, x.name, x.kind, x.machine_value, x.final_value, x.status, x.detail, "
        "x.crop, x.cells, x.model, p.form_id, p.version AS form_version FROM fields x "
        "JOIN pages p ON p.id = x.page_id "
        f"WHERE p.status = 'done' AND x.engine = 'icr' AND x.kind IN ({_marks(BOXED)}) "
        f"AND x.status IN ({_marks(HUMAN_STATUSES)}) AND x.crop IS NOT NULL ORDER BY x.id",
        (*BOXED, *HUMAN_STATUSES))


def review_mark(store: Store) -> int:
    """Id of the newest audit row of a person's value change (0 if none): how far learning has seen."""
    row = store.db.one(f"SELECT MAX(id) AS n FROM audit WHERE action IN ({_marks(REVIEW_ACTIONS)})", REVIEW_ACTIONS)
    return int(row["n"] or 0) if row else 0


def reviews_since(store: Store, mark: int) -> int:
    """Values people confirmed or corrected after audit row ``mark``."""
    row = store.db.one(f"SELECT COUNT(*) AS n FROM audit WHERE action IN ({_marks(REVIEW_ACTIONS)}) AND id > ?",
                       (*REVIEW_ACTIONS, mark))
    return int(row["n"]) if row else 0


def last_attempt(store: Store) -> dict[str, Any] | None:
    """The newest finished learning attempt, kept or not, with its report decoded (None if never).

    Its ``audit_upto`` is how far learning has seen the reviews. An attempt still a ``candidate``
    was interrupted (learning runs one at a time, under the data dir's lock): it does not count,
    so the next trigger learns again.
    """
    row = store.db.one("SELECT * FROM adaptations WHERE state <> 'candidate' ORDER BY id DESC LIMIT 1")
    return {**dict(row), "report": json.loads(row["report"] or "{}")} if row else None


def add_adaptation(store: Store, base_model: str, audit_upto: int, user: str) -> int:
    """A new ``candidate`` row; returns its id (its version name follows from it)."""
    with store.tx() as c:
        return c.insert("INSERT INTO adaptations (created_at, base_model, state, audit_upto, made_by) "
                        "VALUES (?, ?, 'candidate', ?, ?)", (now(), base_model, audit_upto, user))


def settle_adaptation(store: Store, adaptation_id: int, version: str, path: str, model: str,
                      report: dict[str, Any], activate: bool, user: str) -> None:
    """Record the verdict on a candidate: ``active`` (retiring the one in use) or ``rejected``; audited."""
    with store.tx() as c:
        at = now()
        old = _active(c)
        if activate:
            c.execute("UPDATE adaptations SET state = 'retired', retired_at = ? WHERE state = 'active'", (at,))
        c.execute("UPDATE adaptations SET version = ?, path = ?, model = ?, report = ?, state = ?, activated_at = ? "
                  "WHERE id = ?", (version, path, model, json.dumps(report), "active" if activate else "rejected",
                                   at if activate else None, adaptation_id))
        if activate:
            audit.write(c, user, "adaptation", field="reader", old=old["version"] if old else SHIPPED, new=version,
                        note="learned from reviewed values", at=at)


def adaptations(store: Store) -> list[dict[str, Any]]:
    """Every adaptation ever made, newest first, with its report decoded."""
    return [{**dict(r), "report": json.loads(r["report"] or "{}")}
            for r in store.db.q("SELECT * FROM adaptations ORDER BY id DESC")]


def active_adaptation(store: Store) -> dict[str, Any] | None:
    """The adaptation ingest reads with, if any."""
    row = store.db.one("SELECT * FROM adaptations WHERE state = 'active' ORDER BY id DESC LIMIT 1")
    return dict(row) if row else None


def _active(c: Tx) -> Row | None:
    return c.one("SELECT id, version FROM adaptations WHERE state = 'active'")


def activate(store: Store, adaptation_id: int | None, user: str, note: str) -> None:
    """Make ``adaptation_id`` the active adaptation (None: read with the shipped model only); audited."""
    with store.tx() as c:
        at = now()
        old = _active(c)
        new = None
        if adaptation_id is not None:
            new = c.one("SELECT id, version, state FROM adaptations WHERE id = ?", (adaptation_id,))
            if new is None or new["state"] not in ("active", "retired"):
                raise BadInput(f"no adaptation {adaptation_id} that was ever in use; see 'susulan learn --list'")
        c.execute("UPDATE adaptations SET state = 'retired', retired_at = ? WHERE state = 'active'", (at,))
        if new is not None:
            c.execute("UPDATE adaptations SET state = 'active', activated_at = ?, retired_at = NULL WHERE id = ?",
                      (at, adaptation_id))
        audit.write(c, user, "adaptation", field="reader", old=old["version"] if old else SHIPPED,
                    new=new["version"] if new else SHIPPED, note=note, at=at)


def values_by_model(store: Store) -> list[dict[str, Any]]:
    """How many comb-box values each classifier version read, with the adaptation's name where it was one."""
    return [dict(r) for r in store.db.q(
        "SELECT f.model, COUNT(*) AS n, MAX(a.version) AS adaptation FROM fields f "
        "LEFT JOIN adaptations a ON a.model = f.model AND a.model != '' "
        "WHERE f.engine = 'icr' GROUP BY f.model ORDER BY f.model")]


UNDECIDED = ("auto", "review")
"""Statuses of a value no person has decided."""


def stale_pages(store: Store, model: str) -> list[Row]:
    """Pages to read again with ``model``: ``id``, ``page_no``, ``stored_path``, ``form_id``, ``batch_id``.

    Read pages with a comb-box value read by another classifier that no person has decided,
    is not waiting for a spot check, and belongs only to records still under review.
    """
    of_field = "FROM records r WHERE r.page_id = x.page_id AND (x.record_no IS NULL OR r.record_no = x.record_no)"
    return store.db.q(
        "SELECT DISTINCT p.id, p.page_no, f.stored_path, p.form_id, f.batch_id FROM fields x "
        "JOIN pages p ON p.id = x.page_id JOIN files f ON f.id = p.file_id "
        f"WHERE p.status = 'done' AND x.engine = 'icr' AND x.status IN ({_marks(UNDECIDED)}) AND x.model <> ? "
        f"AND EXISTS (SELECT 1 {of_field}) AND NOT EXISTS (SELECT 1 {of_field} AND r.state <> 'review') "
        "AND NOT EXISTS (SELECT 1 FROM spot_checks s WHERE s.field_id = x.id) ORDER BY p.id", (*UNDECIDED, model))


def undecided_readings(store: Store, page_id: int) -> list[Row]:
    """A page's comb-box values no person has decided, with the classifier that read them."""
    return store.db.q(
        "SELECT id, version, record_no, name, final_value, confidence, status, model, detail FROM fields "
        f"WHERE page_id = ? AND engine = 'icr' AND status IN ({_marks(UNDECIDED)}) ORDER BY id",
        (page_id, *UNDECIDED))


def mark_read_by(store: Store, field_ids: list[int], model: str) -> None:
    """Record that ``model`` read these values again exactly as stored (value, confidence and status unchanged).

    Which model read a value is not the value: nothing is audited and the version stays, so a
    reviewer's open screen is not disturbed.
    """
    with store.tx() as c:
        c.executemany(f"UPDATE fields SET model = ? WHERE id = ? AND status IN ({_marks(UNDECIDED)})",
                      [(model, i, *UNDECIDED) for i in field_ids])


def count_auto(store: Store, field_ids: list[int], chunk: int = 500) -> int:
    """How many of these values are ``auto`` now."""
    total = 0
    for i in range(0, len(field_ids), chunk):
        part = tuple(field_ids[i:i + chunk])
        total += int(store.db.q(f"SELECT COUNT(*) AS n FROM fields WHERE status = 'auto' AND id IN "
                                f"({','.join('?' * len(part))})", part)[0]["n"])
    return total
