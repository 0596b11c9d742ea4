"""Corrections from a spreadsheet: ``susulan review export`` / ``review import`` on hand-made pages."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import Factory

from pipeline import cli
from pipeline.store import Store
from pipeline.store import review as rv


def run(*args: str) -> int:
    return cli.main(list(args))


def values(store: Store, rid: int) -> dict[str, tuple[str, str, str]]:
    return {f["name"]: (f["final_value"], f["status"], f["changed_by"]) for f in store.record_fields(rid)}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_edit_import(factory: Factory, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture) -> None:
    rid = factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6), "birth_date": ("1985-08-01", 0.5),
                                      "sex": ("P", 0.7)})
    factory.store.close()
    data = factory.store.data_dir
    out = tmp_path / f"periksa.{fmt}"
    assert run("review", "export", "--out", str(out), "--data-dir", str(data)) == 0
    frame = (pd.read_csv(out, dtype=str, keep_default_na=False) if fmt == "csv"
             else pd.read_excel(out, dtype=str, keep_default_na=False))
    assert list(frame["field"]) == ["nik", "name", "sex", "birth_date"]  # unsure, or named by the NIK rule
    row = {r["field"]: r for r in frame.to_dict("records")}
    assert row["birth_date"]["value"] == "01-08-1985" and row["name"]["version"] == "1"
    assert (tmp_path / row["name"]["snippet"]).read_bytes()[:4] == b"\x89PNG"
    frame.loc[frame["field"] == "name", "value"] = "siti aminah"
    frame.loc[frame["field"] == "birth_date", "value"] = "07-08-1985"
    frame.loc[frame["field"] == "sex", "confirm"] = "ya"
    edited = tmp_path / f"edited.{fmt}"
    frame.to_csv(edited, index=False) if fmt == "csv" else frame.to_excel(edited, index=False)
    assert run("review", "import", str(edited), "--user", "ani", "--data-dir", str(data)) == 0
    assert "applied 2 correction(s) and 1 confirmation(s)" in capsys.readouterr().out
    with Store.open(data) as store:
        v = values(store, rid)
        assert v["name"] == ("SITI AMINAH", "corrected", "ani") and v["birth_date"][:2] == ("1985-08-07", "corrected")
        assert v["sex"] == ("P", "confirmed", "ani")
        assert store.issues(rid) == []  # re-validated like the app
        assert sorted(h["action"] for h in store.history(rid)) == ["confirm", "set", "set"]
    # importing the same file again changes nothing and refuses nothing
    assert run("review", "import", str(edited), "--user", "ani", "--data-dir", str(data)) == 0
    assert "applied 0 correction(s) and 0 confirmation(s)" in capsys.readouterr().out


def test_import_refuses_rows_and_applies_nothing(factory: Factory, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    rid = factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6), "rt": ("002", 0.5), "sex": ("P", 0.7)})
    done = factory.pendaftaran(unsure={"name": ("BUDI", 0.6)}, name="BUDI", nik="3529051708850003", sex="L",
                               birth_date="1985-08-17")
    data = factory.store.data_dir
    out = tmp_path / "periksa.csv"
    assert run("review", "export", "--out", str(out), "--all", "--data-dir", str(data)) == 0
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(frame) == 2 * 18
    rv.approve(factory.store, done, "budi")  # approved after the export
    name = frame.index[(frame["field"] == "name") & (frame["page_id"].str.endswith("1"))][0]
    frame.loc[name, "value"] = "SITI AMINAH"
    frame.loc[frame.index[frame["field"] == "rt"][0], "value"] = "O2"  # a letter O: refused
    frame.loc[frame.index[frame["field"] == "sex"][0], "value"] = "X"  # not an option
    frame.loc[frame.index[(frame["field"] == "name") & (frame["page_id"].str.endswith("2"))][0], "value"] = "BUDIONO"
    name_row = frame.loc[name].copy()
    frame = pd.concat([frame, name_row.to_frame().T])  # the same value twice
    frame.to_csv(out, index=False)
    assert run("review", "import", str(out), "--user", "ani", "--data-dir", str(data)) == 1
    err = capsys.readouterr().err
    assert "Hanya angka" in err and "'X' is not an option" in err and "already approved" in err
    assert "appears twice" in err and "4 of 37 row(s) refused; nothing applied" in err
    with Store.open(data) as store:
        assert values(store, rid)["name"] == ("SITI AMlNAH", "review", "")
        assert [h["action"] for h in store.history(rid)] == []
    # a row changed in the app after the export is refused with who changed it and the value now
    fresh = tmp_path / "fresh.csv"
    assert run("review", "export", "--out", str(fresh), "--data-dir", str(data)) == 0
    frame = pd.read_csv(fresh, dtype=str, keep_default_na=False)
    field = next(f for f in factory.store.record_fields(rid) if f["name"] == "name")
    rv.apply_changes(factory.store, [rv.Change(field["id"], field["version"], "SITI AMINAH")], "budi")
    frame.loc[frame["field"] == "name", "value"] = "SITI AMINA"
    frame.to_csv(fresh, index=False)
    assert run("review", "import", str(fresh), "--user", "ani", "--data-dir", str(data)) == 1
    assert "changed since the export (version 1, now 2, by budi): now 'SITI AMINAH'" in capsys.readouterr().err
    assert run("review", "import", str(fresh), "--user", "nobody", "--data-dir", str(data)) == 1


def test_a_row_marked_bukan_pasien_becomes_void_and_keeps_its_values(factory: Factory, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    from conftest import queue_row

    rows = factory.antrean([queue_row(), queue_row(queue_no="002", name="XKXXKX")],
                           unsure={(1, "name"): ("XKXXKX", 0.3), (0, "name"): ("MOH H0LILI", 0.5),
                                   (None, "visit_date"): ("2026-01-05", 0.4)})
    data = factory.store.data_dir
    out = tmp_path / "periksa.csv"
    assert run("review", "export", "--out", str(out), "--data-dir", str(data)) == 0
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert "bukan_pasien" in frame.columns
    crossed = frame.index[(frame["field"] == "name") & (frame["record"] == "1")][0]
    frame.loc[crossed, ["value", "bukan_pasien"]] = ["ANYTHING", "ya"]  # its values are left as read
    frame.loc[frame.index[(frame["field"] == "name") & (frame["record"] == "0")][0], "value"] = "MOH HOLILI"
    sheet_date = frame.copy()
    frame.to_csv(out, index=False)
    assert run("review", "import", str(out), "--user", "ani", "--data-dir", str(data)) == 0
    assert "applied 1 correction(s) and 0 confirmation(s), 1 row(s) marked as no patient" in capsys.readouterr().out
    with Store.open(data) as store:
        assert [store.record(r)["state"] for r in rows] == ["review", "void"]
        assert values(store, rows[1])["name"] == ("XKXXKX", "review", "")
        assert values(store, rows[0])["name"] == ("MOH HOLILI", "corrected", "ani")
        assert [(h["user"], h["new"]) for h in store.history(rows[1]) if h["action"] == "state"] == [("ani", "void")]
    # the same file again: nothing more to do; the sheet's date is no row
    assert run("review", "import", str(out), "--user", "ani", "--data-dir", str(data)) == 0
    sheet_date.loc[sheet_date["field"] == "visit_date", "bukan_pasien"] = "ya"
    sheet_date.to_csv(out, index=False)
    assert run("review", "import", str(out), "--user", "ani", "--data-dir", str(data)) == 1
    assert "belongs to the whole sheet" in capsys.readouterr().err
