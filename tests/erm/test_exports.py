"""Exports of the confirmed plan: FHIR bundles that validate, CSV/XLSX per profile; the CLI around them."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from pipeline.cli import main
from pipeline.erm import plan as planning
from pipeline.erm.client import Client, Unreachable
from pipeline.erm.settings import load as load_settings
from pipeline.export import fhir
from pipeline.store import Store, audit


@pytest.fixture
def db(backend: str | None) -> str | None:
    """These tests run on both store backends (SQLite, PostgreSQL)."""
    return backend

def confirm(w) -> None:
    assert main(["erm", "plan", "--confirm", "--user", "siti", "--data-dir", str(w.data_dir)]) == 0


def test_export_before_confirm_is_refused(world, capsys):
    assert main(["erm", "export", "--format", "csv", "--out", str(world.data_dir / "x.csv"),
                 "--data-dir", str(world.data_dir)]) == 1
    assert "no confirmed plan yet" in capsys.readouterr().err


def test_fhir_bundle_validates_and_follows_satusehat(world, tmp_path, capsys):
    confirm(world)
    out = tmp_path / "bundle.json"
    assert main(["erm", "export", "--format", "fhir", "--out", str(out), "--data-dir", str(world.data_dir)]) == 0
    assert "wrote 8 visit(s)" in capsys.readouterr().err
    data = json.loads(out.read_text(encoding="utf-8"))
    Bundle.model_validate(data)
    for e in data["entry"]:
        get_fhir_model_class(e["resource"]["resourceType"]).model_validate(e["resource"])
    patients = [e for e in data["entry"] if e["resource"]["resourceType"] == "Patient"]
    encounters = [e for e in data["entry"] if e["resource"]["resourceType"] == "Encounter"]
    assert data["type"] == "transaction" and len(patients) == 7 and len(encounters) == 8
    assert all(e["request"]["ifNoneExist"].startswith("identifier=") for e in data["entry"])
    full_urls = {e["fullUrl"] for e in patients}
    assert {e["resource"]["subject"]["reference"] for e in encounters} == full_urls
    systems = {i["system"] for e in patients for i in e["resource"]["identifier"]}
    assert fhir.NIK_SYSTEM in systems and not any("bpjs" in s and "kemkes" in s for s in systems)
    assert any(s.endswith("/bpjs") for s in systems)

    first = next(e["resource"] for e in encounters if e["resource"]["identifier"][0]["value"]
                 == world.keys["linked_nik"])
    assert first["status"] == "arrived" and first["class"]["code"] == "AMB"
    assert first["statusHistory"][0]["status"] == "arrived"
    assert first["period"]["start"] == "2026-01-05T01:01:00+00:00"  # 08:01 WIB
    assert first["serviceProvider"]["reference"] == "Organization/100000001"
    assert first["location"][0]["location"]["reference"].startswith("Location/")
    assert first["identifier"][0]["system"] == "http://sys-ids.kemkes.go.id/encounter/100000001"

    new = next(e["resource"] for e in patients if any(i["value"] == "3529055403199001"
                                                      for i in e["resource"]["identifier"]))
    ext = {x["url"]: x["valueCode"] for x in new["address"][0]["extension"][0]["extension"]}
    assert ext == {"province": "35", "city": "3529", "district": "352905", "village": "3529052009", "rt": "2",
                   "rw": "1"}
    assert new["gender"] == "female" and new["birthDate"] == "2019-03-14"


def test_invalid_resources_are_left_out_not_written(world):
    with Store.open(world.data_dir) as store:
        rows = [r.data() for r in planning.compute(store).rows if r.action == "insert"]
    rows[0]["patient"]["birth_date"] = "1990-13-01"
    built = fhir.build(rows, load_settings())
    assert list(built.invalid) == [rows[0]["record_id"]] and "birthDate" in built.invalid[rows[0]["record_id"]]
    assert rows[0]["record_id"] not in built.entries and len(built.entries) == len(rows) - 1


def test_csv_and_xlsx_follow_the_profile(world, tmp_path):
    confirm(world)
    csv_out, xlsx_out = tmp_path / "impor.csv", tmp_path / "impor.xlsx"
    for fmt, out in (("csv", csv_out), ("xlsx", xlsx_out)):
        assert main(["erm", "export", "--format", fmt, "--out", str(out), "--data-dir", str(world.data_dir)]) == 0
    frame = pd.read_csv(csv_out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(frame.columns[:5]) == ["No. RM", "Pasien Baru", "NIK", "No. BPJS", "Nama Pasien"]
    assert len(frame) == 8
    with Store.open(world.data_dir) as store:  # patient data leaving the store is audited
        exports = [(a["field"], a["new"]) for a in audit.recent(store.db) if a["action"] == "export"]
    assert sorted(exports) == [("erm export csv", "8"), ("erm export xlsx", "8")]
    row = frame[frame["ID Susulan"] == world.keys["linked_nik"]].iloc[0]
    assert row["No. RM"] == "00000001" and row["Tanggal Kunjungan"] == "05-01-2026" and row["Poli"] == "Poli Umum"
    assert row["Pasien Baru"] == "Tidak" and row["Jenis Kelamin"] in ("Laki-laki", "Perempuan")
    assert set(frame[frame["Pasien Baru"] == "Ya"]["No. RM"]) == {""}
    sheet = openpyxl.load_workbook(xlsx_out).active
    cells = {c.value: i for i, c in enumerate(sheet[1])}
    values = [r[cells["No. RM"]].value for r in sheet.iter_rows(min_row=2)]
    assert "00000001" in values  # text cells: leading zeros survive


def test_plan_cli_output_and_loading_errors(world, tmp_path, capsys):
    assert main(["erm", "plan", "--data-dir", str(world.data_dir)]) == 0
    cap = capsys.readouterr()
    assert cap.out.splitlines()[-1] == "insert 8, skip 4, conflict 3, incomplete 3 (of 18 reviewed records)"
    assert "nothing was written" in cap.err
    bad = tmp_path / "bad.csv"
    bad.write_text("Kolom A,Kolom B\n1,2\n", encoding="utf-8")
    assert main(["erm", "load-patients", str(bad), "--data-dir", str(world.data_dir)]) == 1
    assert "no column for name" in capsys.readouterr().err
    assert main(["erm", "decide", str(world.ids["twins"]), world.twins[0], "--user", "siti",
                 "--data-dir", str(world.data_dir)]) == 0
    assert main(["erm", "plan", "--json", "--data-dir", str(world.data_dir)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["conflict"] == 2 and data["confirmed_plan"] is None


def test_erm_commands_have_help(capsys):
    for sub in ("load-patients", "load-visits", "load-pcare", "plan", "decide", "export", "push", "ledger"):
        with pytest.raises(SystemExit) as e:
            main(["erm", sub, "--help"])
        assert e.value.code == 0
        assert "usage: susulan erm " + sub in capsys.readouterr().out


class _Resp:
    def __init__(self, status: int) -> None:
        self.status_code, self.headers, self.text = status, {}, ""

    def json(self) -> dict:
        return {"resourceType": "Bundle", "type": "transaction-response"} if self.status_code == 200 else {}


def test_client_retries_with_backoff_then_gives_up(monkeypatch):
    waits: list[float] = []
    client = Client("http://127.0.0.1:9/fhir", retries=3, backoff_s=0.5, sleep=waits.append)
    answers = iter([_Resp(503), _Resp(502), _Resp(200)])
    monkeypatch.setattr(client.session, "request", lambda *a, **k: next(answers))
    assert client.transaction({}).status == 200 and waits == [0.5, 1.0]
    monkeypatch.setattr(client.session, "request", lambda *a, **k: _Resp(500))
    waits.clear()
    with pytest.raises(Unreachable) as e:
        client.transaction({})
    assert waits == [0.5, 1.0, 2.0] and not e.value.network


def test_settings_and_profile_are_shipped():
    st = load_settings()
    assert st.organization_id and set(st.locations) == {"umum", "gigi", "kia", "mtbs", "lansia"}
    assert st.kecamatan_code == "35.29.05"
    assert Path(st.local_system("bpjs")).name == "bpjs"
