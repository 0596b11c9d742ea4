"""The "Impor ke ERM" page with Streamlit's AppTest on the generated ERM world (master, visits, planted records)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from test_app_flows import button, logged_in, open_page, texts

from pipeline.erm import api, ledger
from pipeline.store import Store
from review_app import common
from tests.erm.conftest import World, build_world


def metrics(at) -> dict[str, str]:  # noqa: ANN001 (streamlit AppTest)
    return {m.label: m.value for m in at.metric}


def erm_page(data: Path, user: str = "budi"):  # noqa: ANN201 (streamlit AppTest)
    at = open_page(logged_in(user), "erm")
    assert at.title[0].value == "Impor ke ERM"
    return at


def capture_downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """File name -> bytes of every download button the app draws (AppTest keeps them in memory only)."""
    files: dict[str, bytes] = {}
    real = MemoryMediaFileStorage.load_and_get_id

    def keep(self, data, mimetype, kind, filename=None):  # noqa: ANN001, ANN202 (streamlit internals)
        if filename and isinstance(data, bytes):
            files[filename] = data
        return real(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return files


def world_in(app_env: Path) -> World:
    """The generated ERM world, written into the app's data directory (which holds the test accounts)."""
    world = build_world(app_env.parent)
    assert world.data_dir == app_env
    return world


def test_page_shows_loaded_files_and_plan_counts(app_env: Path) -> None:
    world = world_in(app_env)
    at = erm_page(app_env)
    m = metrics(at)
    assert (m["Tambah ke ERM"], m["Lewati (sudah ada di ERM)"], m["Konflik"], m["Data kurang"],
            m["Perlu keputusan"]) == ("8", "4", "3", "3", "3")  # two unsure patients, one visit at another poli
    shown = texts(at)
    assert "**Data pasien ERM**: master.csv, 152 baris" in shown and "visits.xlsx, 3 baris" in shown
    table = at.dataframe[0].value
    assert len(table) == 18 and set(table["Rencana"]) == {"Tambah", "Lewati", "Konflik", "Data kurang"}
    assert at.button(key="erm_confirm").disabled
    assert "Masih ada 3 keputusan" in shown
    assert "susulan erm push --target satusehat --fhir-url" in at.code[0].value  # pushing stays a command
    # the admin reloads the master through the page: same loader as the CLI
    at.file_uploader(key="erm_file_patients").set_value(("master.csv", world.master_csv.read_bytes(), "text/csv"))
    button(at, "Muat data pasien").click()
    at.run()
    assert not at.exception, at.exception
    assert "152 baris dimuat dari **master.csv**" in texts(at)
    assert "muncul lebih dari sekali" in texts(at)  # the planted duplicate NIK, in Indonesian
    assert metrics(at)["Tambah ke ERM"] == "8"
    # its names become the lexicon names are read with, learned by a process of its own (never the web server)
    assert "dibaca ulang di latar belakang" in texts(at)
    for proc in common._LEARNING:
        assert proc.wait(timeout=300) == 0
    assert "Names are now read with the lexicon of the ERM's patient master" in (app_env / common.LEARN_LOG).read_text()


def test_decisions_change_the_plan_then_confirm_offers_downloads(app_env: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    world = world_in(app_env)
    files = capture_downloads(monkeypatch)
    at = erm_page(app_env)
    twins = world.ids["twins"]
    assert [b.label for b in at.button if b.key and b.key.startswith(f"erm_pick_{twins}_")] == ["Pasien ini"] * 2
    at.button(key=f"erm_pick_{twins}_{world.twins[0]}").click()
    at.run()
    assert not at.exception, at.exception
    assert metrics(at)["Perlu keputusan"] == "2" and metrics(at)["Tambah ke ERM"] == "9"
    assert "Keputusan yang sudah dibuat (1)" in [e.label for e in at.expander]
    at.button(key=f"erm_new_{world.ids['master_dup']}").click()
    at.run()
    at.text_input(key=f"erm_cnote_{world.ids['erm_other_poli']}").set_value("dua poli hari itu")
    at.button(key=f"erm_insert_{world.ids['erm_other_poli']}").click()
    at.run()
    assert not at.exception, at.exception
    m = metrics(at)
    assert (m["Tambah ke ERM"], m["Konflik"], m["Perlu keputusan"]) == ("11", "0", "0")
    with Store.open(app_env) as store:
        row = next(r for r in api.plan_rows(store) if r["record_id"] == twins)
        assert (row["patient_key"], row["decided_by"]) == (world.twins[0], "budi")
        audit = store.q("SELECT action, user, note FROM audit WHERE action LIKE 'erm_%' ORDER BY id")
        assert [tuple(a) for a in audit] == [("erm_patient", "budi", ""), ("erm_patient", "budi", ""),
                                             ("erm_action", "budi", "dua poli hari itu")]
    assert not at.get("download_button")

    confirm = at.button(key="erm_confirm")
    assert not confirm.disabled
    confirm.click()
    at.run()
    assert not at.exception, at.exception
    assert "dikonfirmasi: 11 kunjungan siap" in texts(at)
    downloads = at.get("download_button")
    assert [d.proto.label for d in downloads][:3] == ["Unduh berkas impor (CSV)", "Unduh berkas impor (XLSX)",
                                                      "Unduh FHIR Bundle (JSON)"]
    assert not any(d.proto.disabled for d in downloads[:3])
    # the same files `susulan erm export` writes: 11 visits in the generic profile, one FHIR Encounter each
    rows = list(csv.DictReader(io.StringIO(files["impor-erm.csv"].decode("utf-8-sig")), delimiter=","))
    assert len(rows) == 11
    bundle = json.loads(files["erm-bundle.json"])
    assert bundle["type"] == "transaction"
    assert sum(e["resource"]["resourceType"] == "Encounter" for e in bundle["entry"]) == 11
    assert files["impor-erm.xlsx"][:2] == b"PK"
    with Store.open(app_env) as store:
        assert api.confirmed_plan(store)["confirmed_by"] == "budi"
    # the ledger, as a push would leave it
    with Store.open(app_env) as store:
        rows = [{"record_id": world.ids[k], "visit_key": world.keys[k], "patient_key": ""}
                for k in ("linked_nik", "new_plain")]
        ledger.mark(store, "http://erm.test/fhir", rows, [
            ledger.Outcome(world.ids["linked_nik"], "accepted", encounter_ref="Encounter/enc-1"),
            ledger.Outcome(world.ids["new_plain"], "rejected", "412: NIK sudah dua kali di server")])
    at.run()
    m = metrics(at)
    assert (m["Diterima"], m["Ditolak"]) == ("1", "1")
    table = at.dataframe[-1].value
    assert set(table["Id di server"]) == {"Encounter/enc-1", ""}
    assert "412: NIK sudah dua kali di server" in set(table["Pesan server"])



def test_reviewer_decides_but_only_an_admin_loads_and_confirms(app_env: Path) -> None:
    world = world_in(app_env)
    at = erm_page(app_env, "ani")
    assert not at.get("file_uploader") and "Data dari ERM dimuat oleh admin." in texts(at)
    assert at.button(key="erm_confirm").disabled and "Hanya admin" in texts(at)
    at.button(key=f"erm_new_{world.ids['twins']}").click()
    at.run()
    assert not at.exception, at.exception
    assert "pasien baru" in texts(at) and metrics(at)["Perlu keputusan"] == "2"
    with Store.open(app_env) as store:
        row = next(r for r in api.plan_rows(store) if r["record_id"] == world.ids["twins"])
    assert (row["patient"], row["decided_by"]) == ("new", "ani")


def submit(at, form: str, label: str):  # noqa: ANN001, ANN201 (streamlit AppTest)
    """A form's submit button."""
    return next(b for b in at.button if b.key and b.key.startswith(f"FormSubmitter:{form}-{label}"))


def test_data_kurang_rows_are_completed_or_skipped_on_the_page(app_env: Path) -> None:
    world = world_in(app_env)
    at = erm_page(app_env)
    rid = world.ids["name_only"]  # a queue-sheet row with only a name: SATUSEHAT needs NIK, sex, birth date, village
    shown = texts(at)
    assert "**Data kurang (3)**" in shown
    assert "Kurang: NIK (SATUSEHAT), tanggal lahir (SATUSEHAT)" in shown
    at.text_input(key=f"erm_fill_{rid}_nik").set_value("12345")
    at.text_input(key=f"erm_fill_{rid}_sex").set_value("P")
    at.text_input(key=f"erm_fill_{rid}_birth_date").set_value("26-07-1980")
    at.text_input(key=f"erm_fill_{rid}_village").set_value("Lobuk")
    submit(at, f"erm_complete_{rid}", "Simpan").click()
    at.run()
    assert not at.exception, at.exception
    assert "NIK '12345' tidak sah" in texts(at) and metrics(at)["Data kurang"] == "3"  # nothing stored
    at.text_input(key=f"erm_fill_{rid}_nik").set_value("3529056607800004")
    submit(at, f"erm_complete_{rid}", "Simpan").click()
    at.run()
    assert not at.exception, at.exception
    assert metrics(at)["Data kurang"] == "2" and metrics(at)["Tambah ke ERM"] == "9"
    card = world.ids["bpjs_no_card"]
    submit(at, f"erm_complete_{card}", "Lewati").click()
    at.run()
    assert metrics(at)["Data kurang"] == "1" and metrics(at)["Lewati (sudah ada di ERM)"] == "5"
    with Store.open(app_env) as store:
        audit = [(a["action"], a["field"], a["new"]) for a in store.history(rid)]
        assert ("add", "nik", "3529056607800004") in audit and ("add", "village", "LOBUK") in audit
        row = next(r for r in api.plan_rows(store) if r["record_id"] == card)
        assert (row["action"], row["decided_by"]) == ("skip", "budi")
