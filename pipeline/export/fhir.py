"""Confirmed plan rows -> FHIR R4 resources and transaction Bundles in SATUSEHAT conventions.

Two shapes. The generic one (``--target fhir``, ``erm export --format fhir``): each Bundle carries a
Patient per patient (NIK under ``https://fhir.kemkes.go.id/id/nik``; BPJS card number, No. RM and the
key of a new patient without NIK under *local* systems, no national BPJS system invented) created
conditionally, and an Encounter ``arrived`` pointing at it. The SATUSEHAT one (``--target
satusehat``): Encounters only, ``subject`` = ``Patient/<IHS id>`` found by NIK, ``finished`` with
``statusHistory`` arrived -> in-progress -> finished (arrival time, then the poli's durations),
``participant`` = the practitioner on duty; a patient the national index does not know is created on
its own (:func:`satusehat_patient`) with the full minimum data set. Times are UTC
(``YYYY-MM-DDThh:mm:ss+00:00``); Encounter identifier ``http://sys-ids.kemkes.go.id/encounter/<org>``
= the ERM's registration number where known, else the paper visit key, created conditionally on it.
Every resource is validated with ``fhir.resources`` R4B models before it is written or sent.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from pipeline.erm import address as addresses
from pipeline.erm import normalize as nz
from pipeline.erm.settings import Duty, Settings

NIK_SYSTEM = "https://fhir.kemkes.go.id/id/nik"
ADMIN_CODE_URL = addresses.ADMIN_CODE_URL
PATIENT_PROFILE = "https://fhir.kemkes.go.id/r4/StructureDefinition/Patient"
ENCOUNTER_SYSTEM = "http://sys-ids.kemkes.go.id/encounter/{org}"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
GENDER = {"L": "male", "P": "female"}


@dataclass
class Built:
    """A transaction Bundle and, per record, the entry indexes of its Patient and Encounter."""

    bundle: dict[str, Any]
    entries: dict[int, tuple[int, int]] = field(default_factory=dict)
    invalid: dict[int, str] = field(default_factory=dict)


def validation_errors(resource: dict[str, Any]) -> list[str]:
    """Problems ``fhir.resources`` (R4B) finds in a resource; empty when valid."""
    from fhir.resources.R4B import get_fhir_model_class

    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except ValidationError as e:
        return [f"{resource['resourceType']}.{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
    except (KeyError, ValueError, TypeError) as e:
        return [f"{resource.get('resourceType', '?')}: {e}"]
    return []


def stable_uuid(*parts: str) -> str:
    """``urn:uuid:`` from a name, the same every time (so bundles are reproducible)."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'susulan:' + ':'.join(parts))}"


def _token(system: str, value: str) -> str:
    return urlencode({"identifier": f"{system}|{value}"})


def patient_identity(key: str, p: dict[str, str], st: Settings) -> tuple[list[dict[str, Any]], str]:
    """Identifiers of a patient and the ``ifNoneExist`` query that finds them on the server."""
    ids: list[dict[str, Any]] = []
    conditions = []
    if nz.valid_nik(p.get("nik", "")):
        ids.append({"use": "official", "system": NIK_SYSTEM, "value": p["nik"]})
        conditions.append(_token(NIK_SYSTEM, p["nik"]))
    if p.get("rm_no"):
        ids.append({"use": "usual", "system": st.local_system("rm"), "value": p["rm_no"],
                    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}],
                             "text": "Nomor rekam medis Puskesmas"}})
        conditions.append(_token(st.local_system("rm"), p["rm_no"]))
    if p.get("bpjs_no"):
        ids.append({"use": "secondary", "system": st.local_system("bpjs"), "value": p["bpjs_no"],
                    "type": {"text": "Nomor kartu BPJS Kesehatan (sistem identifier lokal Susulan)"}})
    if not conditions:
        ids.append({"use": "secondary", "system": st.local_system("patient"), "value": key,
                    "type": {"text": "Kunci pasien baru Susulan (tanpa NIK dan No. RM)"}})
        conditions.append(_token(st.local_system("patient"), key))
    return ids, conditions[0]


def address(p: dict[str, str], st: Settings) -> dict[str, Any] | None:
    """Home address with the administrativeCode extension (see :mod:`pipeline.erm.address`)."""
    return addresses.fhir_address(p, st.kecamatan_code)


def patient_resource(key: str, p: dict[str, str], st: Settings) -> tuple[dict[str, Any], str]:
    """A Patient and its ``ifNoneExist`` query."""
    ids, condition = patient_identity(key, p, st)
    res: dict[str, Any] = {"resourceType": "Patient", "identifier": ids, "active": True}
    if p.get("name"):
        res["name"] = [{"use": "official", "text": p["name"]}]
    if p.get("sex") in GENDER:
        res["gender"] = GENDER[p["sex"]]
    if p.get("birth_date"):
        res["birthDate"] = p["birth_date"]
    if p.get("phone"):
        res["telecom"] = [{"system": "phone", "value": p["phone"], "use": "mobile"}]
    addr = address(p, st)
    if addr:
        res["address"] = [addr]
    return res, condition


def visit_start(visit: dict[str, str], st: Settings) -> str:
    """Visit date + arrival time (local) as a UTC instant; the date alone when no time was written."""
    if not visit.get("arrival_time"):
        return visit["visit_date"]
    return utc(_local(visit, st))


def _local(visit: dict[str, str], st: Settings) -> datetime:
    return datetime.fromisoformat(f"{visit['visit_date']}T{visit['arrival_time']}").replace(tzinfo=st.tz)


def utc(moment: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss+00:00``, as SATUSEHAT wants every time."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def visit_times(visit: dict[str, str], st: Settings) -> tuple[str, str, str]:
    """Arrival, start of service and end (UTC) from the arrival time and the poli's durations.

    Raises ``ValueError`` when the arrival time or the poli's durations are missing.
    """
    if not visit.get("arrival_time"):
        raise ValueError("no arrival time")
    duration = st.duration(visit.get("poli", ""))
    if duration is None:
        raise ValueError(f"no durations for poli {visit.get('poli', '')!r} in forms/erm/erm.yaml")
    arrived = _local(visit, st)
    served = arrived + timedelta(minutes=duration.wait)
    return utc(arrived), utc(served), utc(served + timedelta(minutes=duration.service))


def _place_and_complaint(res: dict[str, Any], visit: dict[str, str], st: Settings) -> None:
    """The poli's Location and the complaint (``reasonCode.text``) of an Encounter, where known."""
    loc = st.locations.get(visit.get("poli", ""))
    if loc:
        res["location"] = [{"location": {"reference": f"Location/{loc.id}", "display": loc.display}}]
    if visit.get("complaint"):
        res["reasonCode"] = [{"text": visit["complaint"]}]


def encounter_resource(row: dict[str, Any], patient_ref: str, st: Settings) -> tuple[dict[str, Any], str]:
    """An Encounter for one plan row and its ``ifNoneExist`` query."""
    visit, system = row["visit"], ENCOUNTER_SYSTEM.format(org=st.organization_id)
    start = visit_start(visit, st)
    res: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [{"system": system, "value": row["visit_key"]}],
        "status": "arrived",
        "statusHistory": [{"status": "arrived", "period": {"start": start}}],
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "subject": {"reference": patient_ref, "display": row["patient"].get("name", "")},
        "period": {"start": start},
        "serviceProvider": {"reference": f"Organization/{st.organization_id}"},
    }
    _place_and_complaint(res, visit, st)
    return res, _token(system, row["visit_key"])


def build(rows: list[dict[str, Any]], st: Settings) -> Built:
    """One transaction Bundle for plan rows (``PlanRow.data()`` shape); each patient appears once.

    Rows whose resources fail validation are left out and listed in ``invalid``.
    """
    patients: dict[str, tuple[str, dict[str, Any]]] = {}
    pending: list[tuple[int, str, dict[str, Any]]] = []
    built = Built({"resourceType": "Bundle", "type": "transaction", "entry": []})
    for row in rows:
        key = row["patient_key"]
        try:
            p_res, p_cond = patient_resource(key, row["patient"], st)
            e_res, e_cond = encounter_resource(row, stable_uuid(st.organization_id, "patient", key), st)
        except ValueError as e:  # e.g. an arrival time that is not a time
            built.invalid[row["record_id"]] = f"cannot build resources: {e}"
            continue
        errors = validation_errors(p_res) + validation_errors(e_res)
        if errors:
            built.invalid[row["record_id"]] = "; ".join(errors)
            continue
        if key not in patients:
            patients[key] = (p_cond, p_res)
        pending.append((row["record_id"], row["visit_key"], {
            "fullUrl": stable_uuid(st.organization_id, "encounter", row["visit_key"]), "resource": e_res,
            "request": {"method": "POST", "url": "Encounter", "ifNoneExist": e_cond}}))
    index = {}
    for key, (cond, res) in patients.items():
        index[key] = len(built.bundle["entry"])
        built.bundle["entry"].append({"fullUrl": stable_uuid(st.organization_id, "patient", key), "resource": res,
                                      "request": {"method": "POST", "url": "Patient", "ifNoneExist": cond}})
    keys = {r["record_id"]: r["patient_key"] for r in rows}
    for record_id, _, entry in pending:
        built.entries[record_id] = (index[keys[record_id]], len(built.bundle["entry"]))
        built.bundle["entry"].append(entry)
    if not built.bundle["entry"]:
        del built.bundle["entry"]  # FHIR JSON has no empty arrays
    errors = validation_errors(built.bundle)
    if errors:  # cannot happen when every resource validated; kept as a last guard
        raise ValueError("bundle does not validate: " + "; ".join(errors[:5]))
    return built


def encounter_identifier(row: dict[str, Any], reg_no: str = "") -> str:
    """The Encounter identifier value: the ERM's registration number where known, else the paper visit key."""
    return reg_no or row["visit_key"]


def satusehat_encounter(row: dict[str, Any], patient_id: str, duty: Duty, practitioner_id: str, st: Settings,
                        reg_no: str = "") -> tuple[dict[str, Any], str]:
    """A finished SATUSEHAT Encounter of a past visit, and its ``ifNoneExist`` query.

    Raises ``ValueError`` when the visit has no arrival time or its poli no durations.
    """
    visit, system = row["visit"], ENCOUNTER_SYSTEM.format(org=st.organization_id)
    arrived, served, ended = visit_times(visit, st)
    value = encounter_identifier(row, reg_no)
    res: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [{"system": system, "value": value}],
        "status": "finished",
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "subject": {"reference": f"Patient/{patient_id}", "display": row["patient"].get("name", "")},
        "participant": [{"type": [{"coding": [{"system": PARTICIPATION, "code": "ATND", "display": "attender"}]}],
                         "individual": {"reference": f"Practitioner/{practitioner_id}", "display": duty.name}}],
        "period": {"start": arrived, "end": ended},
        "statusHistory": [{"status": "arrived", "period": {"start": arrived, "end": served}},
                          {"status": "in-progress", "period": {"start": served, "end": ended}},
                          {"status": "finished", "period": {"start": ended, "end": ended}}],
        "serviceProvider": {"reference": f"Organization/{st.organization_id}"},
    }
    _place_and_complaint(res, visit, st)
    return res, _token(system, value)


def satusehat_patient(p: dict[str, str], st: Settings) -> dict[str, Any]:
    """A Patient for SATUSEHAT's patient index: NIK, name, sex, birth date, address with region codes."""
    res: dict[str, Any] = {"resourceType": "Patient", "meta": {"profile": [PATIENT_PROFILE]}, "active": True,
                           "identifier": [{"use": "official", "system": NIK_SYSTEM, "value": p["nik"]}],
                           "name": [{"use": "official", "text": p["name"]}], "gender": GENDER[p["sex"]],
                           "birthDate": p["birth_date"]}
    if p.get("phone"):
        res["telecom"] = [{"system": "phone", "value": p["phone"], "use": "mobile"}]
    addr = address(p, st)
    if addr:
        res["address"] = [addr]
    return res


def encounter_bundle(entries: list[tuple[dict[str, Any], str]], st: Settings) -> dict[str, Any]:
    """A transaction Bundle of Encounters (``(resource, ifNoneExist)``), each created conditionally."""
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": stable_uuid(st.organization_id, "encounter", res["identifier"][0]["value"]), "resource": res,
         "request": {"method": "POST", "url": "Encounter", "ifNoneExist": cond}} for res, cond in entries]}
    errors = validation_errors(bundle)
    if errors:
        raise ValueError("bundle does not validate: " + "; ".join(errors[:5]))
    return bundle


def write(built: Built, out: Path) -> None:
    """Write the Bundle as pretty JSON."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(built.bundle, indent=1, ensure_ascii=False), encoding="utf-8")
