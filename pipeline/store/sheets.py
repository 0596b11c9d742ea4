"""What the review screens ask of the store: sheets worst first, one sheet ready to show, one field across sheets.

A *sheet* is one scanned page with all its records (one for a registration form, up to
15 rows for a queue sheet); the per-form screen checks and approves a sheet at once.
"Needs a look" (``review.NEEDS_LOOK``) is the one store-level notion of which values a
person must check: the per-form screen puts them in its Enter flow, the per-field grid
lists them, and a record is approved without a person only when none is left.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import BadInput
from pipeline.models import Issue
from pipeline.store import review as rv
from pipeline.store.facade import Store
from pipeline.store.records import Conflict
from pipeline.store.review import NEEDS_LOOK

OPEN = ("review", "flagged")
STATE_GROUPS = {"open": ("review",), "flagged": ("flagged",), "done": ("approved", "exported"), "void": (rv.VOID,)}
_OF_RECORD = "(x.record_no = r.record_no OR x.record_no IS NULL)"


def _marks(values: tuple | list) -> str:
    return ",".join("?" * len(values))


@dataclass(frozen=True)
class SheetItem:
    """One sheet in the review queue, with how bad it looks."""

    page_id: int
    form_id: str
    page_key: str
    records: int
    n_look: int
    n_blocking: int


@dataclass
class SheetOutcome:
    """What became of a person's action on a sheet."""

    saved: list[int] = field(default_factory=list)
    conflicts: list[rv.Clash] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    blocked: dict[int, list[Issue]] = field(default_factory=dict)
    stale: list[int] = field(default_factory=list)
    void: list[int] = field(default_factory=list)
    """Records the person said are no patient (:func:`review.void`)."""

    @property
    def ok(self) -> bool:
        """Nothing refused."""
        return not (self.conflicts or self.blocked or self.stale)


# --- queue ---------------------------------------------------------------------------------------


def queue(store: Store, states: tuple[str, ...] = ("review",), form_id: str | None = None) -> list[SheetItem]:
    """Sheets with a record in ``states``, worst first: failing rules, values needing a look, least sure."""
    where = f"r.state IN ({_marks(states)})" + (" AND p.form_id = ?" if form_id else "")
    params = (*states, *states, *states, *((form_id,) if form_id else ()))
    rows = store.db.q(
        "SELECT p.id, p.form_id, p.page_key, COUNT(r.id) AS n_records, "
        f"(SELECT COUNT(*) FROM fields x WHERE x.page_id = p.id AND ({NEEDS_LOOK}) AND EXISTS (SELECT 1 FROM "
        f"records r2 WHERE r2.page_id = p.id AND r2.state IN ({_marks(states)}) AND "
        "(x.record_no = r2.record_no OR x.record_no IS NULL))) AS n_look, "
        "(SELECT COUNT(*) FROM issues i JOIN records r3 ON r3.id = i.record_id WHERE r3.page_id = p.id "
        f"AND i.blocking = 1 AND r3.state IN ({_marks(states)})) AS n_blocking, "
        "(SELECT MIN(x.confidence) FROM fields x WHERE x.page_id = p.id AND x.status IN ('auto', 'review')) "
        "AS min_conf "
        f"FROM pages p JOIN records r ON r.page_id = p.id WHERE {where} "
        "GROUP BY p.id, p.form_id, p.page_key "
        "ORDER BY n_blocking DESC, n_look DESC, COALESCE(min_conf, 1) ASC, p.id", params)
    return [SheetItem(r["id"], r["form_id"] or "", r["page_key"] or "", int(r["n_records"]), int(r["n_look"]),
                      int(r["n_blocking"])) for r in rows]


def sheet_in(store: Store, page_id: int, states: tuple[str, ...]) -> bool:
    """Whether the sheet still has a record in ``states`` (others may have finished it meanwhile)."""
    return bool(store.db.q(f"SELECT 1 FROM records WHERE page_id = ? AND state IN ({_marks(states)}) LIMIT 1",
                        (page_id, *states)))


# --- one sheet -----------------------------------------------------------------------------------


def sheet(store: Store, page_id: int) -> dict[str, Any]:
    """A sheet ready to show: page, records, fields (with ``look``), issues per record and the history."""
    page = store.db.q("SELECT p.id, p.page_key, p.form_id, p.version, p.image_path, p.page_no, fl.name AS file_name "
                   "FROM pages p JOIN files fl ON fl.id = p.file_id WHERE p.id = ?", (page_id,))
    if not page:
        raise BadInput(f"no page {page_id}")
    records = [dict(r) for r in store.db.q(
        "SELECT id, record_no, state, version, flagged, updated_by, updated_at FROM records WHERE page_id = ? "
        "ORDER BY record_no", (page_id,))]
    fields = [dict(r) for r in store.db.q(
        "SELECT x.id, x.record_no, x.name, x.kind, x.machine_value, x.final_value, x.topk, x.confidence, "
        f"x.status, x.version, x.changed_by, x.changed_at, x.cells, x.box, x.detail, CASE WHEN {NEEDS_LOOK} THEN 1 "
        "ELSE 0 END AS look FROM fields x WHERE x.page_id = ? ORDER BY x.id", (page_id,))]
    ids = [r["id"] for r in records]
    issues: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    history: list[dict[str, Any]] = []
    if ids:
        for i in store.db.q(f"SELECT record_id, field, rule, message, blocking FROM issues WHERE record_id IN "
                         f"({_marks(ids)}) ORDER BY id", tuple(ids)):
            issues[i["record_id"]].append(dict(i))
        history = [dict(h) for h in store.db.q(
            f"SELECT a.*, r.record_no FROM audit a JOIN records r ON r.id = a.record_id WHERE a.record_id IN "
            f"({_marks(ids)}) ORDER BY a.id", tuple(ids))]
    return {"page": dict(page[0]), "records": records, "fields": fields, "issues": issues, "history": history}


def page_crops(store: Store, page_id: int) -> dict[int, bytes]:
    """PNG snippets of every field of a sheet."""
    return {r["id"]: r["crop"] or b"" for r in store.db.q("SELECT id, crop FROM fields WHERE page_id = ?", (page_id,))}


# --- acting on a sheet ---------------------------------------------------------------------------


def _bumps(store: Store, saved: list[int]) -> Counter[int]:
    """How many of this person's saved field changes touched each record (each bumps its version once)."""
    n: Counter[int] = Counter()
    for fid in saved:
        n.update(rv.records_of_field(store, fid))
    return n


class _Refused(Exception):
    """Rolls a person's action back when one of its changes was refused."""


def act(store: Store, action: str, changes: list[rv.Change], seen: dict[int, int], user: str,
        note: str = "", void: Collection[int] = ()) -> SheetOutcome:
    """Save a person's changes on a sheet, then ``approve``, ``flag`` or just ``save`` its open records.

    One transaction: if someone changed one of the values first, nothing is saved (``conflicts``).
    ``seen`` maps each record shown to the version it had; a record someone else changed since is
    not approved (``stale``), nor one whose rules fail (``blocked``); the others are. ``approve``
    with a ``note`` is an admin's approval despite a failing rule. The records of ``seen`` in ``void``
    are no patient (:func:`review.void`), whatever the action.
    """
    out = SheetOutcome()
    try:
        with store.tx():
            applied = rv.apply_changes(store, changes, user)
            out.saved, out.conflicts = applied.saved, applied.conflicts
            if out.conflicts:
                raise _Refused
            bumps = _bumps(store, applied.saved)
            for rid, version in seen.items():
                if rid in void:
                    _void(store, out, rid, version + bumps[rid], user)
                elif action != "save":
                    _finish(store, out, action, rid, version + bumps[rid], user, note)
    except _Refused:
        out.saved = []
    return out


def _void(store: Store, out: SheetOutcome, rid: int, expected: int, user: str) -> None:
    try:
        rv.void(store, rid, user, expected)
    except Conflict:
        out.stale.append(rid)
    else:
        out.void.append(rid)


def _finish(store: Store, out: SheetOutcome, action: str, rid: int, expected: int, user: str, note: str) -> None:
    """Approve or flag one record of the sheet, noting why not."""
    try:
        if action == "flag":
            rv.flag(store, rid, user, note or "perlu dicek supervisor", expected)
        else:
            rv.approve(store, rid, user, expected, override_note=note)
    except rv.Blocked as e:
        out.blocked[rid] = e.issues
    except Conflict:
        out.stale.append(rid)
    else:
        out.done.append(rid)


def reopen(store: Store, page_id: int, user: str) -> int:
    """Put the approved, flagged or void records of a sheet back into review; returns how many."""
    ids = [r["id"] for r in store.db.q("SELECT id FROM records WHERE page_id = ? AND state IN ('approved', 'flagged', "
                                    "?) ORDER BY record_no", (page_id, rv.VOID))]
    for rid in ids:
        rv.reopen(store, rid, user)
    return len(ids)


# --- one field across sheets ---------------------------------------------------------------------


def field_names(store: Store, form_id: str) -> list[dict[str, Any]]:
    """Per field name of a form: values needing a look in open records, in form order."""
    return [dict(r) for r in store.db.q(
        f"SELECT x.name, x.kind, SUM(CASE WHEN {NEEDS_LOOK} THEN 1 ELSE 0 END) AS n_look, MIN(x.id) AS first "
        "FROM fields x JOIN pages p ON p.id = x.page_id WHERE p.form_id = ? AND EXISTS (SELECT 1 FROM records r "
        f"WHERE r.page_id = x.page_id AND {_OF_RECORD} AND r.state IN ('review', 'flagged')) "
        "GROUP BY x.name, x.kind ORDER BY first", (form_id,))]


def column(store: Store, form_id: str, name: str, only_look: bool = True, limit: int = 40) -> list[dict[str, Any]]:
    """One field across open records of a form, least sure first, with the rule messages about it."""
    look = f"AND ({NEEDS_LOOK})" if only_look else "AND x.status IN ('auto', 'review')"
    rows = [dict(r) for r in store.db.q(
        "SELECT x.id, x.page_id, x.record_no, x.name, x.kind, x.machine_value, x.final_value, x.topk, x.confidence, "
        f"x.status, x.version, x.changed_by, x.changed_at, x.cells, x.detail, CASE WHEN {NEEDS_LOOK} THEN 1 ELSE 0 "
        "END AS look, p.page_key, p.version AS form_version FROM fields x JOIN pages p ON p.id = x.page_id "
        f"WHERE p.form_id = ? AND x.name = ? {look} AND EXISTS (SELECT 1 FROM records r WHERE "
        f"r.page_id = x.page_id AND {_OF_RECORD} AND r.state IN ('review', 'flagged')) "
        "ORDER BY x.confidence, x.id LIMIT ?", (form_id, name, limit))]
    if rows:
        pages = tuple({r["page_id"] for r in rows})
        msgs: dict[tuple[int, int | None], list[dict[str, Any]]] = {}
        for i in store.db.q(f"SELECT r.page_id, r.record_no, i.message, i.blocking FROM issues i JOIN records r "
                         f"ON r.id = i.record_id WHERE i.field = ? AND r.page_id IN ({_marks(pages)}) ORDER BY i.id",
                         (name, *pages)):
            msgs.setdefault((i["page_id"], i["record_no"]), []).append(dict(i))
        for r in rows:
            r["issues"] = msgs.get((r["page_id"], r["record_no"] if r["record_no"] is not None else 0), [])
    return rows


def crops(store: Store, field_ids: list[int]) -> dict[int, bytes]:
    """PNG snippets of many fields."""
    return rv.crops(store, field_ids)


def column_rows(store: Store, field_ids: list[int]) -> list[dict[str, Any]]:
    """The stored state of some fields (what a person's grid action is checked against)."""
    if not field_ids:
        return []
    return [dict(r) for r in store.db.q(
        "SELECT x.id, x.name, x.kind, x.final_value, x.version, x.status, p.version AS form_version FROM fields x "
        f"JOIN pages p ON p.id = x.page_id WHERE x.id IN ({_marks(field_ids)})", tuple(field_ids))]


def values_to_check(store: Store, everything: bool = False) -> list[dict[str, Any]]:
    """Values of open records a person still has to look at (every value of open records with ``everything``).

    Each row: field id, sheet, row, name, kind, machine and current value, confidence, version, form.
    A value needs a look as in the per-form screen: :data:`NEEDS_LOOK`, or a rule names it.
    """
    look = "" if everything else (
        f"AND (({NEEDS_LOOK}) OR EXISTS (SELECT 1 FROM issues i WHERE i.record_id = r.id AND i.field = x.name))")
    return [dict(r) for r in store.db.q(
        "SELECT x.id, p.page_key, p.form_id, p.version AS form_version, r.record_no, x.name, x.kind, "
        "x.machine_value, x.final_value, x.confidence, x.version, x.status FROM fields x "
        "JOIN pages p ON p.id = x.page_id JOIN records r ON r.page_id = x.page_id AND "
        "(x.record_no = r.record_no OR (x.record_no IS NULL AND r.record_no = (SELECT MIN(r0.record_no) "
        "FROM records r0 WHERE r0.page_id = x.page_id))) "
        f"WHERE r.state IN ('review', 'flagged') {look} ORDER BY p.id, r.record_no, x.id")]


def fields_now(store: Store, field_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The stored state of some fields with their sheet, row and whether a record of theirs is still open."""
    out: dict[int, dict[str, Any]] = {}
    for chunk in range(0, len(field_ids), 500):
        ids = field_ids[chunk:chunk + 500]
        for r in store.db.q(
                "SELECT x.id, x.name, x.kind, x.final_value, x.version, x.status, x.changed_by, x.changed_at, "
                "x.record_no, p.page_key, p.form_id, p.version AS form_version, EXISTS (SELECT 1 FROM records r "
                f"WHERE r.page_id = x.page_id AND {_OF_RECORD} AND r.state IN ('review', 'flagged')) AS is_open "
                f"FROM fields x JOIN pages p ON p.id = x.page_id WHERE x.id IN ({_marks(ids)})", tuple(ids)):
            out[r["id"]] = dict(r)
    return out
