"""Confirmed plan rows -> FHIR R4 transaction Bundle following SATUSEHAT conventions.

Patient: NIK under ``https://fhir.kemkes.go.id/id/nik``; BPJS card number, No. RM and the key of a
new patient without NIK under *local* systems (``forms/erm/erm.yaml`` ``local_identifier_base``; no
national BPJS system is invented); address with the SATUSEHAT ``administrativeCode`` extension.
Patients are created conditionally (``ifNoneExist`` on NIK, else No. RM, else the local key).
Encounter: class ``AMB``, status ``arrived`` with ``statusHistory``, period start = visit date +
arrival time (local time zone) in UTC, identifier ``http://sys-ids.kemkes.go.id/encounter/<org>``
= the paper visit key, created conditionally on that identifier, so re-sending never duplicates.
Every resource is validated with ``fhir.resources`` R4B models before it is written.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from pipeline import regions
from pipeline.erm import normalize as nz
from pipeline.erm.settings import Settings

NIK_SYSTEM = "https://fhir.kemkes.go.id/id/nik"
ADMIN_CODE_URL = "https://fhir.kemkes.go.id/r4/StructureDefinition/administrativeCode"
ENCOUNTER_SYSTEM = "http://sys-ids.kemkes.go.id/encounter/{org}"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
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
    """Home address with the administrativeCode extension (Kemendagri codes without dots)."""
    if not (p.get("address") or p.get("village") or p.get("rt") or p.get("rw")):
        return None
    kec = st.kecamatan_code
    codes: list[tuple[str, str]] = []
    if kec.count(".") == 2:
        codes = [("province", kec[:2]), ("city", kec[:5].replace(".", "")), ("district", kec.replace(".", ""))]
    found = regions.canonical_village(p["village"], prefix=kec[:5] or regions.SUMENEP, near=kec or None) \
        if p.get("village") else None
    if found:
        codes.append(("village", found[1].replace(".", "")))
    codes += [(k, str(int(p[k]))) for k in ("rt", "rw") if p.get(k, "").isdigit()]
    out: dict[str, Any] = {"use": "home", "country": "ID"}
    line = " ".join(x for x in (p.get("address", ""), f"DESA {found[0]}" if found else p.get("village", "")) if x)
    if line:
        out["line"] = [line]
    city = regions.codes().get(kec[:5]) if kec else None
    if city:
        out["city"] = city
    if codes:
        out["extension"] = [{"url": ADMIN_CODE_URL, "extension": [{"url": k, "valueCode": v} for k, v in codes]}]
    return out


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
    local = datetime.fromisoformat(f"{visit['visit_date']}T{visit['arrival_time']}").replace(tzinfo=st.tz)
    return local.astimezone(UTC).isoformat(timespec="seconds")


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
    loc = st.locations.get(visit.get("poli", ""))
    if loc:
        res["location"] = [{"location": {"reference": f"Location/{loc.id}", "display": loc.display}}]
    if visit.get("complaint"):
        res["reasonCode"] = [{"text": visit["complaint"]}]
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


def write(built: Built, out: Path) -> None:
    """Write the Bundle as pretty JSON."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(built.bundle, indent=1, ensure_ascii=False), encoding="utf-8")
