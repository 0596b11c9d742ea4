"""What each target needs of a visit, and what a planned visit lacks ("data kurang"), as reason codes.

SATUSEHAT: a valid NIK to find the patient in the national index; for a patient Susulan would have
to create there, also sex, birth date and a village found in the region codes; an arrival time, the
poli's durations and the practitioner on duty (to send a finished Encounter). P-Care: a BPJS visit
needs a 13-digit card number and the poli's kdPoli. A gap in the record can be completed in the
review app; a gap in the settings (``settings`` true) is fixed in ``forms/erm/erm.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pipeline.erm import address
from pipeline.erm import normalize as nz
from pipeline.erm.settings import Settings

RECORD_FIELDS = ("visit_date", "name", "nik", "sex", "birth_date", "village", "arrival_time", "bpjs_no", "poli")


@dataclass(frozen=True)
class Gap:
    """One thing a target needs and the visit lacks: ``field`` of the record, or a setting."""

    target: str
    field: str
    detail: str = ""

    @property
    def settings(self) -> bool:
        """Fixed in ``forms/erm/erm.yaml``, not in the record."""
        return self.field not in RECORD_FIELDS

    def code(self) -> str:
        """Stable text key: ``satusehat:nik``, ``pcare:kd_poli:gigi``."""
        return ":".join(x for x in (self.target, self.field, self.detail) if x)


def nik_of(patient: dict[str, str], paper: dict[str, str]) -> str:
    """The NIK used to find a patient: the ERM master's when valid, else the one written on paper."""
    for nik in (patient.get("nik", ""), paper.get("nik", "")):
        if nz.valid_nik(nik):
            return nik
    return ""


def bpjs_of(patient: dict[str, str], paper: dict[str, str]) -> str:
    """The BPJS card number: the one written on paper when valid, else the ERM master's."""
    for number in (paper.get("bpjs_no", ""), patient.get("bpjs_no", "")):
        if nz.valid_bpjs(number):
            return number
    return ""


def new_patient_gaps(patient: dict[str, str], st: Settings) -> list[str]:
    """Fields SATUSEHAT needs to create a patient that are missing (NIK, name, sex, birth date, village code)."""
    missing = []
    if not nz.valid_nik(patient.get("nik", "")):
        missing.append("nik")
    for f in ("name", "birth_date"):
        if not patient.get(f):
            missing.append(f)
    if patient.get("sex") not in ("L", "P"):
        missing.append("sex")
    if address.village_of(patient, st.kecamatan_code) is None:
        missing.append("village")
    return missing


def satusehat_gaps(patient: dict[str, str], paper: dict[str, str], visit: dict[str, str], new: bool,
                   st: Settings) -> list[Gap]:
    """What a visit lacks to be sent to SATUSEHAT as a finished Encounter."""
    gaps = []
    if new:
        merged = {**patient, "nik": nik_of(patient, paper)}
        gaps += [Gap("satusehat", f) for f in new_patient_gaps(merged, st)]
    elif not nik_of(patient, paper):
        gaps.append(Gap("satusehat", "nik"))
    if not visit.get("arrival_time"):
        gaps.append(Gap("satusehat", "arrival_time"))
    poli = visit.get("poli", "")
    if poli and st.duration(poli) is None:
        gaps.append(Gap("satusehat", "duration", poli))
    if poli and visit.get("visit_date"):
        try:
            day = date.fromisoformat(visit["visit_date"])
        except ValueError:
            day = None
        if day and st.duty(poli, day) is None:
            gaps.append(Gap("satusehat", "practitioner", f"{poli}/{visit['visit_date']}"))
    return gaps


def pcare_gaps(patient: dict[str, str], paper: dict[str, str], visit: dict[str, str], st: Settings) -> list[Gap]:
    """What a BPJS visit lacks for a P-Care pendaftaran (nothing for a visit paid otherwise)."""
    if visit.get("payment") != "bpjs":
        return []
    gaps = []
    if not bpjs_of(patient, paper):
        gaps.append(Gap("pcare", "bpjs_no"))
    poli = visit.get("poli", "")
    if poli and poli not in st.pcare.kd_poli:
        gaps.append(Gap("pcare", "kd_poli", poli))
    if not st.pcare.provider_code:
        gaps.append(Gap("pcare", "provider_code"))
    return gaps


def gaps(patient: dict[str, str], paper: dict[str, str], visit: dict[str, str], new: bool, st: Settings,
         targets: tuple[str, ...] | None = None) -> list[Gap]:
    """Every gap of a visit for the targets the settings name (or ``targets``)."""
    wanted = st.targets if targets is None else targets
    out: list[Gap] = []
    if "satusehat" in wanted:
        out += satusehat_gaps(patient, paper, visit, new, st)
    if "pcare" in wanted:
        out += pcare_gaps(patient, paper, visit, st)
    return out
