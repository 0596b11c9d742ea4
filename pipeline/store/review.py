"""What the review app asks of the store: changes, approvals, counts, problem pages; what "needs a look".

A record's fields are the fields of its page with its ``record_no`` plus the page-level
fields (``record_no IS NULL``, e.g. the date of a queue sheet), which every record on
that page shares. Every write goes through :class:`Store` (versioned, audited), one transaction
per user action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.errors import BadInput
from pipeline.models import STRUCK_RULE, Issue
from pipeline.store import audit
from pipeline.store.facade import Store
from pipeline.store.records import Conflict

KEPT_RULES = frozenset({"duplicate_serial", STRUCK_RULE})
"""Issues written by ingest rather than by ``validate``; re-validation keeps them."""
OPEN_STATES = ("review", "flagged")
VOID = "void"
"""A row a person said is no patient (:func:`void`)."""
NEEDS_LOOK = "x.status = 'review'"
"""SQL over ``fields x``: the value needs a look by a person, who has not decided it yet.

The one store-level notion used by the per-form screen (its Enter flow), the per-field grid,
``review export`` and approval without a person (never while one is left). Today: the machine
was unsure. Spot-check sampling adds the ``auto`` values it draws here, unmarked, so reviewers
see them as ordinary review items.
"""
_OF_RECORD = "(x.record_no = r.record_no OR x.record_no IS NULL)"


def _day(store: Store, alias: str) -> str:
    """A visit date usable for grouping; misreads count as unreadable ('')."""
    value = f"{alias}.final_value"
    return f"CASE WHEN {store.db.sql('iso_date', value)} THEN {value} ELSE '' END"


@dataclass(frozen=True)
class Change:
    """A person's decision on one field: a new ``value``, or ``None`` to confirm what is stored."""

    field_id: int
    expected_version: int
    value: str | None = None


@dataclass(frozen=True)
class Clash:
    """A change refused because someone saved the field first; ``current`` is what is stored now."""

    field_id: int
    name: str
    mine: str | None
    current: dict[str, Any]


@dataclass
class Applied:
    """Outcome of :func:`apply_changes`."""

    saved: list[int]
    conflicts: list[Clash]
    records: list[int]


class Blocked(BadInput):
    """A record cannot be approved while a blocking rule fails."""

    def __init__(self, message: str, issues: list[Issue]) -> None:
        super().__init__(message)
        self.issues = issues


# --- values and rules ----------------------------------------------------------------------------


def record_values(store: Store, record_id: int) -> dict[str, str]:
    """Final values of a record by field name (page-level fields included)."""
    return {f["name"]: f["final_value"] for f in store.record_fields(record_id)}


def _validator() -> Any:
    try:
        from pipeline.validate import validate_record
    except ImportError:
        return None
    return validate_record


def revalidate(store: Store, record_id: int) -> list[Issue]:
    """Run the rules on a record's current values and store the result; returns all its issues."""
    rec = store.record(record_id)
    check = _validator()
    found = list(check(rec["form_id"], record_values(store, record_id))) if check else []
    kept = [Issue(i["field"], i["rule"], i["message"], bool(i["blocking"]))
            for i in store.issues(record_id) if i["rule"] in KEPT_RULES]
    issues = kept + found
    store.replace_issues(record_id, issues)
    return issues


def records_of_field(store: Store, field_id: int) -> list[int]:
    """Records a field belongs to (all records of the page for a page-level field)."""
    return [r["id"] for r in store.db.q(
        f"SELECT r.id FROM fields x JOIN records r ON r.page_id = x.page_id AND {_OF_RECORD} "
        "WHERE x.id = ? ORDER BY r.record_no", (field_id,))]


def apply_changes(store: Store, changes: list[Change], user: str) -> Applied:
    """Save each change (a refused one is reported, the others still saved) and re-validate touched records."""
    saved: list[int] = []
    conflicts: list[Clash] = []
    touched: dict[int, None] = {}
    with store.tx():
        for ch in changes:
            try:
                if ch.value is None:
                    store.confirm(ch.field_id, user, ch.expected_version)
                else:
                    store.set_value(ch.field_id, ch.value, user, ch.expected_version)
            except Conflict as e:  # raised before anything is written: the other changes still go in
                conflicts.append(Clash(ch.field_id, store.field(ch.field_id)["name"], ch.value, e.current))
                continue
            saved.append(ch.field_id)
            touched.update(dict.fromkeys(records_of_field(store, ch.field_id)))
        for record_id in touched:
            revalidate(store, record_id)
    return Applied(saved, conflicts, list(touched))


def blocking(issues: list[Issue]) -> list[Issue]:
    """The issues that stop approval."""
    return [i for i in issues if i.blocking]


def approve(store: Store, record_id: int, user: str, expected_version: int | None = None,
            override_note: str = "") -> None:
    """Approve a record after re-checking its rules; raises :class:`Blocked` if one fails.

    An admin may approve despite a failing rule by giving ``override_note`` (audited).
    """
    with store.tx():
        stop = blocking(revalidate(store, record_id))
        if not stop or override_note.strip():
            note = f"disetujui walau ada masalah: {override_note.strip()}" if stop else ""
            store.set_record_state(record_id, "approved", user, expected_version, note)
            return
    raise Blocked("Formulir belum bisa disetujui: " + " ".join(i.message for i in stop), stop)


def flag(store: Store, record_id: int, user: str, note: str, expected_version: int | None = None) -> None:
    """Hand a record to a supervisor with a note."""
    store.set_record_state(record_id, "flagged", user, expected_version, note.strip(), flagged=note.strip())


def void(store: Store, record_id: int, user: str, expected_version: int | None = None, note: str = "") -> None:
    """Take a row that is no patient out of the work (crossed out, written by mistake, specks): state ``void``.

    Nothing is deleted: its values stay as read, the change is audited, and :func:`reopen` brings it
    back. A void record is never approved, exported or sent to the ERM.
    """
    store.set_record_state(record_id, VOID, user, expected_version, note.strip() or "bukan pasien")


def reopen(store: Store, record_id: int, user: str, expected_version: int | None = None) -> None:
    """Put an approved, flagged or void record back in the review queue."""
    store.set_record_state(record_id, "review", user, expected_version, "dibuka lagi")


def approve_confident(store: Store, user: str) -> tuple[int, int]:
    """Approve every open record with no value needing a look (:data:`NEEDS_LOOK`) and no rule broken.

    Values a person already confirmed or corrected count as settled, like ``auto`` ones.
    Returns ``(approved, remaining)``; remaining = records still waiting for a person.
    """
    if not user:
        raise BadInput("every change needs a user name")
    candidates = store.db.q(
        "SELECT r.id, r.version FROM records r WHERE r.state = 'review' AND NOT EXISTS ("
        f"SELECT 1 FROM fields x WHERE x.page_id = r.page_id AND {_OF_RECORD} AND ({NEEDS_LOOK})) "
        "ORDER BY r.id")
    approved = 0
    with store.tx():
        for row in candidates:
            if revalidate(store, row["id"]):
                continue
            try:
                store.set_record_state(row["id"], "approved", user, row["version"],
                                       "disetujui tanpa pemeriksaan per nilai: tidak ada nilai yang perlu "
                                       "dicek, tidak ada masalah aturan")
            except Conflict:  # raised before anything is written
                continue
            approved += 1
    remaining = store.db.q("SELECT COUNT(*) AS n FROM records WHERE state IN ('review', 'flagged')")[0]["n"]
    return approved, int(remaining)


# --- what the screens offer ----------------------------------------------------------------------


def forms_present(store: Store) -> list[str]:
    """Form ids that have records, sorted (the choices of the screens' form selector)."""
    return [r["form_id"] for r in store.db.q(
        "SELECT DISTINCT p.form_id FROM records r JOIN pages p ON p.id = r.page_id ORDER BY p.form_id")]


def latest_version(store: Store, form_id: str) -> int | None:
    """The highest version of ``form_id`` among read pages, or None if none was read."""
    row = store.db.one("SELECT MAX(version) AS v FROM pages WHERE form_id = ?", (form_id,))
    return None if row is None or row["v"] is None else int(row["v"])


def record_state(store: Store, record_id: int) -> str | None:
    """A record's review state now, or None if it no longer exists (its page was re-read)."""
    row = store.db.one("SELECT state FROM records WHERE id = ?", (record_id,))
    return None if row is None else str(row["state"])


def count_records(store: Store, states: tuple[str, ...], form_id: str | None = None) -> int:
    """Records in ``states`` (of one form, or all)."""
    marks = ",".join("?" * len(states))
    row = store.db.one(f"SELECT COUNT(*) AS n FROM records r JOIN pages p ON p.id = r.page_id WHERE r.state IN "
                       f"({marks})" + (" AND p.form_id = ?" if form_id else ""),
                       (*states, *((form_id,) if form_id else ())))
    return int(row["n"]) if row else 0


# --- snippets ----------------------------------------------------------------------------------------


def crops(store: Store, field_ids: list[int]) -> dict[int, bytes]:
    """PNG snippets of many fields in one query."""
    if not field_ids:
        return {}
    rows = store.db.q(f"SELECT id, crop FROM fields WHERE id IN ({','.join('?' * len(field_ids))})", tuple(field_ids))
    return {r["id"]: r["crop"] or b"" for r in rows}


# --- overview ------------------------------------------------------------------------------------


def totals(store: Store) -> dict[str, int]:
    """Headline numbers: pages read, pages needing attention, records by state, values to review."""
    one = store.db.q(
        "SELECT (SELECT COUNT(*) FROM pages WHERE status = 'done') AS pages, "
        "(SELECT COUNT(*) FROM pages WHERE status NOT IN ('done', 'discarded')) AS problem_pages, "
        "(SELECT COUNT(*) FROM files WHERE status = 'problem') AS problem_files, "
        f"(SELECT COUNT(*) FROM records WHERE state <> '{VOID}') AS records, "
        f"(SELECT COUNT(*) FROM records WHERE state = '{VOID}') AS void, "
        "(SELECT COUNT(*) FROM records WHERE state = 'review') AS open, "
        "(SELECT COUNT(*) FROM records WHERE state = 'flagged') AS flagged, "
        "(SELECT COUNT(*) FROM records WHERE state IN ('approved', 'exported')) AS approved, "
        f"(SELECT COUNT(*) FROM fields x WHERE ({NEEDS_LOOK}) AND EXISTS (SELECT 1 FROM records r "
        f"WHERE r.page_id = x.page_id AND {_OF_RECORD} AND r.state IN ('review', 'flagged'))) AS values_to_review")[0]
    return {k: int(one[k] or 0) for k in one.keys()}


def per_form_day(store: Store) -> list[dict[str, Any]]:
    """Counts per form and visit date (the date written on the sheet; '' if unreadable), newest first."""
    rows = store.db.q(
        "WITH rec AS (SELECT r.id, r.state, r.page_id, p.form_id, "
        f"(SELECT {_day(store, 'x')} FROM fields x WHERE x.page_id = r.page_id AND x.name = 'visit_date' "
        f"AND {_OF_RECORD} LIMIT 1) AS day, "
        "(SELECT COUNT(*) FROM fields x WHERE x.page_id = r.page_id AND x.record_no = r.record_no "
        f"AND ({NEEDS_LOOK})) AS n_review, "
        "(SELECT COUNT(*) FROM issues i WHERE i.record_id = r.id AND i.blocking = 1) AS n_blocking "
        f"FROM records r JOIN pages p ON p.id = r.page_id WHERE r.state <> '{VOID}') "
        "SELECT form_id, COALESCE(day, '') AS day, COUNT(DISTINCT page_id) AS pages, COUNT(*) AS records, "
        "COUNT(*) FILTER (WHERE state = 'review') AS open, COUNT(*) FILTER (WHERE state = 'flagged') AS flagged, "
        "COUNT(*) FILTER (WHERE state IN ('approved', 'exported')) AS approved, "
        "SUM(CASE WHEN state IN ('review', 'flagged') THEN n_review ELSE 0 END) AS values_to_review, "
        "COUNT(*) FILTER (WHERE n_blocking > 0 AND state != 'approved') AS with_problems "
        "FROM rec GROUP BY form_id, COALESCE(day, '') ORDER BY day DESC, form_id")
    out = [dict(r) for r in rows]
    shared = store.db.q(  # page-level values (queue-sheet date) counted once per page, not once per row
        f"SELECT p.form_id, COALESCE((SELECT {_day(store, 'v')} FROM fields v WHERE v.page_id = p.id "
        "AND v.name = 'visit_date' AND v.record_no IS NULL LIMIT 1), '') AS day, COUNT(*) AS n "
        "FROM fields x JOIN pages p ON p.id = x.page_id "
        f"WHERE x.record_no IS NULL AND ({NEEDS_LOOK}) AND EXISTS (SELECT 1 FROM records r WHERE "
        "r.page_id = p.id AND r.state IN ('review', 'flagged')) GROUP BY p.form_id, day")
    extra = {(r["form_id"], r["day"]): r["n"] for r in shared}
    for row in out:
        row["values_to_review"] = int(row["values_to_review"] or 0) + extra.get((row["form_id"], row["day"]), 0)
    return out


def batches(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """Ingest runs, newest first, with files, pages read and pages needing attention."""
    return [dict(r) for r in store.db.q(
        "SELECT b.id, b.started_at, b.finished_at, b.source, b.\"user\", COUNT(DISTINCT fl.id) AS files, "
        "COUNT(p.id) AS pages, COUNT(*) FILTER (WHERE p.status = 'done') AS done, "
        "COUNT(*) FILTER (WHERE p.status NOT IN ('done', 'discarded', 'pending')) AS problems "
        "FROM batches b LEFT JOIN files fl ON fl.batch_id = b.id LEFT JOIN pages p ON p.file_id = fl.id "
        "GROUP BY b.id ORDER BY b.id DESC LIMIT ?", (limit,))]


def unread_pages(store: Store) -> int:
    """Pages waiting to be read or being read now."""
    row = store.db.one("SELECT COUNT(*) AS n FROM pages WHERE status IN ('pending', 'reading')")
    return int(row["n"]) if row else 0


def problem_files(store: Store) -> list[dict[str, Any]]:
    """Files that could not be opened at all."""
    return [dict(r) for r in store.db.q(
        "SELECT id, name, reason, message, added_at FROM files WHERE status = 'problem' ORDER BY id")]


# --- problem pages -------------------------------------------------------------------------------


def discard_page(store: Store, page_id: int, user: str) -> None:
    """Set a page aside for good (kept in the data directory, no longer listed as a problem)."""
    with store.tx() as c:
        page = store.page(page_id)
        store.mark_page(page_id, "discarded", page["reason"], f"dibuang oleh {user}")
        audit.write(c, user, "page_discard", field=f"page:{page_id}", old=page["status"], new="discarded")


def retry_page(store: Store, page_id: int, user: str) -> None:
    """Put a page back to ``pending`` so the next ingest run reads it again."""
    with store.tx() as c:
        page = store.page(page_id)
        store.mark_page(page_id, "pending")
        audit.write(c, user, "page_retry", field=f"page:{page_id}", old=page["status"], new="pending")


def discard_file(store: Store, file_id: int, user: str) -> None:
    """Set an unreadable file aside (no longer listed as a problem)."""
    with store.tx() as c:
        store.set_file(file_id, status="discarded")
        audit.write(c, user, "file_discard", field=f"file:{file_id}", old="problem", new="discarded")


def recent_changes(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    """The latest audit rows (every user), newest first."""
    return [dict(r) for r in audit.recent(store.db, limit)]
