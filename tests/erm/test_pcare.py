"""P-Care catch-up: pendaftaran payloads of the BPJS visits, minus those P-Care already has; the clerk's CSV."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.erm import master, pcare, profiles
from pipeline.store import Store

from .conftest import D1, D2, PaperBuilder, registration, write_visits_xlsx

SCHEMA = json.loads((Path(__file__).parent / "data" / "pcare-pendaftaran.schema.json").read_text(encoding="utf-8"))



@pytest.fixture
def db(backend: str | None) -> str | None:
    """These tests run on both store backends (SQLite, PostgreSQL)."""
    return backend

def test_pcare_export_writes_valid_payloads_for_bpjs_visits_not_registered_yet(world, tmp_path, capsys):
    with Store.open(world.data_dir) as store:
        rows = {r["rm_no"]: r for r in master.patients(store)}
        card_holders = [rows["00000010"], rows["00000014"]]  # card holders no planted record uses
        assert all(p["bpjs_no"] for p in card_holders)
        b = PaperBuilder(store)
        b.serial = {"pendaftaran": 100, "antrean": 100}  # after the world's own sheets
        (registered, _), = b.page("pendaftaran", [registration(card_holders[0], D1, 15)])
        (hand, _), = b.page("pendaftaran", [registration(card_holders[1], D2, 16, poli="gigi")])
        # the ERM has the second visit (entered by hand after the outage): skipped for the ERM, still due in P-Care
        write_visits_xlsx([{"visit_date": D2, "rm_no": card_holders[1]["rm_no"], "name": card_holders[1]["name"],
                            "poli": "gigi"}], tmp_path / "visits.xlsx")
        master.load_visits(store, tmp_path / "visits.xlsx", profiles.load("generic"))
    assert main(["erm", "plan", "--confirm", "--user", "siti", "--data-dir", str(world.data_dir)]) == 0
    out = tmp_path / "pcare.jsonl"
    assert main(["erm", "export", "--format", "pcare", "--out", str(out), "--data-dir", str(world.data_dir)]) == 1
    assert "no P-Care registrations loaded" in capsys.readouterr().err

    day = "-".join(reversed(D1.split("-")))
    (tmp_path / "pcare.csv").write_text(f"No. Kartu;Tgl Daftar;Kode Poli\n{card_holders[0]['bpjs_no']};{day};001\n",
                                        encoding="utf-8")
    assert main(["erm", "load-pcare", str(tmp_path / "pcare.csv"), "--data-dir", str(world.data_dir)]) == 0
    capsys.readouterr()
    assert main(["erm", "export", "--format", "pcare", "--out", str(out), "--data-dir", str(world.data_dir)]) == 0
    err = capsys.readouterr().err
    assert f"already in P-Care: pendaftaran-000101-0: card {card_holders[0]['bpjs_no']} already registered" in err

    payloads = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    for p in payloads:
        jsonschema.validate(p, SCHEMA)
        assert pcare.problems(p) == []
    by_card = {p["noKartu"]: p for p in payloads}
    linked_bpjs = rows["00000002"]
    assert set(by_card) == {linked_bpjs["bpjs_no"], card_holders[1]["bpjs_no"]}  # insert + the ERM's own visit
    hand_p = by_card[card_holders[1]["bpjs_no"]]
    assert (hand_p["tglDaftar"], hand_p["kdPoli"], hand_p["kdTkp"], hand_p["kunjSakit"]) == \
        ("-".join(reversed(D2.split("-"))), "002", "10", True)
    assert hand_p["keluhan"] == "DEMAM DAN BATUK" and hand_p["kdProviderPeserta"] == "13110101"

    sheet = pd.read_csv(out.with_suffix(".csv"), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(sheet.columns) == list(pcare.CSV_COLUMNS) and len(sheet) == 2
    assert set(sheet["No. Kartu"]) == set(by_card)  # leading zeros kept
    assert registered and hand


def test_payload_problems_name_each_wrong_field():
    good = {"kdProviderPeserta": "13110101", "tglDaftar": "30-10-2025", "noKartu": "0001234567890", "kdPoli": "001",
            "keluhan": None, "kunjSakit": True, "sistole": 0, "diastole": 0, "beratBadan": 0, "tinggiBadan": 0,
            "respRate": 0, "lingkarPerut": 0, "heartRate": 0, "rujukBalik": 0, "kdTkp": "10"}
    assert pcare.problems(good) == []
    jsonschema.validate(good, SCHEMA)
    bad = {**good, "tglDaftar": "2025-10-30", "noKartu": "12345", "kunjSakit": "ya", "kdTkp": "99"}
    assert pcare.problems(bad) == ["tglDaftar '2025-10-30' is not dd-mm-yyyy", "noKartu '12345' is not 13 digits",
                                   "kunjSakit is not true/false", "kdTkp '99' is not one of 10, 20, 50"]
