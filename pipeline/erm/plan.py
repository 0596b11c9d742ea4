"""Reconciliation plan: for every reviewed record, insert / skip / conflict / incomplete, and the confirmed snapshot.

``insert``: a visit the ERM does not have. ``skip``: the ERM already has it (same patient, same day,
same poli) or another paper record is the same visit. ``conflict``: a person must decide (patient
unsure, the ERM has that patient at another poli that day). ``incomplete`` ("data kurang"): the visit
lacks what the ERM or a target in ``forms/erm/erm.yaml`` needs (listed as gaps); it is completed in
the review app or skipped by a person, and never exported or pushed as an insert. Nothing goes to the
ERM before a person confirms the plan; exports and pushes use only the confirmed snapshot.
Reasons are :class:`~pipeline.erm.reasons.Reason` codes; ``reason`` holds their Indonesian text.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pipeline import forms
from pipeline.erm import address, master, requirements
from pipeline.erm import normalize as nz
from pipeline.erm.match import NEW, PATIENT_DATA, Flag, Match, match_all, name_similarity
from pipeline.erm.reasons import Reason, render
from pipeline.erm.settings import Settings
from pipeline.erm.settings import load as load_settings
from pipeline.errors import BadInput, UnknownForm
from pipeline.export import rows as export_rows
from pipeline.store import Store

ACTIONS = ("insert", "skip", "conflict", "incomplete")
REVIEWED = ("approved", "exported")
VISIT_FIELDS = ("visit_date", "arrival_time", "queue_no", "visit_type", "poli", "payment", "complaint")
FORM_PREFERENCE = {"registration": 0, "queue": 1}  # form kinds imported; which is kept when two are one visit


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
    why: Reason = field(default_factory=lambda: Reason(""))
    gaps: tuple[str, ...] = ()
    paper: dict[str, str] = field(default_factory=dict)
    erm_visit: dict[str, str] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        """JSON-able form (stored with a confirmed plan)."""
        d = asdict(self)
        d["why"] = self.why.data()
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
    return store.erm_decisions()


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
        action, why, erm_visit = _action(rec, m, patient, erm_visits, kept, twins, settings)
        d = decided.get(rec["record_id"], {})
        by, gaps = "", []
        if action == "conflict" and d.get("action") in ("insert", "skip") and m.outcome != "ambiguous":
            action, why, by = d["action"], Reason("decided", {"user": d["user"], "reason": why.data()}), d["user"]
        if action == "insert":
            gaps = [g.code() for g in requirements.gaps(patient, f, f, m.outcome == NEW, settings)]
            if gaps:
                action, why = "incomplete", Reason("incomplete", {"gaps": gaps})
        elif action == "incomplete":
            gaps = list(why.params.get("gaps", []))
        if action == "incomplete" and d.get("action") == "skip":
            action, why, by = "skip", Reason("skipped_incomplete", {"user": d["user"], "gaps": gaps}), d["user"]
        if action in ("insert", "incomplete"):
            m = _village_flag(m, patient, settings)
        plan.rows.append(PlanRow(
            rec["record_id"], rec["version"], rec["page_id"], rec["form_id"], rec["record_no"], rec["visit_key"],
            action, why.text(), m.patient_key, m, {k: f.get(k, "") for k in VISIT_FIELDS}, patient, by, why,
            tuple(gaps), {k: f.get(k, "") for k in ("nik", "bpjs_no")}, erm_visit))
    return plan


def _village_flag(m: Match, patient: dict[str, str], settings: Settings) -> Match:
    """Flag a village that was only found outside the patient's kecamatan."""
    v = address.village_of(patient, settings.kecamatan_code)
    if v is None or not v.elsewhere:
        return m
    text = render("village_elsewhere", {"village": v.name, "kecamatan": v.kecamatan_name().upper()})
    return replace(m, flags=(*m.flags, Flag("village_code", patient.get("village", ""), f"{v.name} ({v.code})",
                                            text)))


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
    order = sorted(records, key=lambda r: (FORM_PREFERENCE.get(form_kind(r["form_id"]), 9), r["record_id"]))
    for rec in order:
        key = matches[rec["record_id"]].patient_key
        if key:
            kept.setdefault((key, rec["fields"].get("visit_date", ""), rec["fields"].get("poli", "")), rec)
    return kept


def _action(rec: dict[str, Any], m: Match, patient: dict[str, str], erm_visits: dict[str, list[dict[str, Any]]],
            kept: dict[tuple, dict[str, Any]], twins: dict[int, dict[str, Any]],
            settings: Settings) -> tuple[str, Reason, dict[str, str]]:
    """Action, reason and the ERM visit found (if any) for one record, before decisions and target gaps."""
    f = rec["fields"]
    twin = twins.get(rec["record_id"])
    if twin is not None:
        return "skip", Reason("twin_of_form", {"key": twin["visit_key"]}), {}
    if form_kind(rec["form_id"]) not in FORM_PREFERENCE:
        return "skip", Reason("form_not_imported", {"form": rec["form_id"]}), {}
    missing = [f"erm:{n}" for n in ("visit_date", "name", "poli") if not f.get(n)]
    if missing:
        return "incomplete", Reason("incomplete", {"gaps": missing}), {}
    if m.outcome == "ambiguous":
        return "conflict", Reason("patient_unsure", {"n": len(m.candidates), "why": m.reason}), {}
    same_day = [v for v in erm_visits.get(f["visit_date"], []) if _same_patient(v, f, m.patient_key, patient)]
    here = next((v for v in same_day if v["poli"] == f["poli"]), None)
    if here is not None:
        found = {"source_row": str(here["source_row"]), "reg_no": str(here.get("reg_no") or "")}
        reg = f", No. registrasi {found['reg_no']}" if found["reg_no"] else ""
        return "skip", Reason("in_erm", {"row": here["source_row"], "reg": reg}), found
    first = kept.get((m.patient_key, f["visit_date"], f["poli"]))
    if first is not None and first["record_id"] != rec["record_id"]:
        return "skip", Reason("paper_duplicate", {"key": first["visit_key"]}), {}
    if same_day:
        polis = ", ".join(sorted({v["poli"] or "?" for v in same_day}))
        return "conflict", Reason("erm_other_poli", {"polis": polis, "poli": f["poli"]}), {}
    if f["poli"] not in settings.locations:
        return "conflict", Reason("no_location", {"poli": f["poli"]}), {}
    if m.outcome == NEW:
        return "insert", Reason("insert_new", {"why": m.reason}), {}
    return "insert", Reason("insert_known", {"who": patient.get("rm_no") or m.patient_key, "why": m.reason}), {}


def _same_patient(v: dict[str, Any], paper: dict[str, str], patient_key: str, patient: dict[str, str]) -> bool:
    """Whether an ERM visit is by the record's patient."""
    rm = nz.rm_key(v.get("rm_no", ""))
    if rm and (rm == nz.rm_key(patient.get("rm_no", "")) or patient_key == f"rm:{rm}"):
        return True
    for num in ("nik", "bpjs_no"):
        if v.get(num) and v[num] in (patient.get(num), paper.get(num)):
            return True
    if rm or not v.get("name"):
        return False
    dob_ok = not v.get("birth_date") or not paper.get("birth_date") or v["birth_date"] == paper["birth_date"]
    return dob_ok and name_similarity(paper.get("name", ""), v["name"]) >= 0.9


def registration_numbers(store: Store, rows: list[dict[str, Any]]) -> dict[int, str]:
    """The ERM's registration number of each confirmed visit that the loaded ERM visits now contain.

    After the import file went into the ERM and its visits were exported and loaded again, the visits
    Susulan added are found there (same patient, day and poli) with the number the ERM gave them.
    """
    by_day: dict[str, list[dict[str, Any]]] = {}
    for v in master.visits(store):
        if v.get("reg_no"):
            by_day.setdefault(v["visit_date"], []).append(v)
    out = {}
    for row in rows:
        visit, patient = row["visit"], row["patient"]
        paper = {**patient, **{k: v for k, v in (row.get("paper") or {}).items() if v}}
        for v in by_day.get(visit.get("visit_date", ""), []):
            if v["poli"] == visit.get("poli") and _same_patient(v, paper, row["patient_key"], patient):
                out[int(row["record_id"])] = str(v["reg_no"])
                break
    return out


# --- confirmed plans --------------------------------------------------------------------------------


def confirm(store: Store, plan: Plan, user: str) -> int:
    """Save the plan as confirmed by ``user``; exports and pushes use it from now on."""
    if not user:
        raise BadInput("confirming a plan needs a user name (--user)")
    if not plan.rows:
        raise BadInput("there are no reviewed records to plan; approve records in the review app first")
    return store.erm_confirm_plan(user, json.dumps(plan.counts), [
        (r.record_id, r.record_version, r.action, r.reason, r.patient_key, r.visit_key,
         json.dumps(r.data(), ensure_ascii=False)) for r in plan.rows])


def confirmed(store: Store) -> tuple[int, list[dict[str, Any]]]:
    """The latest confirmed plan: its id and rows (``data`` decoded); raises if none."""
    latest = store.erm_latest_plan()
    if latest is None:
        raise BadInput("no confirmed plan yet; run 'susulan erm plan', check it, then 'susulan erm plan --confirm'")
    plan_id = int(latest["id"])
    return plan_id, [{**r, "data": json.loads(r["data"])} for r in store.erm_plan_rows(plan_id)]


def sendable(store: Store) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """The confirmed plan's insert rows that may be sent, and those refused with why (:func:`confirmed_rows`)."""
    c = confirmed_rows(store)
    return c.keep, c.refused


def stale_reason(store: Store, row: dict[str, Any]) -> str:
    """Why a confirmed row may no longer be sent, as a reason code (``""`` if it may).

    ``record_gone``, ``not_approved`` (not approved now) or ``changed_after_confirm`` (edited since).
    """
    try:
        rec = store.record(int(row["record_id"]))
    except BadInput:
        return "record_gone"
    if rec["state"] not in REVIEWED:
        return "not_approved"
    if int(rec["version"]) != int(row["record_version"]):
        return "changed_after_confirm"
    return ""


@dataclass
class Confirmed:
    """The confirmed plan's rows of some actions, split into those still good and those refused (with why)."""

    plan_id: int
    rows: list[dict[str, Any]]
    keep: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    @property
    def data(self) -> list[dict[str, Any]]:
        """``PlanRow.data()`` of the rows still good."""
        return [r["data"] for r in self.keep]


def confirmed_rows(store: Store, actions: tuple[str, ...] = ("insert",)) -> Confirmed:
    """Confirmed rows with one of ``actions``, minus those whose record is no longer approved or changed since."""
    plan_id, rows = confirmed(store)
    out = Confirmed(plan_id, rows)
    for r in rows:
        if r["action"] not in actions:
            continue
        why = stale_reason(store, r)
        if why:
            out.refused.append((r, why))
        else:
            out.keep.append(r)
    return out
