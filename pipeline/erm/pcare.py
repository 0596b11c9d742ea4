"""BPJS P-Care catch-up: pendaftaran payloads for the outage's BPJS visits, and P-Care's own registrations.

Every BPJS visit during an outage must still be registered in P-Care. ``susulan erm export --format
pcare`` writes one pendaftaran payload per visit as JSON lines (the body P-Care's ``POST
pendaftaran`` takes: ``kdProviderPeserta``, ``tglDaftar`` dd-mm-yyyy, ``noKartu``, ``kdPoli``,
``keluhan``, ``kunjSakit``, vital signs 0 because paper does not carry them, ``rujukBalik`` 0,
``kdTkp`` "10" for outpatients) and a CSV a clerk can key in. Visits P-Care already has are left
out: ``susulan erm load-pcare FILE`` reads P-Care's registrations by date (the JSON of ``GET
pendaftaran/tglDaftar/{dd-mm-yyyy}/{start}/{limit}``, or a CSV/XLSX listing card number, date and
poli). Susulan does not call the P-Care API itself: its request signing cannot be tested here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.erm import master, requirements
from pipeline.erm import plan as planning
from pipeline.erm.master import LoadError, LoadReport
from pipeline.erm.profiles import TableSpec, header_key
from pipeline.erm.reasons import Reason
from pipeline.erm.settings import Settings
from pipeline.errors import BadInput
from pipeline.store import Store

PAYLOAD_FIELDS = ("kdProviderPeserta", "tglDaftar", "noKartu", "kdPoli", "keluhan", "kunjSakit", "sistole",
                  "diastole", "beratBadan", "tinggiBadan", "respRate", "lingkarPerut", "heartRate", "rujukBalik",
                  "kdTkp")
VITALS = ("sistole", "diastole", "beratBadan", "tinggiBadan", "respRate", "lingkarPerut", "heartRate")
TKP = {"10": "RJTP (rawat jalan)", "20": "RITP (rawat inap)", "50": "promotif"}
REGISTRATION_FIELDS = ("tgl_daftar", "no_kartu", "kd_poli", "no_urut")
SPEC = TableSpec(
    columns={"no_kartu": ("noKartu", "No. Kartu", "No Kartu", "Nomor Kartu", "No. BPJS", "noka", "No. Peserta"),
             "tgl_daftar": ("tglDaftar", "tgldaftar", "Tgl Daftar", "Tanggal Daftar", "Tanggal", "Tgl. Daftar"),
             "kd_poli": ("kdPoli", "Kode Poli", "Kd Poli", "Poli"),
             "no_urut": ("noUrut", "No. Urut", "No Urut", "Nomor Urut")},
    required=("no_kartu", "tgl_daftar"),
    date_formats=("%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%d"),
    codes={})
CSV_COLUMNS = ("Tanggal Daftar", "No. Kartu", "Nama", "Poli", "Kode Poli", "Keluhan", "Kunjungan Sakit",
               "Jenis Perawatan", "ID Susulan")


def payload(row: dict[str, Any], st: Settings) -> dict[str, Any]:
    """The pendaftaran body for one confirmed visit (``PlanRow.data()`` shape)."""
    visit = row["visit"]
    poli = visit.get("poli", "")
    return {
        "kdProviderPeserta": st.pcare.provider_code,
        "tglDaftar": date.fromisoformat(visit["visit_date"]).strftime("%d-%m-%Y"),
        "noKartu": requirements.bpjs_of(row["patient"], row.get("paper") or {}),
        "kdPoli": st.pcare.kd_poli[poli],
        "keluhan": visit.get("complaint") or None,
        "kunjSakit": poli not in st.pcare.healthy_polis,
        **{v: 0 for v in VITALS},
        "rujukBalik": 0,
        "kdTkp": st.pcare.kd_tkp,
    }


def problems(p: dict[str, Any]) -> list[str]:
    """What is wrong with a payload against P-Care's documented pendaftaran fields (empty when nothing)."""
    out = []
    if tuple(p) != PAYLOAD_FIELDS:
        out.append(f"fields are {', '.join(p)}, not {', '.join(PAYLOAD_FIELDS)}")
    if not (isinstance(p.get("kdProviderPeserta"), str) and p["kdProviderPeserta"]):
        out.append("kdProviderPeserta is empty")
    try:
        datetime.strptime(str(p.get("tglDaftar")), "%d-%m-%Y")
    except ValueError:
        out.append(f"tglDaftar {p.get('tglDaftar')!r} is not dd-mm-yyyy")
    if not re.fullmatch(r"\d{13}", str(p.get("noKartu") or "")):
        out.append(f"noKartu {p.get('noKartu')!r} is not 13 digits")
    if not (isinstance(p.get("kdPoli"), str) and p["kdPoli"]):
        out.append("kdPoli is empty")
    if not (p.get("keluhan") is None or isinstance(p["keluhan"], str)):
        out.append("keluhan is not text")
    if not isinstance(p.get("kunjSakit"), bool):
        out.append("kunjSakit is not true/false")
    if any(not isinstance(p.get(v), int) or isinstance(p.get(v), bool) for v in (*VITALS, "rujukBalik")):
        out.append("vital signs and rujukBalik must be whole numbers")
    if p.get("kdTkp") not in TKP:
        out.append(f"kdTkp {p.get('kdTkp')!r} is not one of {', '.join(TKP)}")
    return out


@dataclass
class Export:
    """What ``export --format pcare`` writes and leaves out."""

    payloads: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def candidates(store: Store) -> tuple[list[dict[str, Any]], list[str]]:
    """BPJS visits of the confirmed plan that P-Care must have: inserts, and visits the ERM had (hand-entered).

    Returns their ``PlanRow.data()`` and what was refused (not approved / changed since the plan).
    """
    confirmed = planning.confirmed_rows(store, ("insert", "skip"))
    out = [r["data"] for r in confirmed.keep if r["data"]["visit"].get("payment") == "bpjs"
           and (r["action"] == "insert" or (r["data"].get("why") or {}).get("code") == "in_erm")]
    refused = [f"{r['visit_key']} (record {r['record_id']}): {Reason(why).text('en')}" for r, why in confirmed.refused
               if r["data"]["visit"].get("payment") == "bpjs"]
    return out, refused


def build(store: Store, st: Settings, check_registered: bool = True) -> Export:
    """Payloads of the BPJS visits P-Care does not have yet (per the loaded registrations)."""
    if check_registered and not any(x["kind"] == "pcare" for x in master.loads(store)):
        raise BadInput("no P-Care registrations loaded: export P-Care's registrations of the outage days and run "
                       "'susulan erm load-pcare FILE' first (or give --without-pcare-check to export every BPJS visit)")
    have = {(r["no_kartu"], r["tgl_daftar"], r["kd_poli"]) for r in store.erm_rows("pcare")}
    rows, refused = candidates(store)
    out = Export(left_out=[f"{x} (not exported)" for x in refused])
    for row in rows:
        gaps = requirements.pcare_gaps(row["patient"], row.get("paper") or {}, row["visit"], st)
        if gaps:
            out.left_out.append(f"{row['visit_key']} (record {row['record_id']}): "
                                + Reason("incomplete", {"gaps": [g.code() for g in gaps]}).text("en"))
            continue
        p = payload(row, st)
        key = (p["noKartu"], row["visit"]["visit_date"], p["kdPoli"])
        if key in have or (key[0], key[1], "") in have:
            out.registered.append(f"{row['visit_key']}: card {p['noKartu']} already registered on {p['tglDaftar']}")
            continue
        bad = problems(p)
        if bad:
            out.left_out.append(f"{row['visit_key']} (record {row['record_id']}): {'; '.join(bad)}")
            continue
        out.payloads.append(p)
        out.rows.append(row)
    return out


def write(export: Export, out: Path, st: Settings) -> Path:
    """The payloads as JSON lines at ``out`` and the clerk's CSV beside it (same name, ``.csv``); returns the CSV."""
    from pipeline.export import rows as export_rows

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in export.payloads), encoding="utf-8")
    polis = {v: k for k, v in st.pcare.kd_poli.items()}
    table = [{"Tanggal Daftar": p["tglDaftar"], "No. Kartu": p["noKartu"], "Nama": r["patient"].get("name", ""),
              "Poli": r["visit"].get("poli", "") or polis.get(p["kdPoli"], ""), "Kode Poli": p["kdPoli"],
              "Keluhan": p["keluhan"] or "", "Kunjungan Sakit": "Ya" if p["kunjSakit"] else "Tidak",
              "Jenis Perawatan": TKP.get(p["kdTkp"], p["kdTkp"]), "ID Susulan": r["visit_key"]}
             for p, r in zip(export.payloads, export.rows, strict=True)]
    csv = out.with_suffix(".csv")
    export_rows.write_table(pd.DataFrame(table, columns=list(CSV_COLUMNS), dtype=str), csv, "csv")
    return csv


# --- P-Care's registrations ------------------------------------------------------------------------


def _json_items(path: Path) -> list[dict[str, Any]]:
    """Registrations from saved P-Care answers: one object, a list of them, or JSON lines."""
    text = master.decode(path, path.read_bytes())[0]
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError:
        try:
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise LoadError(path, [Reason("unreadable", {"why": f"not JSON (line {e.lineno})"})]) from None
    items: list[dict[str, Any]] = []
    for doc in docs:
        for d in doc if isinstance(doc, list) else [doc]:
            resp = d.get("response", d) if isinstance(d, dict) else {}
            listed = resp.get("list") if isinstance(resp, dict) else None
            items += [x for x in (listed if isinstance(listed, list) else [resp]) if isinstance(x, dict)]
    return [{"noKartu": (x.get("peserta") or {}).get("noKartu", x.get("noKartu", "")),
             "tglDaftar": x.get("tglDaftar", x.get("tgldaftar", "")),
             "kdPoli": (x.get("poli") or {}).get("kdPoli", x.get("kdPoli", "")) if isinstance(x.get("poli"), dict)
             else x.get("kdPoli", ""), "noUrut": x.get("noUrut", "")} for x in items]


def load_registrations(store: Store, path: Path, st: Settings, user: str = "",
                       skip_bad_rows: bool = False) -> LoadReport:
    """Replace the loaded P-Care registrations with those in ``path`` (JSON from the API, CSV or XLSX)."""
    if not path.exists():
        raise BadInput(f"file not found: {path}")
    frame = None
    if path.suffix.lower() == ".json" or path.suffix.lower() == ".jsonl":
        items = _json_items(path)
        if not items:
            raise LoadError(path, [Reason("empty_file")])
        frame = pd.DataFrame(items, dtype=str)
    codes = {header_key(k): v for k, v in st.pcare.kd_poli.items()} | {header_key(v): v for v in
                                                                       st.pcare.kd_poli.values()}

    def check(row: dict[str, str], cells: dict[str, str], i: int) -> tuple[list[Reason], list[Reason]]:
        bad, warn = [], []
        if row.get("no_kartu") and len(row["no_kartu"]) != 13:
            bad.append(Reason("bad_card", {"row": i, "value": cells.get("no_kartu", "")}))
        raw_poli = cells.get("kd_poli", "")
        key = header_key(re.sub(r"(?i)^poli\s+", "", raw_poli))
        row["kd_poli"] = codes.get(key, raw_poli)
        if raw_poli and key not in codes:
            warn.append(Reason("unknown_poli", {"row": i, "value": raw_poli}))
        return bad, warn

    report = LoadReport("P-Care registration")
    rows = master.read_rows(path, SPEC, REGISTRATION_FIELDS, report, skip_bad_rows, check, frame=frame)
    for r in rows:
        r["registration"] = f"{r['no_kartu']} {r['tgl_daftar']} {r['kd_poli']}"
    master.duplicates(rows, "registration", report)
    master.save(store, "pcare", REGISTRATION_FIELDS, rows, path, "pcare", report, user)
    return report
