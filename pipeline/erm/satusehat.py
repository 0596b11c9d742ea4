"""``--target satusehat``: find each patient in the national index by NIK, send finished Encounters only.

For every row: the patient's NIK (the ERM master's, else the paper's) is looked up with
``GET Patient?identifier=https://fhir.kemkes.go.id/id/nik|<NIK>``; the id found (the IHS number) is
kept per server in ``erm_identities`` and used as ``Encounter.subject``; a found patient is never
sent or changed. A patient the index does not know is created on its own (``POST Patient``, with
``If-None-Exist`` on the NIK) when the full minimum data set is there (NIK, name, sex, birth date,
address with region codes); otherwise the visit is held back as "data kurang", never sent half-filled.
The practitioner on duty (``satusehat.practitioners`` in ``forms/erm/erm.yaml``) is found the same
way by NIK and never created. Rows in doubt are settled with ``GET Encounter?subject=Patient/<id>``
(the search SATUSEHAT documents) and their identifier.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from pipeline.erm import ledger, requirements
from pipeline.erm import plan as planning
from pipeline.erm.client import Answer, NotFhir, outcome_text
from pipeline.erm.reasons import render
from pipeline.erm.sending import Batch, PushReport, entry_ref
from pipeline.erm.settings import Settings
from pipeline.export import fhir
from pipeline.store import Store


class Held(Exception):
    """A row cannot be sent now; the message says why (in English, for the push summary)."""


def patient_data(row: dict[str, Any]) -> dict[str, str]:
    """The patient as the row knows them, with the NIK used to find them."""
    return {**row["patient"], "nik": requirements.nik_of(row["patient"], row.get("paper") or {})}


def created_id(answer: Answer) -> str:
    """The id a server gave a created patient: a FHIR Patient's id, SATUSEHAT's ``data.patient_id``, or Location."""
    body = answer.body
    if body.get("resourceType") == "Patient" and body.get("id"):
        return str(body["id"])
    data = body["data"] if isinstance(body.get("data"), dict) else {}
    if body.get("success") is True and data.get("patient_id"):
        return str(data["patient_id"])
    loc = answer.headers.get("location", "").split("/_history")[0].rstrip("/")
    if "/Patient/" in loc:
        return loc.rsplit("/", 1)[-1]
    return ""


class SatusehatSender(Batch):
    """Resolves patients and practitioners by NIK, holds back what is incomplete, sends Encounter Bundles."""

    def __init__(self, store: Store, client: Any, target: str, st: Settings, report: PushReport) -> None:
        super().__init__(store, client, target, st, report)
        self.ids = {kind: ledger.identities(store, target, kind) for kind in ("Patient", "Practitioner")}
        self.regs: dict[int, str] = {}

    # --- identities ------------------------------------------------------------------------------

    def _lookup(self, kind: str, nik: str) -> str:
        """The server id of a NIK (cached per server); ``""`` if the server has none; several -> held."""
        known = self.ids[kind].get(nik)
        if known:
            return known
        found = self.client.find(kind, fhir.NIK_SYSTEM, nik)
        if len(found) > 1:
            raise Held(f"the server has {len(found)} {kind} resources with NIK {nik}; settle it there first")
        if not found:
            return ""
        ref = str(found[0].get("id") or "")
        if not ref:
            raise NotFhir(f"search {kind}: a {kind} without an id")
        self._keep(kind, nik, ref, "found")
        if kind == "Patient":
            self.report.patients_found += 1
        return ref

    def _keep(self, kind: str, nik: str, ref: str, source: str) -> None:
        ledger.remember(self.store, self.target, kind, nik, ref, source)
        self.ids[kind][nik] = ref

    def patient(self, row: dict[str, Any]) -> str:
        """The IHS id of the row's patient: found by NIK, or created with the full minimum data set."""
        p = patient_data(row)
        if not p["nik"]:
            raise Held(render("incomplete", {"gaps": ["satusehat:nik"]}, "en"))
        ref = self._lookup("Patient", p["nik"])
        if ref:
            return ref
        missing = requirements.new_patient_gaps(p, self.st)
        if missing:
            raise Held(render("incomplete", {"gaps": [f"satusehat:{f}" for f in missing]}, "en")
                       + " to create the patient (not found by NIK)")
        resource = fhir.satusehat_patient(p, self.st)
        errors = fhir.validation_errors(resource)
        if errors:
            raise Held("patient does not validate: " + "; ".join(errors))
        answer = self.client.create(resource, f"identifier={fhir.NIK_SYSTEM}|{p['nik']}")
        if not answer.ok:
            if not answer.fhir:
                raise NotFhir(f"POST Patient: {answer.describe()}")
            raise Held(f"the server refused to create the patient: {outcome_text(answer.body, answer.status)}")
        ref = created_id(answer)
        if not ref:
            raise NotFhir(f"POST Patient: the answer names no patient id: {answer.describe()}")
        self._keep("Patient", p["nik"], ref, "created")
        self.report.patients_created += 1
        return ref

    def practitioner(self, row: dict[str, Any]) -> tuple[Any, str]:
        """The practitioner on duty at the row's poli that day, and their id on the server."""
        visit = row["visit"]
        duty = self.st.duty(visit.get("poli", ""), date.fromisoformat(visit["visit_date"]))
        if duty is None:
            raise Held(f"no practitioner for poli {visit.get('poli', '')} on {visit['visit_date']} in "
                       "forms/erm/erm.yaml (satusehat.practitioners)")
        ref = self._lookup("Practitioner", duty.nik)
        if not ref:
            raise Held(f"practitioner {duty.name or duty.nik} (NIK {duty.nik}) is not on the server; "
                       "check the NIK in forms/erm/erm.yaml")
        return duty, ref

    # --- the push steps --------------------------------------------------------------------------

    def settle(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows in doubt whose Encounter the server has (by subject and identifier) become accepted."""
        self.regs = planning.registration_numbers(self.store, rows)
        system = fhir.ENCOUNTER_SYSTEM.format(org=self.st.organization_id)
        left = []
        for row in rows:
            pid = self.ids["Patient"].get(patient_data(row)["nik"], "")
            if row["ledger_status"] not in ledger.IN_DOUBT or not pid:
                left.append(row)
                continue
            wanted = {row["visit_key"], self.regs.get(row["record_id"], "")} - {""}
            found = [e for e in self.client.search("Encounter", {"subject": f"Patient/{pid}"})
                     if any(i.get("system") == system and i.get("value") in wanted for i in e.get("identifier") or [])]
            if found:
                self.found(row, f"Patient/{pid}", f"Encounter/{found[0].get('id', '')}")
            else:
                left.append(row)
        return left

    def send(self, rows: list[dict[str, Any]], batch: str) -> None:
        """Resolve, hold back what cannot be sent, and send the rest as one Encounter Bundle."""
        ready: list[tuple[dict[str, Any], dict[str, Any], str, str]] = []
        for row in rows:
            try:
                pid = self.patient(row)
                duty, practitioner = self.practitioner(row)
                enc, cond = fhir.satusehat_encounter(row, pid, duty, practitioner, self.st,
                                                     self.regs.get(row["record_id"], ""))
            except (Held, ValueError) as e:
                self.report.held.append(f"{row['visit_key']} (record {row['record_id']}): {e}")
                continue
            errors = fhir.validation_errors(enc)
            if errors:
                self.reject(row, "not sent, invalid FHIR: " + "; ".join(errors))
                continue
            ready.append((row, enc, cond, pid))
        if ready:
            self._post(ready, batch)

    def _post(self, ready: list[tuple[dict[str, Any], dict[str, Any], str, str]], batch: str) -> None:
        rows = [r for r, _, _, _ in ready]
        answer = self.transact(rows, fhir.encounter_bundle([(e, c) for _, e, c, _ in ready], self.st), batch)
        if not answer.ok:
            if len(ready) > 1:
                for one in ready:
                    self._post([one], batch)
            else:
                self.reject(rows[0], outcome_text(answer.body, answer.status))
            return
        entries = answer.body.get("entry") or []
        e_refs, notes = {}, []
        for (row, _, _, _), entry in zip(ready, entries, strict=True):
            ref, status = entry_ref(entry)
            if not ref.startswith("Encounter/"):
                self.mark(rows, "failed", "in doubt: the answer names no Encounter id for every entry")
                raise NotFhir(f"POST {self.client.base}: the transaction-response names no Encounter id")
            e_refs[row["record_id"]] = ref
            notes.append("Encounter " + ("created" if status.startswith("201") else
                                         "already on the server (not duplicated)"))
        self.mark(rows, "accepted", notes, patient_refs={r["record_id"]: f"Patient/{pid}" for r, _, _, pid in ready},
                  encounter_refs=e_refs)
        self.report.accepted += len(rows)


def dry_run_bundles(store: Store, todo: list[dict[str, Any]], st: Settings, size: int, out_dir: Path,
                    report: PushReport) -> None:
    """Write the Encounter Bundles a push would send, patients and practitioners as conditional references.

    Nothing is asked of a server: ``subject`` reads ``Patient?identifier=<NIK system>|<NIK>`` (resolved to the
    IHS id at push time), and a patient that would have to be created is only named in the summary.
    """
    regs = planning.registration_numbers(store, todo)
    ready = []
    for row in todo:
        p = patient_data(row)
        visit = row["visit"]
        duty = st.duty(visit.get("poli", ""), date.fromisoformat(visit["visit_date"]))
        try:
            if not p["nik"] or duty is None:
                raise ValueError("no NIK" if not p["nik"] else f"no practitioner for poli {visit.get('poli', '')}")
            enc, cond = fhir.satusehat_encounter(row, "X", duty, "X", st, regs.get(row["record_id"], ""))
        except ValueError as e:
            report.held.append(f"{row['visit_key']} (record {row['record_id']}): {e}")
            continue
        enc["subject"]["reference"] = f"Patient?identifier={fhir.NIK_SYSTEM}|{p['nik']}"
        enc["participant"][0]["individual"]["reference"] = f"Practitioner?identifier={fhir.NIK_SYSTEM}|{duty.nik}"
        ready.append((enc, cond))
    for n, i in enumerate(range(0, len(ready), size), start=1):
        path = out_dir / f"bundle-{n:04d}.json"
        fhir.write(fhir.Built(fhir.encounter_bundle(ready[i:i + size], st)), path)
        report.files.append(path)
    report.planned = len(ready)
