"""A generated ERM world: patient master, ERM visits and reviewed paper records with planted cases.

Every planted record has an expected plan action; ``World.expected`` maps visit keys to it.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from pipeline import regions
from pipeline.erm import master, profiles
from pipeline.erm.plan import visit_key
from pipeline.models import PageId, PageResult, Reading
from pipeline.store import Store

from .fhir_server import FaultProxy, FhirServer

KINDS = {"visit_date": "date", "birth_date": "date", "arrival_time": "time", "queue_no": "digits", "rm_no": "digits",
         "nik": "digits", "bpjs_no": "digits", "rt": "digits", "rw": "digits", "phone": "digits",
         "visit_type": "choice", "sex": "choice", "poli": "choice", "payment": "choice", "complaint": "text"}
D1, D2 = "2026-01-05", "2026-01-06"
FIRST = {"L": ["MOH HOLILI", "ABD RAHMAN", "SUPANDI", "ACH FAUZI", "HAMDI", "MISNADI", "SAMSUL ARIFIN", "RIYADI",
               "TOHA", "BAHRI", "ZAINAL ABIDIN", "JUMALI"],
         "P": ["SITI AMINAH", "SUHARTINI", "HOLIFAH", "MAISAROH", "NUR HASANAH", "FATIMAH", "HALIMAH", "ZAINAB",
               "NAYLA", "AISYAH", "ROHANI", "SAKINAH"]}
LAST = ["HIDAYAT", "PRATAMA", "SAPUTRA", "RAHMAWATI", "LESTARI", "MAULANA", "AKBAR", "NINGSIH", "WAHYUDI",
        "KURNIAWAN", "HASANUDDIN", "SUBAGYO"]


def villages() -> list[str]:
    """The desa of Kecamatan Bluto (official upper-case names)."""
    return sorted(n for entries in regions.desa("35.29.05").values() for n, _ in entries)


def nik_for(sex: str, birth: str, seq: int) -> str:
    """A valid Bluto NIK for a birth date (day + 40 for women)."""
    y, m, d = birth.split("-")
    return f"352905{int(d) + (40 if sex == 'P' else 0):02d}{m}{y[2:]}{seq:04d}"


def make_master(n: int, seed: int = 7) -> list[dict[str, str]]:
    """``n`` distinct invented patients in Susulan's export form."""
    rng = random.Random(seed)
    vill = villages()
    names: set[str] = set()
    out = []
    while len(out) < n:
        sex = rng.choice("LP")
        name = f"{rng.choice(FIRST[sex])} {rng.choice(LAST)}"
        if name in names:
            continue
        names.add(name)
        birth = f"{rng.randint(1945, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        i = len(out)
        out.append({"rm_no": f"{i + 1:08d}", "nik": nik_for(sex, birth, 1000 + i),
                    "bpjs_no": f"0001{rng.randrange(10**9):09d}" if i % 2 else "", "name": name,
                    "birth_date": birth, "sex": sex, "address": f"DUSUN {rng.choice(['TIMUR', 'BARAT', 'LAOK'])}",
                    "rt": str(rng.randint(1, 9)), "rw": str(rng.randint(1, 5)), "village": rng.choice(vill),
                    "phone": f"08{rng.randrange(10**10):010d}"})
    return out


def write_master_csv(rows: list[dict[str, str]], path: Path) -> Path:
    """The master as the generic ERM exports it (Indonesian headers, dd-mm-YYYY, Laki-laki/Perempuan)."""
    headers = {"rm_no": "No. RM", "nik": "NIK", "bpjs_no": "No. BPJS", "name": "Nama Pasien",
               "birth_date": "Tanggal Lahir", "sex": "Jenis Kelamin", "address": "Alamat", "rt": "RT", "rw": "RW",
               "village": "Desa/Kelurahan", "phone": "No. HP"}
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(headers.values())
        for r in rows:
            y, m, d = r["birth_date"].split("-")
            w.writerow([f"{d}-{m}-{y}" if k == "birth_date" else
                        ({"L": "Laki-laki", "P": "Perempuan"}[r[k]] if k == "sex" else r[k].title() if k == "name"
                         else r[k]) for k in headers])
    return path


def write_visits_xlsx(rows: list[dict[str, str]], path: Path) -> Path:
    """ERM visits as an XLSX export."""
    frame = pd.DataFrame([{"Tanggal Kunjungan": "-".join(reversed(r["visit_date"].split("-"))),
                           "No. RM": r.get("rm_no", ""), "Nama Pasien": r.get("name", ""),
                           "Tanggal Lahir": "-".join(reversed(r["birth_date"].split("-"))) if r.get("birth_date")
                           else "", "Poli": f"Poli {r['poli'].upper() if r['poli'] in ('kia', 'mtbs') else r['poli']}"}
                          for r in rows], dtype=str)
    frame.to_excel(path, index=False)
    return path


class PaperBuilder:
    """Writes recognised pages straight into a store (no scans), then approves their records."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batch = store.start_batch("tests/erm")
        self.serial = {"pendaftaran": 0, "antrean": 0}

    def page(self, form_id: str, rows: list[dict[str, str]], page_fields: dict[str, str] | None = None,
             approve: bool = True) -> list[tuple[int, str]]:
        """One page; returns ``(record id, visit key)`` per row."""
        self.serial[form_id] += 1
        serial = self.serial[form_id]
        page_key = f"{form_id}-{serial:06d}"
        file_id = self.store.add_file(f"sha-{page_key}", f"{page_key}.pdf", f"/x/{page_key}.pdf", 1, self.batch)
        page_id = self.store.ensure_pages(file_id, 1)[0]["id"]
        readings = []
        single = form_id == "pendaftaran"
        for name, value in (page_fields or {}).items():
            readings.append(Reading(name, None, KINDS.get(name, "letters"), value, 0.99, "auto", "test"))
        for i, row in enumerate(rows):
            for name, value in row.items():
                readings.append(Reading(name, None if single else i, KINDS.get(name, "letters"), value, 0.99,
                                        "auto", "test"))
        result = PageResult("done", ident=PageId(form_id, 1, serial), readings=tuple(readings),
                            records=tuple(range(len(rows))))
        self.store.save_page(page_id, result, page_key, None)
        out = []
        for rid, i in zip(self.store.records_of_page(page_id), range(len(rows)), strict=True):
            if approve:
                self.store.set_record_state(rid, "approved", "tester")
            out.append((rid, visit_key(page_key, i)))
        return out


def registration(p: dict[str, str], day: str, queue: int, poli: str = "umum", visit_type: str = "lama",
                 **over: str) -> dict[str, str]:
    """A filled pendaftaran form for patient ``p``."""
    row = {"visit_date": day, "queue_no": f"{queue:03d}", "arrival_time": f"{7 + queue % 5:02d}:{queue % 60:02d}",
           "visit_type": visit_type, "rm_no": "", "nik": p.get("nik", ""), "bpjs_no": p.get("bpjs_no", ""),
           "name": p["name"], "sex": p["sex"], "birth_date": p["birth_date"], "address": p.get("address", ""),
           "rt": p.get("rt", ""), "rw": p.get("rw", ""), "village": p["village"], "phone": p.get("phone", ""),
           "poli": poli, "payment": "bpjs" if p.get("bpjs_no") else "umum", "complaint": "DEMAM DAN BATUK"}
    row.update(over)
    return row


def queue_row(name: str, queue: int, rm_no: str = "", poli: str = "umum", visit_type: str = "lama") -> dict[str, str]:
    """A row of the antrean sheet."""
    return {"queue_no": f"{queue:03d}", "arrival_time": f"08:{queue % 60:02d}", "name": name, "rm_no": rm_no,
            "visit_type": visit_type, "poli": poli, "payment": "umum"}


@dataclass
class World:
    """The generated store and files, and what the plan must say."""

    data_dir: Path
    master_csv: Path
    visits_xlsx: Path
    expected: dict[str, str] = field(default_factory=dict)  # visit key -> action
    outcome: dict[str, str] = field(default_factory=dict)  # visit key -> match outcome
    ids: dict[str, int] = field(default_factory=dict)  # label -> record id
    keys: dict[str, str] = field(default_factory=dict)  # label -> visit key
    twins: tuple[str, str] = ("", "")  # master keys of the ambiguous twins
    unapproved: int = 0


def build_world(tmp: Path, n_master: int = 150) -> World:
    """Master, visits and 19 paper records (18 approved) with planted duplicates, typos, twins and gaps."""
    people = make_master(n_master)
    m = people
    twin_a = {**m[10], "name": "MOH HASAN", "sex": "L", "bpjs_no": "",
              "nik": nik_for("L", m[10]["birth_date"], 1010)}  # m[10]'s own NIK: the master holds it once
    twin_b = {**twin_a, "name": "MOH HUSEN", "rm_no": f"{n_master + 1:08d}", "phone": "", "nik": ""}
    dup = {**m[11], "rm_no": f"{n_master + 2:08d}"}  # the same person registered twice in the ERM
    rows = [*people[:10], twin_a, *people[11:], twin_b, dup]
    world = World(tmp / "data", write_master_csv(rows, tmp / "master.csv"), tmp / "visits.xlsx",
                  twins=(f"rm:{int(twin_a['rm_no'])}", f"rm:{int(twin_b['rm_no'])}"))
    new_nik = {"name": "NAYLA PUTRI", "sex": "P", "birth_date": "2019-03-14", "village": "LOBUK",
               "nik": nik_for("P", "2019-03-14", 9001), "address": "DUSUN LAOK", "rt": "2", "rw": "1"}
    new_plain = {"name": "BAGUS SETIAWAN", "sex": "L", "birth_date": "2025-11-02", "village": "GINGGING"}
    hand = {"name": "RUMLAH WATI", "sex": "P", "birth_date": "1971-06-30", "village": "KAPEDI"}
    lama = {"name": "SUKARDI JAYA", "sex": "L", "birth_date": "1958-01-09", "village": "ERRABU",
            "nik": nik_for("L", "1958-01-09", 9002)}
    write_visits_xlsx([{"visit_date": D1, "rm_no": m[6]["rm_no"], "name": m[6]["name"], "poli": "umum"},
                       {"visit_date": D1, "rm_no": m[7]["rm_no"], "name": m[7]["name"], "poli": "gigi"},
                       {"visit_date": D2, "name": hand["name"], "birth_date": hand["birth_date"], "poli": "kia"}],
                      world.visits_xlsx)
    with Store.open(world.data_dir) as store:
        b = PaperBuilder(store)
        plan = [
            ("linked_nik", registration(m[0], D1, 1), "insert", "linked"),
            ("linked_bpjs", registration({**m[1], "nik": ""}, D1, 2), "insert", "linked"),
            ("fuzzy_typo", registration({**m[2], "nik": "", "bpjs_no": "",
                                         "name": m[2]["name"][:-2] + "X" + m[2]["name"][-1]}, D1, 3),
             "insert", "linked"),
            ("nik_misread", registration({**m[3], "bpjs_no": "", "nik": m[3]["nik"][:-1] + "9"}, D1, 4),
             "insert", "linked"),
            ("twins", registration({**twin_a, "name": "MOH HUSAN", "nik": ""}, D1, 5), "conflict", "ambiguous"),
            ("master_dup", registration({**m[11], "bpjs_no": ""}, D1, 6), "conflict", "ambiguous"),
            ("new_nik_d1", registration(new_nik, D1, 7, poli="mtbs", visit_type="baru"), "insert", "new"),
            ("new_nik_d2", registration(new_nik, D2, 3, poli="mtbs", visit_type="baru"), "insert", "new"),
            ("new_plain", registration(new_plain, D1, 9, poli="kia", visit_type="baru"), "incomplete", "new"),
            ("hand_entered", registration(hand, D2, 4, poli="kia", visit_type="baru"), "skip", "new"),
            ("lama_unknown", registration(lama, D2, 5, visit_type="lama"), "insert", "new"),
            ("paper_dup", registration(m[0], D1, 12), "skip", "linked"),
            ("bpjs_no_card", registration({**m[4], "bpjs_no": ""}, D2, 6, payment="bpjs"), "incomplete", "linked"),
        ]
        for label, row, action, outcome in plan:
            (rid, key), = b.page("pendaftaran", [row])
            world.ids[label], world.keys[label] = rid, key
            world.expected[key], world.outcome[key] = action, outcome
        sheet = [("queue_twin", queue_row(new_plain["name"], 9, poli="kia", visit_type="baru"), "skip", "new"),
                 ("rm_only", queue_row(m[5]["name"], 10, rm_no=m[5]["rm_no"]), "insert", "linked"),
                 ("in_erm", queue_row(m[6]["name"], 11, rm_no=m[6]["rm_no"]), "skip", "linked"),
                 ("erm_other_poli", queue_row(m[7]["name"], 13, rm_no=m[7]["rm_no"]), "conflict", "linked"),
                 ("name_only", queue_row("SUMARNI", 14, visit_type="baru"), "incomplete", "new")]
        for (label, _, action, outcome), (rid, key) in zip(sheet, b.page("antrean", [r for _, r, _, _ in sheet],
                                                                          {"visit_date": D1}), strict=True):
            world.ids[label], world.keys[label] = rid, key
            world.expected[key], world.outcome[key] = action, outcome
        (rid, _), = b.page("pendaftaran", [registration(m[8], D2, 20)], approve=False)
        world.unapproved = rid
        profile = profiles.load("generic")
        master.load_patients(store, world.master_csv, profile, "tester")
        master.load_visits(store, world.visits_xlsx, profile, "tester")
    return world


@pytest.fixture
def world(tmp_path: Path, db: str | None) -> World:
    """A fresh generated world."""
    return build_world(tmp_path)


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FhirServer]:
    """A sekmet-fhir process; ``indirect`` parametrisation gives its tokens' lifetime (0: no auth)."""
    s = FhirServer(tmp_path / "sekmet", token_lifetime=getattr(request, "param", 0))
    yield s
    s.stop()


@pytest.fixture
def proxy(server: FhirServer) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of ``server``."""
    p = FaultProxy(server.base)
    yield p
    p.stop()
