"""What the review app's "Impor ke ERM" page uses: the plan, ambiguous matches, decisions, the ledger.

Plain dicts and lists only, so the page can show them in tables. Decisions are audited.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipeline import forms
from pipeline.erm import address, ledger, master, requirements
from pipeline.erm import normalize as nz
from pipeline.erm import plan as planning
from pipeline.erm.match import NEW, master_key
from pipeline.erm.reasons import Reason
from pipeline.erm.settings import Settings
from pipeline.erm.settings import load as load_settings
from pipeline.errors import BadInput
from pipeline.store import Store

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


def decide_match(store: Store, record_id: int, patient: str, user: str, note: str = "") -> None:
    """A person settles a record's patient: a candidate key (``rm:…``, ``nik:…``, ``new:…``) or ``"new"``."""
    if not user:
        raise BadInput("every decision needs a user name")
    store.record(record_id)  # raises for an unknown record
    if patient != NEW:
        keys = {master_key(p) for p in master.patients(store)}
        if patient not in keys and not patient.startswith(("new:", "nik:")):
            raise BadInput(f"{patient!r} is not a patient of the ERM master; choose a candidate or 'new'")
    store.erm_decide(record_id, "patient", patient, user, note)


def decide_action(store: Store, record_id: int, action: str, user: str, note: str = "") -> None:
    """A person settles a conflict (``insert``: import anyway; ``skip``: the ERM has it) or skips a visit.

    ``skip`` also settles a visit with "data kurang" that nobody will complete.
    """
    if action not in ACTION_CHOICES:
        raise BadInput(f"action must be one of {', '.join(ACTION_CHOICES)}")
    if not user:
        raise BadInput("every decision needs a user name")
    store.record(record_id)
    store.erm_decide(record_id, "action", action, user, note)


KINDS = {"nik": "digits", "bpjs_no": "digits", "birth_date": "date", "visit_date": "date", "arrival_time": "time",
         "sex": "choice", "poli": "choice", "village": "letters", "name": "letters"}


class IncompleteValues(BadInput):
    """Values typed to complete a record that are not valid; ``problems`` say which and why."""

    def __init__(self, problems: list[Reason]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.text("en") for p in problems))


def _checked(name: str, raw: str) -> tuple[str, str]:
    """A typed value in export form, or ``("", why)``."""
    value = raw.strip()
    if not value:
        return "", "why_empty"
    if name == "nik":
        return (nz.digits(value), "") if nz.valid_nik(nz.digits(value)) else ("", "why_nik")
    if name == "bpjs_no":
        return (nz.digits(value), "") if nz.valid_bpjs(nz.digits(value)) else ("", "why_bpjs_no")
    if name in ("birth_date", "visit_date"):
        iso = nz.parse_date(value, ("%d-%m-%Y", "%d/%m/%Y"))
        return (iso, "") if iso else ("", "why_date")
    if name == "arrival_time":
        ok = re.fullmatch(r"([01]?\d|2[0-3])[:.]([0-5]\d)", value)
        return (f"{int(ok[1]):02d}:{ok[2]}", "") if ok else ("", "why_time")
    if name == "sex":
        return (value.upper(), "") if value.upper() in ("L", "P") else ("", "why_sex")
    if name == "village":
        found = address.find_village(value, load_settings().kecamatan_code)
        return (found.name, "") if found else ("", "why_village")
    if name == "poli":
        polis = {str(p["value"]) for p in forms.load_site().get("poli") or []}
        return (value.lower(), "") if value.lower() in polis else ("", "why_poli")
    return nz.clean_text(value), ""


def complete_record(store: Store, record_id: int, values: dict[str, str], user: str,
                    expected_version: int | None = None) -> None:
    """A person adds what a visit with "data kurang" lacks (NIK, sex, birth date, village, card number…).

    Every value is checked first; nothing is stored unless all are valid (:class:`IncompleteValues`).
    The record's rules are checked again afterwards; the plan sees the new values at once.
    """
    from pipeline.store import review

    problems, clean = [], []
    for name, raw in values.items():
        if name not in requirements.RECORD_FIELDS:
            raise BadInput(f"{name!r} is not a field a person can add here")
        value, why = _checked(name, raw)
        if why:
            problems.append(Reason("invalid_value", {"field": name, "value": raw, "why": why}))
        else:
            clean.append((name, KINDS[name], value))
    if problems:
        raise IncompleteValues(problems)
    if clean:
        with store.tx():
            store.complete_values(record_id, clean, user, expected_version, note="data kurang (Impor ke ERM)")
            review.revalidate(store, record_id)


def clear_decision(store: Store, record_id: int, user: str) -> None:
    """Forget the decisions on a record (it is matched and planned automatically again)."""
    store.erm_clear_decision(record_id, user)


def confirm_plan(store: Store, user: str, plan: planning.Plan | None = None) -> int:
    """Confirm the current plan (what export and push will use); returns its id."""
    return planning.confirm(store, plan or current_plan(store), user)


def confirmed_plan(store: Store) -> dict[str, Any] | None:
    """The latest confirmed plan: id, who, when, counts; ``None`` if there is none."""
    return store.erm_latest_plan()


def ledger_rows(store: Store, target: str | None = None) -> list[dict[str, Any]]:
    """The import ledger (all servers, or one), newest first."""
    return ledger.entries(store, target)


def ledger_counts(store: Store, target: str | None = None) -> dict[str, int]:
    """Records per ledger status."""
    return ledger.counts(store, target)


def loaded_files(store: Store) -> list[dict[str, Any]]:
    """Which ERM exports were loaded (patients, visits), from which file, when, how many rows."""
    return master.loads(store)


# --- loads, files and what changed ----------------------------------------------------------------


def load_file(store: Store, kind: str, path: Path, user: str, skip_bad_rows: bool = False) -> master.LoadReport:
    """Load an ERM export (``patients``, ``visits``) or P-Care's registrations (``pcare``), as the CLI does."""
    from pipeline.erm import pcare, profiles

    st = load_settings()
    if kind == "pcare":
        return pcare.load_registrations(store, path, st, user, skip_bad_rows)
    fn = master.load_patients if kind == "patients" else master.load_visits
    return fn(store, path, profiles.load(st.profile), user, skip_bad_rows)


def plan_fingerprint(store: Store) -> str:
    """Changes whenever something the plan depends on changes (and when erm.yaml is edited)."""
    from pipeline.erm import settings

    try:
        mtime = settings.path().stat().st_mtime_ns
    except OSError:
        mtime = 0
    return f"{store.erm_fingerprint()}|{mtime}"


def plan_digest(plan: planning.Plan) -> tuple[tuple[int, int, str, str], ...]:
    """What a confirmation fixes: each record's version, action and patient."""
    return tuple(sorted((r.record_id, r.record_version, r.action, r.patient_key) for r in plan.rows))


def differs_from_confirmed(store: Store, plan: planning.Plan) -> bool:
    """Whether the plan as it stands now is not the confirmed one."""
    _, rows = planning.confirmed(store)
    then = {(r["record_id"], r["record_version"], r["action"], r["patient_key"]) for r in rows}
    return then != set(plan_digest(plan))


def import_file(store: Store, fmt: str) -> bytes:
    """The ERM import file (``csv``/``xlsx`` in the configured profile, ``fhir`` Bundle) of the confirmed inserts."""
    return import_files(store, (fmt,))[fmt]


def import_files(store: Store, formats: tuple[str, ...] = ("csv", "xlsx", "fhir", "pcare")) -> dict[str, Any]:
    """Files of the confirmed plan as ``susulan erm export`` writes them, and what each leaves out (Indonesian).

    Keys: ``count`` (inserts still good), ``refused`` (changed since the confirmation), ``invalid`` (FHIR),
    one key per format with its bytes; ``pcare`` and ``pcare_csv`` only when P-Care registrations are loaded
    (else ``pcare_missing`` says so), with ``pcare_registered`` and ``pcare_left_out``.
    """
    import tempfile

    from pipeline.erm import pcare, profiles
    from pipeline.export import erm_files, fhir

    st = load_settings()
    confirmed = planning.confirmed_rows(store)
    out: dict[str, Any] = {"count": len(confirmed.keep), "invalid": [],
                           "refused": [f"{r['visit_key']}: {Reason(why).text()}" for r, why in confirmed.refused]}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in formats:
            path = Path(tmp) / f"out.{fmt}"
            if fmt in ("csv", "xlsx"):
                erm_files.write(confirmed.data, profiles.load(st.profile), path, fmt)
            elif fmt == "fhir":
                built = fhir.build(confirmed.data, st)
                fhir.write(built, path)
                out["invalid"] = [f"formulir no. {rid}: {why}" for rid, why in built.invalid.items()]
            elif fmt == "pcare":
                try:
                    export = pcare.build(store, st)
                except BadInput:
                    out["pcare_missing"] = True
                    continue
                csv = pcare.write(export, path, st)
                out["pcare_csv"] = csv.read_bytes()
                out["pcare_registered"], out["pcare_left_out"] = export.registered, export.left_out
                out["pcare_count"] = len(export.payloads)
            out[fmt] = path.read_bytes()
    return out
