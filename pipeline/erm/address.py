"""A patient's village as a Kemendagri code, and the FHIR home address built from what the patient has.

The village is looked for in the patient's own kecamatan first (the kecamatan of a valid NIK, else the
Puskesmas'), then in the rest of the kabupaten with a stricter spelling tolerance; a match outside the
patient's kecamatan is returned with ``elsewhere`` set, so the plan flags it for a person. Province,
city and district codes always come from the village code actually found, never from the Puskesmas.
The address line is the patient's own (the ERM master's, or what was written on paper), never rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

from pipeline import regions
from pipeline.erm import normalize as nz

ADMIN_CODE_URL = "https://fhir.kemkes.go.id/r4/StructureDefinition/administrativeCode"
NEAR_CUTOFF = 0.8  # spelling tolerance inside the patient's kecamatan
FAR_CUTOFF = 0.9  # ... and elsewhere in the kabupaten (a near miss there is more likely another village)


@dataclass(frozen=True)
class Village:
    """An official village: name, dotted code (``35.29.05.2009``), and whether it lies outside the kecamatan."""

    name: str
    code: str
    kecamatan: str
    elsewhere: bool = False

    def codes(self) -> list[tuple[str, str]]:
        """``province``, ``city``, ``district``, ``village`` codes without dots, all from this village's code."""
        parts = self.code.split(".")
        return [("province", parts[0]), ("city", "".join(parts[:2])), ("district", "".join(parts[:3])),
                ("village", "".join(parts))]

    def kecamatan_name(self) -> str:
        """Name of the kecamatan the village belongs to."""
        return regions.codes().get(self.kecamatan, self.kecamatan)


def home_kecamatan(patient: dict[str, str], default: str) -> str:
    """The patient's kecamatan code (dotted): from a valid NIK whose region exists, else ``default``."""
    nik = patient.get("nik", "")
    if nz.valid_nik(nik) and regions.kecamatan_exists(nik[:6]):
        return f"{nik[:2]}.{nik[2:4]}.{nik[4:6]}"
    return default


def find_village(text: str, kecamatan: str) -> Village | None:
    """The official village for a written name: in ``kecamatan`` first, else elsewhere in its kabupaten."""
    key = regions.squash(nz.place_key(text))  # 'DESA'/'KEL.' prefixes dropped
    if not key or kecamatan.count(".") != 2:
        return None
    table = regions.desa(kecamatan[:5])
    local = {k: [e for e in v if e[1].startswith(kecamatan + ".")] for k, v in table.items()}
    local = {k: v for k, v in local.items() if v}
    for pool, cutoff in ((local, NEAR_CUTOFF), (table, FAR_CUTOFF)):
        keys = [key] if key in pool else get_close_matches(key, list(pool), n=1, cutoff=cutoff)
        if keys:
            name, code = pool[keys[0]][0]
            kec = code.rsplit(".", 1)[0]
            return Village(name, code, kec, elsewhere=kec != kecamatan)
    return None


def village_of(patient: dict[str, str], default_kecamatan: str) -> Village | None:
    """The patient's village, looked up from their own kecamatan outwards."""
    if not patient.get("village"):
        return None
    return find_village(patient["village"], home_kecamatan(patient, default_kecamatan))


def fhir_address(patient: dict[str, str], default_kecamatan: str) -> dict[str, Any] | None:
    """Home address with the SATUSEHAT ``administrativeCode`` extension (codes only of a village found)."""
    if not any(patient.get(k) for k in ("address", "village", "rt", "rw")):
        return None
    out: dict[str, Any] = {"use": "home", "country": "ID"}
    line = patient.get("address", "").strip() or patient.get("village", "").strip()
    if line:
        out["line"] = [line]
    village = village_of(patient, default_kecamatan)
    codes = village.codes() if village else []
    if village:
        city = regions.codes().get(village.code.rsplit(".", 2)[0])
        if city:
            out["city"] = city
    codes += [(k, str(int(patient[k]))) for k in ("rt", "rw") if patient.get(k, "").isdigit()]
    if codes:
        out["extension"] = [{"url": ADMIN_CODE_URL, "extension": [{"url": k, "valueCode": v} for k, v in codes]}]
    return out
