"""Reconciliation plan: for every reviewed record, insert / skip / conflict, and the confirmed snapshot.

``insert``: a visit the ERM does not have. ``skip``: the ERM already has it (same patient, same day,
same poli) or another paper record is the same visit. ``conflict``: a person must decide (patient
unsure, the ERM has that patient at another poli that day, data missing). Nothing goes to the ERM
before a person confirms the plan; exports and pushes use only the confirmed snapshot.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pipeline import forms
from pipeline.erm import master
from pipeline.erm import normalize as nz
from pipeline.erm.match import NEW, PATIENT_DATA, Match, match_all, name_similarity
from pipeline.erm.settings import Settings
from pipeline.erm.settings import load as load_settings
from pipeline.errors import BadInput, UnknownForm
from pipeline.export import rows as export_rows
from pipeline.store import Store
from pipeline.store.schema import now

ACTIONS = ("insert", "skip", "conflict")
REVIEWED = ("approved", "exported")
VISIT_FIELDS = ("visit_date", "arrival_time", "queue_no", "visit_type", "poli", "payment", "complaint")
FORM_PREFERENCE = {"pendaftaran": 0, "antrean": 1}  # which paper record is kept when two are the same visit


@dataclass(frozen=True)
class PlanRow:
    """What will happen to one reviewed record."""

    record_id: int
    record_version: int
    page_id: str
    form_id: str
    record_no: int
    visit_key: str
    action: str
    reason: str
    patient_key: str
    match: Match
    visit: dict[str, str]
    patient: dict[str, str]
    decided_by: str = ""

    def data(self) -> dict[str, Any]:
        """JSON-able form (stored with a confirmed plan)."""
        d = asdict(self)
        d["match"] = {"outcome": self.match.outcome, "score": self.match.score, "reason": self.match.reason,
                      "flags": [asdict(f) for f in self.match.flags], "decided_by": self.match.decided_by}
        return d


@dataclass
class Plan:
    """Rows in scan order and their counts."""

    rows: list[PlanRow] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Records per action and per match outcome."""
        c = Counter(r.action for r in self.rows)
        m = Counter(r.match.outcome for r in self.rows)
        return {**{a: c.get(a, 0) for a in ACTIONS}, **{f"patients_{k}": v for k, v in sorted(m.items())},
                "records": len(self.rows)}


def visit_key(page_id: str, record_no: int) -> str:
    """Stable id of a paper visit: the printed page id and the row (``pendaftaran-000012-0``)."""
    return f"{page_id}-{record_no}"


def reviewed_records(store: Store) -> list[dict[str, Any]]:
    """Approved records with their field values and version, in scan order."""
    out = []
    for rid in store.record_ids(REVIEWED):
        row = export_rows.record_row(store, rid)
        out.append({"record_id": rid, "version": int(store.record(rid)["version"]), "page_id": row["page_id"] or "",
                    "form_id": row["form_id"] or "", "record_no": int(row["record"]),
                    "visit_key": visit_key(row["page_id"] or f"record{rid}", int(row["record"])),
                    "fields": forms.values_by_role(row["form_id"] or "",
                                                   {k: str(v["value"] or "") for k, v in row["fields"].items()})})
    return out


def decisions(store: Store) -> dict[int, dict[str, str]]:
    """People's decisions by record id: ``patient`` (a candidate key or ``new``) and ``action``."""
    return {r["record_id"]: dict(r) for r in store.db.q("SELECT * FROM erm_decisions")}


def compute(store: Store, settings: Settings | None = None) -> Plan:
    """The plan as it stands now (nothing is written)."""
    settings = settings or load_settings()
    records = reviewed_records(store)
    decided = decisions(store)
    twins = same_visit_twins(records)
    result = match_all([r for r in records if r["record_id"] not in twins], master.patients(store), settings,
                       decided)
    for rid, reg in twins.items():
        m = result.matches[reg["record_id"]]
        result.matches[rid] = replace(m, record_id=rid, reason=f"sama dengan {reg['visit_key']}; {m.reason}")
    erm_visits: dict[str, list[dict[str, Any]]] = {}
    for v in master.visits(store):
        erm_visits.setdefault(v["visit_date"], []).append(v)
    kept = _paper_duplicates(records, result.matches)
    plan = Plan()
    for rec in records:
        m = result.matches[rec["record_id"]]
        f = rec["fields"]
        # a record without a settled patient shows its paper values (it cannot be inserted until decided)
        patient = result.patients.get(m.patient_key, {}) if m.patient_key else \
            {k: f.get(k, "") for k in PATIENT_DATA}
        action, reason = _action(rec, m, patient, erm_visits, kept, twins, settings)
        d = decided.get(rec["record_id"], {})
        by = ""
        if action == "conflict" and d.get("action") in ("insert", "skip") and m.outcome != "ambiguous" \
                and not reason.startswith("data kurang"):
            action, reason, by = d["action"], f"diputuskan oleh {d['user']}: {reason}", d["user"]
        plan.rows.append(PlanRow(
            rec["record_id"], rec["version"], rec["page_id"], rec["form_id"], rec["record_no"], rec["visit_key"],
            action, reason, m.patient_key, m, {k: f.get(k, "") for k in VISIT_FIELDS}, patient, by))
    return plan


def form_kind(form_id: str) -> str:
    """``registration`` or ``queue``, as the form's YAML says (``""`` for a form not defined here)."""
    try:
        return forms.load(form_id).kind
    except UnknownForm:
        return ""


def same_visit_twins(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Queue-sheet rows that are the same visit as a registration form: same day, same queue number, similar name."""
    forms: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in records:
        f = r["fields"]
        if form_kind(r["form_id"]) == "registration" and f.get("visit_date") and f.get("queue_no", "").isdigit():
            forms.setdefault((f["visit_date"], int(f["queue_no"])), []).append(r)
    out = {}
    for r in records:
        f = r["fields"]
        if form_kind(r["form_id"]) != "queue" or not f.get("queue_no", "").isdigit():
            continue
        for reg in forms.get((f.get("visit_date", ""), int(f["queue_no"])), []):
            if name_similarity(f.get("name", ""), reg["fields"].get("name", "")) >= 0.8:
                out[r["record_id"]] = reg
                break
    return out


def _paper_duplicates(records: list[dict[str, Any]], matches: dict[int, Match]) -> dict[tuple, dict[str, Any]]:
    """Same patient, same day, same poli on two papers: the record kept for each such visit."""
    kept: dict[tuple, dict[str, Any]] = {}
    order = sorted(records, key=lambda r: (FORM_PREFERENCE.get(r["form_id"], 9), r["record_id"]))
    for rec in order:
        key = matches[rec["record_id"]].patient_key
        if key:
            kept.setdefault((key, rec["fields"].get("visit_date", ""), rec["fields"].get("poli", "")), rec)
    return kept


def _action(rec: dict[str, Any], m: Match, patient: dict[str, str], erm_visits: dict[str, list[dict[str, Any]]],
            kept: dict[tuple, dict[str, Any]], twins: dict[int, dict[str, Any]], settings: Settings) -> tuple[str, str]:
    f = rec["fields"]
    twin = twins.get(rec["record_id"])
    if twin is not None:
        return "skip", f"kunjungan yang sama dengan {twin['visit_key']} (tanggal dan no. antrean sama)"
    missing = [n for n in ("visit_date", "name") if not f.get(n)]
    if missing:
        return "conflict", f"data kurang: {', '.join(missing)} kosong"
    if rec["form_id"] not in FORM_PREFERENCE:
        return "conflict", f"data kurang: formulir {rec['form_id']} tidak diimpor ke ERM"
    if m.outcome == "ambiguous":
        return "conflict", f"pasien belum pasti ({len(m.candidates)} kandidat): {m.reason}"
    if not f.get("poli"):
        return "conflict", "poli kosong"
    same_day = [v for v in erm_visits.get(f["visit_date"], []) if _same_patient(v, f, m, patient)]
    if any(v["poli"] == f["poli"] for v in same_day):
        v = next(v for v in same_day if v["poli"] == f["poli"])
        return "skip", f"sudah ada di ERM (file kunjungan baris {v['source_row']})"
    first = kept.get((m.patient_key, f["visit_date"], f["poli"]))
    if first is not None and first["record_id"] != rec["record_id"]:
        return "skip", f"kunjungan yang sama dengan {first['visit_key']} di kertas"
    if same_day:
        polis = ", ".join(sorted({v["poli"] or "?" for v in same_day}))
        return "conflict", f"ERM sudah punya kunjungan pasien ini hari itu di poli {polis}; kertas: {f['poli']}"
    if f["poli"] not in settings.locations:
        return "conflict", f"poli {f['poli']} tidak punya Location id di forms/erm/erm.yaml"
    kind = "pasien baru" if m.outcome == NEW else f"pasien lama {patient.get('rm_no') or m.patient_key}"
    return "insert", f"{kind}; {m.reason}"


def _same_patient(v: dict[str, Any], paper: dict[str, str], m: Match, patient: dict[str, str]) -> bool:
    """Whether an ERM visit is by the record's patient."""
    rm = nz.rm_key(v.get("rm_no", ""))
    if rm and (rm == nz.rm_key(patient.get("rm_no", "")) or m.patient_key == f"rm:{rm}"):
        return True
    for num in ("nik", "bpjs_no"):
        if v.get(num) and v[num] in (patient.get(num), paper.get(num)):
            return True
    if rm or not v.get("name"):
        return False
    dob_ok = not v.get("birth_date") or not paper.get("birth_date") or v["birth_date"] == paper["birth_date"]
    return dob_ok and name_similarity(paper.get("name", ""), v["name"]) >= 0.9


# --- confirmed plans --------------------------------------------------------------------------------


def confirm(store: Store, plan: Plan, user: str) -> int:
    """Save the plan as confirmed by ``user``; exports and pushes use it from now on."""
    if not user:
        raise BadInput("confirming a plan needs a user name (--user)")
    if not plan.rows:
        raise BadInput("there are no reviewed records to plan; approve records in the review app first")
    with store.tx() as c:
        plan_id = c.insert("INSERT INTO erm_plans (confirmed_by, confirmed_at, counts) VALUES (?,?,?)",
                           (user, now(), json.dumps(plan.counts)))
        c.executemany("INSERT INTO erm_plan_rows VALUES (?,?,?,?,?,?,?,?)",
                      [(plan_id, r.record_id, r.record_version, r.action, r.reason, r.patient_key, r.visit_key,
                        json.dumps(r.data(), ensure_ascii=False)) for r in plan.rows])
    return plan_id


def confirmed(store: Store) -> tuple[int, list[dict[str, Any]]]:
    """The latest confirmed plan: its id and rows (``data`` decoded); raises if none."""
    rows = store.db.q("SELECT id FROM erm_plans ORDER BY id DESC LIMIT 1")
    if not rows:
        raise BadInput("no confirmed plan yet; run 'susulan erm plan', check it, then 'susulan erm plan --confirm'")
    plan_id = int(rows[0]["id"])
    out = []
    for r in store.db.q("SELECT * FROM erm_plan_rows WHERE plan_id=? ORDER BY record_id", (plan_id,)):
        out.append({**dict(r), "data": json.loads(r["data"])})
    return plan_id, out


def sendable(store: Store) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """The confirmed plan's insert rows: those that may be sent, and those refused with why (see :func:`stale_reason`).

    The one place that decides what an export or a push may carry; raises if no plan was confirmed.
    """
    _, rows = confirmed(store)
    keep: list[dict[str, Any]] = []
    refused: list[tuple[dict[str, Any], str]] = []
    for r in rows:
        if r["action"] != "insert":
            continue
        why = stale_reason(store, r)
        if why:
            refused.append((r, why))
        else:
            keep.append(r)
    return keep, refused


def stale_reason(store: Store, row: dict[str, Any]) -> str:
    """Why a confirmed row may no longer be sent (``""`` if it may): not approved now, or edited since."""
    try:
        rec = store.record(int(row["record_id"]))
    except BadInput:
        return "record no longer exists (page re-read?); plan again"
    if rec["state"] not in REVIEWED:
        return f"record is '{rec['state']}', not approved: it will not be sent"
    if int(rec["version"]) != int(row["record_version"]):
        return "record was changed after the plan was confirmed; run 'susulan erm plan --confirm' again"
    return ""
