"""Bad input in the ERM's exports and P-Care's registrations: one clear line per problem, nothing half-loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.erm import master, pcare, profiles
from pipeline.erm.master import LoadError
from pipeline.erm.settings import load as load_settings
from pipeline.store import Store

HEADER = "No. RM;NIK;Nama Pasien;Tanggal Lahir;Jenis Kelamin;Desa/Kelurahan"
GOOD = ["00000001;3529050101900001;SITI AMINAH;01-01-1990;Perempuan;Lobuk",
        "00000002;3529054502850002;NUR\u2019AINI;1985-02-05;P;Kapedi",  # ISO date in a dd-mm-YYYY file
        "00000003;3529051203700003;MOH HOLILI;12/03/1970;L;Bluto"]



@pytest.fixture
def db(backend: str | None) -> str | None:
    """These tests run on both store backends (SQLite, PostgreSQL)."""
    return backend

def write(path: Path, lines: list[str], encoding: str) -> Path:
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


@pytest.fixture
def store(tmp_path: Path, db: str | None):
    with Store.open(tmp_path / "data") as s:
        yield s


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252", "utf-16"])
def test_master_in_excel_encodings_loads_every_row(tmp_path, store, encoding):
    f = write(tmp_path / "master.csv", [HEADER if encoding != "utf-16" else HEADER.replace(";", "\t"),
                                        *(g if encoding != "utf-16" else g.replace(";", "\t") for g in GOOD)],
              encoding)
    report = master.load_patients(store, f, profiles.load("generic"))
    rows = master.patients(store)
    assert report.rows == 3 and [r["rm_no"] for r in rows] == ["00000001", "00000002", "00000003"]
    assert [r["birth_date"] for r in rows] == ["1990-01-01", "1985-02-05", "1970-03-12"]
    assert rows[1]["name"] == "NUR'AINI"  # the typographic apostrophe of Windows-1252 survives
    assert [w.code for w in report.warnings if w.code == "encoding"] == (["encoding"] if encoding == "cp1252" else [])


def test_bad_rows_are_listed_one_line_each_and_nothing_is_loaded(tmp_path, store):
    profile = profiles.load("generic")
    master.load_patients(store, write(tmp_path / "first.csv", [HEADER, *GOOD], "utf-8"), profile)
    bad = write(tmp_path / "bad.csv", [HEADER, *GOOD,
                                       "00000004;3529051203700004;;12-03-1970;L;Bluto",           # no name
                                       "00000005;3529051203700005;BAHRI;31-02-1970;L;Bluto",      # no such date
                                       "00000006;3.52905E+15;HAMDI;12-03-1970;L;Bluto",           # NIK as a number
                                       "00000007;3529051203700007;TOHA;1970/13/45;L;Bluto"], "utf-8")
    with pytest.raises(LoadError) as e:
        master.load_patients(store, bad, profile)
    lines = str(e.value).splitlines()
    assert lines[0] == "bad.csv: 4 row(s) with problems; nothing was loaded (fix them, or load with --skip-bad-rows)"
    assert lines[1:] == ["  row 5: no name", "  row 6: birth date '31-02-1970' is not a date (formats tried: "
                         "%d-%m-%Y, %d/%m/%Y, %d.%m.%Y, %Y-%m-%d)",
                         "  row 7: NIK stored as a number in the spreadsheet (digits lost)",
                         "  row 8: birth date '1970/13/45' is not a date (formats tried: %d-%m-%Y, %d/%m/%Y, "
                         "%d.%m.%Y, %Y-%m-%d)"]
    assert [r["source_row"] for r in master.patients(store)] == [2, 3, 4]  # the earlier load, untouched
    assert "baris 7: NIK tersimpan sebagai angka di Excel (digit hilang)" in e.value.text("id")

    report = master.load_patients(store, bad, profile, skip_bad_rows=True)
    assert report.rows == 3 and [s.params["row"] for s in report.skipped] == [5, 6, 7, 8]
    assert master.loads(store)[0]["skipped"] == 4


def test_wrong_columns_and_duplicate_niks(tmp_path, store, capsys):
    data = tmp_path / "data"
    wrong = write(tmp_path / "wrong.csv", ["Kolom A;Kolom B", "1;2"], "utf-8")
    assert main(["erm", "load-patients", str(wrong), "--data-dir", str(data)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["susulan: wrong.csv: no column for name; the file has: Kolom A, Kolom B (add the header to the "
                   "profile's columns)"]
    dup = write(tmp_path / "dup.csv", [HEADER, *GOOD, "00000009;3529050101900001;SITI AMINAH;01-01-1990;P;Lobuk",
                                       "00000001;3529051111800009;SUPANDI;11-11-1980;L;Lobuk"], "utf-8")
    assert main(["erm", "load-patients", str(dup), "--data-dir", str(data)]) == 0
    err = capsys.readouterr().err
    assert "warning: nik 3529050101900001 appears more than once (rows 2, 5); records matching it need a person" \
        in err
    assert "warning: No. RM 1 appears more than once (rows 2, 6)" in err


def test_pcare_registrations_from_api_json_csv_and_bad_files(tmp_path, store):
    st = load_settings()
    api = {"metaData": {"code": 200, "message": "OK"}, "response": {"count": 2, "list": [
        {"noUrut": "A1", "tgldaftar": "30-10-2025", "peserta": {"noKartu": "0001234567890", "nama": "SITI"},
         "poli": {"kdPoli": "001", "nmPoli": "UMUM"}, "tkp": {"kdTkp": "10"}},
        {"noUrut": "A2", "tgldaftar": "30-10-2025", "peserta": {"noKartu": "0009876543210"},
         "poli": {"kdPoli": "003", "nmPoli": "KIA"}}]}}
    f = tmp_path / "pcare.json"
    f.write_text(json.dumps(api), encoding="utf-8")
    report = pcare.load_registrations(store, f, st)
    assert report.rows == 2
    assert [(r["no_kartu"], r["tgl_daftar"], r["kd_poli"]) for r in store.erm_rows("pcare")] == \
        [("0001234567890", "2025-10-30", "001"), ("0009876543210", "2025-10-30", "003")]

    csv = write(tmp_path / "pcare.csv", ["No. Kartu;Tgl Daftar;Poli", "0001234567890;30/10/2025;Poli Umum",
                                         "0001234567891;2025-10-30;gigi"], "cp1252")
    report = pcare.load_registrations(store, csv, st)
    assert [r["kd_poli"] for r in store.erm_rows("pcare")] == ["001", "002"]  # poli names mapped to kdPoli

    bad = write(tmp_path / "bad.csv", ["No. Kartu;Tgl Daftar", "12345;30-10-2025", "0001234567890;30-13-2025"],
                "utf-8")
    with pytest.raises(LoadError) as e:
        pcare.load_registrations(store, bad, st)
    assert str(e.value).splitlines()[1:] == ["  row 2: card number '12345' is not 13 digits",
                                             "  row 3: registration date '30-13-2025' is not a date (formats tried: "
                                             "%d-%m-%Y, %d/%m/%Y, %d.%m.%Y, %Y-%m-%d)"]
    assert len(store.erm_rows("pcare")) == 2  # the CSV load before, untouched
    xlsx = tmp_path / "wrong.xlsx"
    pd.DataFrame({"Nama": ["SITI"]}).to_excel(xlsx, index=False)
    with pytest.raises(LoadError, match="no column for card number, registration date"):
        pcare.load_registrations(store, xlsx, st)
    (tmp_path / "junk.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(LoadError, match="not JSON"):
        pcare.load_registrations(store, tmp_path / "junk.json", st)
