"""A patient master for a generated batch, as a Puskesmas ERM would hold it (for calibration and benchmarks).

The ERM knows the batch's returning patients (``visit_type`` ``lama``) under their No. RM,
and many others: every other No. RM from 1 to :data:`SIZE` belongs to an invented Bluto
patient, so a misread RM digit usually lands on another real patient (as in a clinic whose
numbers are given in sequence). A share of the returning patients is spelt differently in
the ERM than on paper (:data:`VARIANT_SHARE`: a letter dropped or added, MOH written
MUHAMMAD), a share lives at another address now (:data:`MOVED_SHARE`), and new patients
(``baru``) are not in it. Written as the generic ERM profile's patient CSV
(``susulan erm load-patients --profile generic``).
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from susulan_tools.synth import people

SIZE = 30000
"""No. RM of the master run from 1 to this (the generator's returning patients carry numbers in it)."""
VARIANT_SHARE = 0.1
"""Returning patients whose name the ERM spells otherwise than the paper."""
MOVED_SHARE = 0.15
"""Returning patients whose address in the ERM is an old one (another than the paper's)."""
HEADER = ["No. RM", "NIK", "No. BPJS", "Nama Pasien", "Tanggal Lahir", "Jenis Kelamin", "Alamat", "Desa"]
PREFIXES = {"MOH": "MUHAMMAD", "ACH": "ACHMAD", "MUHAMMAD": "MOH", "AHMAD": "ACHMAD", "SITI": "SITTI"}


def variant(rng: np.random.Generator, name: str) -> str:
    """The same person's name as another clerk might have typed it into the ERM."""
    words = name.split()
    if words[0] in PREFIXES:
        return " ".join([PREFIXES[words[0]], *words[1:]])
    i = int(rng.integers(len(name)))
    if name[i] != " " and rng.random() < 0.5:
        return name[:i] + name[i + 1:]
    return name[:i] + "H" + name[i:] if name[i:i + 1] != " " else name + "H"


def _row(rm: str, nik: str, bpjs: str, name: str, birth: str, sex: str, address: str, village: str) -> list[str]:
    y, m, d = birth.split("-")
    return [rm, nik, bpjs, name.title(), f"{d}-{m}-{y}", "Perempuan" if sex == "P" else "Laki-laki",
            address.title(), village]


def write_master(truth: list[dict[str, Any]], path: Path, seed: int = 7, size: int = SIZE) -> dict[str, int]:
    """Write the master for the batch whose ground truth is ``truth``; how many patients of each sort."""
    rng = np.random.default_rng(seed)
    known: dict[str, list[str]] = {}
    variants = moved = 0
    for t in truth:
        f = t["fields"]
        rm = f.get("rm_no", "")
        if f.get("visit_type") != "lama" or not rm or rm in known:
            continue
        name = f["name"]
        if rng.random() < VARIANT_SHARE:
            name, variants = variant(rng, name), variants + 1
        if f.get("birth_date"):
            address = f.get("address", "")
            if rng.random() < MOVED_SHARE:
                address, moved = people.make_address(rng), moved + 1
            known[rm] = _row(rm, f.get("nik", ""), f.get("bpjs_no", ""), name, f["birth_date"], f.get("sex", "L"),
                             address, f.get("village", ""))
        else:  # a queue sheet shows no birth date nor NIK: the ERM knows them, they are invented here
            p = people.make_patient(rng, date(2026, 1, 1))
            known[rm] = _row(rm, p.nik, p.bpjs_no, name, p.birth_date.isoformat(), p.sex, p.address, p.village)
    rows = list(known.values())
    for n in range(1, size + 1):
        rm = f"{n:08d}"
        if rm not in known:
            p = people.make_patient(rng, date(2026, 1, 1))
            rows.append(_row(rm, p.nik, p.bpjs_no, p.name, p.birth_date.isoformat(), p.sex, p.address, p.village))
    nik_seen: set[str] = set()
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(HEADER)
        for r in rows:
            if r[1] and r[1] in nik_seen:  # invented NIKs may repeat: the ERM holds one patient per NIK
                r = [r[0], "", *r[2:]]
            nik_seen.add(r[1])
            w.writerow(r)
    return {"patients": len(rows), "returning": len(known), "spelt_otherwise": variants, "moved": moved}


def load(store: Any, truth: list[dict[str, Any]], work: Path, seed: int = 7) -> str:
    """Write the master for ``truth`` under ``work`` and load it into ``store`` (which checks the batch against it)."""
    from pipeline import reread
    from pipeline.erm import master, profiles

    counts = write_master(truth, work / "pasien.csv", seed)
    report = master.load_patients(store, work / "pasien.csv", profiles.load("generic"), "bench")
    _, again = reread.learn_if_due(store, spot_check=False)  # as `erm load-patients` does, without spot checks
    read_again = f"; {again.text()}" if again is not None else ""
    return (f"patient master: {counts['patients']} patients, {counts['returning']} of them returning patients of "
            f"the batch ({counts['spelt_otherwise']} spelt otherwise); {report.checked}{read_again}")
