"""What the review app's "Impor ke ERM" page uses: the plan, ambiguous matches, decisions, the ledger.

Plain dicts and lists only, so the page can show them in tables. Decisions are audited.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pipeline.erm import ledger, master, requirements
from pipeline.erm import plan as planning
from pipeline.erm.match import NEW, master_key
from pipeline.erm.settings import Settings
from pipeline.erm.settings import load as load_settings
from pipeline.errors import BadInput
from pipeline.store import Store, audit, now

ACTION_CHOICES = ("insert", "skip")


def current_plan(store: Store, settings: Settings | None = None) -> planning.Plan:
    """The plan as it stands now (recomputed; nothing is written)."""
    return planning.compute(store, settings or load_settings())


def plan_rows(store: Store, plan: planning.Plan | None = None) -> list[dict[str, Any]]:
    """One row per reviewed record: action, reason, patient, flags, and what the ledger says."""
    plan = plan or current_plan(store)
    sent: dict[int, str] = {}
    for e in ledger.entries(store):
        sent.setdefault(e["record_id"], f"{e['status']} ({e['target']})")
    out = []
    for r in plan.rows:
        out.append({
            "record_id": r.record_id, "page_id": r.page_id, "form_id": r.form_id, "visit_key": r.visit_key,
            "action": r.action, "reason": r.reason, "name": r.patient.get("name") or "",
            "visit_date": r.visit.get("visit_date", ""), "poli": r.visit.get("poli", ""),
            "patient": r.match.outcome, "patient_key": r.patient_key, "rm_no": r.patient.get("rm_no", ""),
            "score": r.match.score, "flags": [asdict(f) for f in r.match.flags],
            "decided_by": r.decided_by or r.match.decided_by, "ledger": sent.get(r.record_id, ""),
            "why": r.why.code, "gaps": list(r.gaps), "reg_no": r.erm_visit.get("reg_no", ""),
        })
    return out


def counts(plan: planning.Plan) -> dict[str, int]:
    """Records per action and per match outcome."""
    return plan.counts


def ambiguous(store: Store, plan: planning.Plan | None = None) -> list[dict[str, Any]]:
    """Records whose patient a person must choose, with the paper values and every candidate."""
    plan = plan or current_plan(store)
    records = {r["record_id"]: r for r in planning.reviewed_records(store)}
    out = []
    for r in plan.rows:
        if r.match.outcome != "ambiguous":
            continue
        paper = records[r.record_id]["fields"]
        out.append({
            "record_id": r.record_id, "page_id": r.page_id, "visit_key": r.visit_key, "reason": r.match.reason,
            "paper": {k: paper.get(k, "") for k in ("name", "nik", "bpjs_no", "rm_no", "birth_date", "sex",
                                                      "village", "visit_type")},
            "candidates": [{"key": c.key, "score": c.score, "reason": c.reason,
                            **{k: c.patient.get(k, "") for k in ("rm_no", "nik", "bpjs_no", "name", "birth_date",
                                                                 "sex", "village", "address")}}
                           for c in r.match.candidates],
            "choices": [c.key for c in r.match.candidates] + [NEW],
        })
    return out


def conflicts(store: Store, plan: planning.Plan | None = None) -> list[dict[str, Any]]:
    """Conflicts a person can settle with insert/skip (not ambiguous patients, not missing data)."""
    return [r for r in plan_rows(store, plan) if r["action"] == "conflict" and r["patient"] != "ambiguous"]


def incomplete(store: Store, plan: planning.Plan | None = None) -> list[dict[str, Any]]:
    """Visits with "data kurang": what is missing (``gaps``) and which record fields a person can add."""
    out = []
    for r in plan_rows(store, plan):
        if r["action"] != "incomplete":
            continue
        fields = []
        for code in r["gaps"]:
            name = code.split(":")[1]
            if name in requirements.RECORD_FIELDS and name not in fields:
                fields.append(name)
        out.append({**r, "fields": fields, "settings_only": not fields})
    return out


def _audit(c: Any, record_id: int, user: str, action: str, old: str, new: str, note: str) -> None:
    audit.write(c, user, action, record_id=record_id, old=old, new=new, note=note)


def decide_match(store: Store, record_id: int, patient: str, user: str, note: str = "") -> None:
    """A person settles a record's patient: a candidate key (``rm:…``, ``nik:…``, ``new:…``) or ``"new"``."""
    if not user:
        raise BadInput("every decision needs a user name")
    store.record(record_id)  # raises for an unknown record
    if patient != NEW:
        keys = {master_key(p) for p in master.patients(store)}
        if patient not in keys and not patient.startswith(("new:", "nik:")):
            raise BadInput(f"{patient!r} is not a patient of the ERM master; choose a candidate or 'new'")
    with store.tx() as c:
        old = c.execute("SELECT patient FROM erm_decisions WHERE record_id=?", (record_id,)).fetchone()
        c.execute('INSERT INTO erm_decisions (record_id, patient, "user", at, note) VALUES (?,?,?,?,?) '
                  "ON CONFLICT (record_id) DO UPDATE SET patient=excluded.patient, \"user\"=excluded.\"user\", "
                  "at=excluded.at, note=excluded.note", (record_id, patient, user, now(), note))
        _audit(c, record_id, user, "erm_patient", old[0] if old else "", patient, note)


def decide_action(store: Store, record_id: int, action: str, user: str, note: str = "") -> None:
    """A person settles a conflict: ``insert`` (import anyway) or ``skip`` (the ERM has it)."""
    if action not in ACTION_CHOICES:
        raise BadInput(f"action must be one of {', '.join(ACTION_CHOICES)}")
    if not user:
        raise BadInput("every decision needs a user name")
    store.record(record_id)
    with store.tx() as c:
        old = c.execute("SELECT action FROM erm_decisions WHERE record_id=?", (record_id,)).fetchone()
        c.execute('INSERT INTO erm_decisions (record_id, action, "user", at, note) VALUES (?,?,?,?,?) '
                  "ON CONFLICT (record_id) DO UPDATE SET action=excluded.action, \"user\"=excluded.\"user\", "
                  "at=excluded.at, note=excluded.note", (record_id, action, user, now(), note))
        _audit(c, record_id, user, "erm_action", old[0] if old else "", action, note)


def clear_decision(store: Store, record_id: int, user: str) -> None:
    """Forget the decisions on a record (it is matched and planned automatically again)."""
    with store.tx() as c:
        c.execute("DELETE FROM erm_decisions WHERE record_id=?", (record_id,))
        _audit(c, record_id, user, "erm_clear", "", "", "")


def confirm_plan(store: Store, user: str, plan: planning.Plan | None = None) -> int:
    """Confirm the current plan (what export and push will use); returns its id."""
    return planning.confirm(store, plan or current_plan(store), user)


def confirmed_plan(store: Store) -> dict[str, Any] | None:
    """The latest confirmed plan: id, who, when, counts; ``None`` if there is none."""
    rows = store.db.q("SELECT * FROM erm_plans ORDER BY id DESC LIMIT 1")
    return dict(rows[0]) if rows else None


def plan_fingerprint(store: Store) -> str:
    """Changes whenever something the plan depends on changes: approvals and edits, ERM loads, decisions, the ledger."""
    q = store.db.one
    parts = [
        q("SELECT COALESCE(MAX(id), 0) AS a FROM audit"),
        q("SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS m, COALESCE(SUM(version), 0) AS v FROM records "
          "WHERE state IN ('approved', 'exported')"),
        q("SELECT COUNT(*) AS n, COALESCE(MAX(at), '') AS m FROM erm_decisions"),
        q("SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), '') AS m FROM erm_ledger"),
    ]
    loads = [f"{r['kind']}{r['sha256']}{r['loaded_at']}{r['profile']}"
             for r in store.db.q("SELECT kind, sha256, loaded_at, profile FROM erm_loads ORDER BY kind")]
    return "|".join(":".join(str(v) for v in dict(p or {}).values()) for p in parts) + "|" + ",".join(loads)


def ledger_rows(store: Store, target: str | None = None) -> list[dict[str, Any]]:
    """The import ledger (all servers, or one), newest first."""
    return ledger.entries(store, target)


def ledger_counts(store: Store, target: str | None = None) -> dict[str, int]:
    """Records per ledger status."""
    return ledger.counts(store, target)


def loaded_files(store: Store) -> list[dict[str, Any]]:
    """Which ERM exports were loaded (patients, visits), from which file, when, how many rows."""
    return master.loads(store)
