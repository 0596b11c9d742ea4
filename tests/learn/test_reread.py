"""Re-reading the pages under review after learning: real sample scans, real ingest, real store."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipeline import reread, run
from pipeline.cli import main as cli
from pipeline.learn import adapter, hands
from pipeline.recognize import icr
from pipeline.store import Store, spotchecks
from pipeline.store import learning as repo
from pipeline.store import review as rv
from susulan_tools.measure import read_truth

USER = "perawat"


def _activate_copy_of_shipped(store: Store) -> str:
    """Make an adaptation with the shipped heads the model in use (it reads as the shipped one); its version."""
    path = store.data_dir / "models" / "adapt-0001.npz"
    heads = {}
    for alphabet in ("digits", "letters"):
        w, b, t = adapter._shipped(alphabet)
        heads[alphabet] = adapter.Head(w.astype("float32"), b.astype("float32"), t)
    adapter.Adaptation("adapt-0001", icr.model_version(), heads).save(path)
    row = repo.add_adaptation(store, icr.model_version(), 0, "test")
    repo.settle_adaptation(store, row, "adapt-0001", "models/adapt-0001.npz", icr.model_version(path), {}, True,
                           "test")
    return icr.model_version(path)


@pytest.fixture
def ingested(tmp_path: Path, backend: str | None) -> Path:
    """Three sample pages ingested with the shipped model, into SQLite and into PostgreSQL."""
    scans = tmp_path / "scans"
    assert cli(["samples", "make", "--out", str(scans), "--pages", "3", "--seed", "47", "--kinds", "feeder"]) == 0
    data = tmp_path / "data"
    run.ingest_paths([scans], data, jobs=1, learn=False)
    return data


def _stored(store: Store, records: list[int]) -> dict[int, dict]:
    """Every stored column of every value of ``records``, by field id."""
    ids = {f["id"] for r in records for f in store.record_fields(r)}
    return {r["id"]: dict(r) for r in store.db.q("SELECT * FROM fields") if r["id"] in ids}


def _icr_fields(store: Store, record_id: int) -> list:
    return [f for f in store.record_fields(record_id) if f["engine"] == "icr"]


def test_reread_takes_only_values_no_person_decided_on_records_under_review(ingested: Path) -> None:
    with Store.open(ingested) as store:
        records = store.record_ids()
        approved, touched, *rest = records
        for f in _icr_fields(store, approved):  # a person checks and approves one record
            if f["status"] == "review":
                store.confirm(f["id"], USER, f["version"])
        rv.approve(store, approved, USER, override_note="sesuai kertas")
        mine = next(f for f in _icr_fields(store, touched) if f["record_no"] is not None)
        store.set_value(mine["id"], "9" * len(mine["final_value"] or "9"), USER, mine["version"])
        pending = spotchecks.pending(store)
        # a value of a record under review that the old model read otherwise (as it would another clinic's hand)
        victim = next(f for r in rest for f in _icr_fields(store, r)
                      if f["record_no"] is not None and f["kind"] == "digits" and f["final_value"]
                      and f["id"] not in pending)
        wrong = ("1" if set(victim["final_value"]) == {"0"} else "0") * len(victim["final_value"])
        assert store.revise_machine(victim["id"], victim["version"], wrong, 0.5, "review", {"cells": []}, "test")
        before = _stored(store, records)
        new_model = _activate_copy_of_shipped(store)

        report = reread.reread(store, jobs=1)

        assert report.pages > 0 and report.pages_left == 0
        assert report.changed >= 1
        after = _stored(store, records)
        # the value read otherwise is read from the scan again, audited as the machine's
        assert after[victim["id"]]["final_value"] == victim["final_value"]
        assert after[victim["id"]]["model"] == new_model
        owner = next(r for r in rest if victim["id"] in {f["id"] for f in store.record_fields(r)})
        assert [(a["user"], a["old"], a["new"]) for a in store.history(owner)
                if (a["note"] or "").startswith("dibaca ulang dengan model")] == \
            [("susulan", wrong, victim["final_value"])]
        # what a person did, and an approved record, stay exactly as they were
        for f in store.record_fields(approved):
            assert after[f["id"]] == before[f["id"]]
        assert after[mine["id"]] == before[mine["id"]]
        assert store.record(approved)["state"] == "approved"
        # a value waiting for a spot check is not re-read
        for i in pending:
            assert after[i] == before[i]
        # every other undecided comb-box value of a record under review now records the model in use
        for r in rest:
            for f in _icr_fields(store, r):
                if f["status"] in ("auto", "review") and f["id"] not in pending:
                    assert after[f["id"]]["model"] == new_model, f["name"]
        # rerunning reads nothing again
        again = reread.reread(store, jobs=1)
        assert (again.pages, again.changed) == (0, 0)
        assert "nothing to read again" in again.text()


def test_values_read_as_before_keep_their_version(ingested: Path) -> None:
    """Re-read exactly as stored, a value is not written again: a reviewer's open screen is not disturbed."""
    with Store.open(ingested) as store:
        records = store.record_ids()
        before = _stored(store, records)
        new_model = _activate_copy_of_shipped(store)
        report = reread.reread(store, jobs=1)
        after = _stored(store, records)
    assert report.pages == 3 and report.values > 40 and report.changed == 0
    assert report.auto_before == report.auto_after and report.spot_checked == 0
    moved = [(f["name"], f["version"], after[i]["version"]) for i, f in before.items()
             if (f["version"], f["final_value"], f["status"]) != (after[i]["version"], after[i]["final_value"],
                                                                   after[i]["status"])]
    assert moved == []
    assert {after[i]["model"] for i, f in before.items() if f["engine"] == "icr" and f["status"] == "auto"} == \
        {new_model}


def test_a_page_whose_scan_is_gone_is_left_as_it_was(ingested: Path) -> None:
    for f in (ingested / "originals").rglob("*"):
        if f.is_file():
            f.unlink()
    with Store.open(ingested) as store:
        records = store.record_ids()
        before = _stored(store, records)
        new_model = _activate_copy_of_shipped(store)
        report = reread.reread(store, jobs=1)
        assert (report.pages, report.pages_left) == (0, 3)
        assert "3 page(s) could not be read as before and were left as they were" in report.text()
        assert _stored(store, records) == before
        assert len(repo.stale_pages(store, new_model)) == 3  # read again once the scan is back


def test_learn_command_rereads_after_a_rollback(ingested: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Store.open(ingested) as store:
        _activate_copy_of_shipped(store)
        assert reread.reread(store, jobs=1).pages > 0
    assert cli(["learn", "--data-dir", str(ingested), "--rollback", "--user", "admin", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "shipped model" in out and "still under review again with " + icr.model_version() in out
    with Store.open(ingested) as store:
        assert repo.stale_pages(store, icr.model_version()) == []


def test_a_patient_master_becomes_the_lexicon_names_are_read_with(ingested: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Loading the ERM's patients reads the names still under review again with their names as a lexicon.

    The master knows the batch's names but none of their numbers (no record links to a patient),
    so only the letter model can bring a name closer to what was written; no digit changes.
    """
    truth = read_truth(ingested.parent / "scans")
    names = {(t["page_id"], t["record"]): t["fields"]["name"] for t in truth if t["fields"].get("name")}

    def names_right(store: Store) -> int:
        rows = store.db.q("SELECT f.final_value, f.record_no, p.page_key FROM fields f JOIN pages p "
                          "ON p.id = f.page_id WHERE f.name = 'name'")
        return sum(r["final_value"] == names.get((r["page_key"], r["record_no"] or 0)) for r in rows)

    with Store.open(ingested) as store:
        before, digits = names_right(store), _digit_values(store)
        assert not hands.due(store)
    master = tmp_path / "pasien.csv"
    with master.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["No. RM", "NIK", "Nama Pasien", "Tanggal Lahir", "Jenis Kelamin", "Desa"])
        for i, name in enumerate(sorted(set(names.values()))):
            w.writerow([f"{90000000 + i}", f"352905410190{i:04d}", name.title(), "01-01-1990", "Perempuan", "BLUTO"])
    assert cli(["erm", "load-patients", str(master), "--profile", "generic", "--data-dir", str(ingested)]) == 0
    err = capsys.readouterr().err
    assert "0 linked to one patient" in err
    assert "Names are now read with the lexicon of the ERM's patient master" in err
    with Store.open(ingested) as store:
        active = repo.active_adaptation(store)
        assert active is not None and json.loads(active["report"])["lexicon_only"]
        assert repo.stale_pages(store, active["model"]) == []  # every page under review was read again
        assert names_right(store) > before
        assert _digit_values(store) == digits  # the heads in use are kept: no digit is read otherwise
        assert not hands.due(store)  # this master is learned from; rerunning changes nothing
    assert cli(["learn", "--if-due", "--data-dir", str(ingested)]) == 0
    assert "Nothing to do" in capsys.readouterr().out
    assert cli(["learn", "--list", "--data-dir", str(ingested)]) == 0
    assert "letter model only: the patient master's names as lexicon" in capsys.readouterr().out
    # a new shipped model is installed: the adaptation no longer fits it, the master's lexicon is applied again
    with Store.open(ingested) as store:
        with store.tx() as c:
            c.execute("UPDATE adaptations SET base_model = 'icr-older'")
        assert hands.reading_model(store) == icr.MODEL_PATH and hands.due(store)
    assert cli(["learn", "--if-due", "--data-dir", str(ingested), "--jobs", "1"]) == 0
    with Store.open(ingested) as store:
        active = repo.active_adaptation(store)
        assert active is not None and active["base_model"] == icr.model_version()
        assert json.loads(active["report"])["lexicon_only"] and not hands.due(store)


def _digit_values(store: Store) -> dict[int, tuple[str, str]]:
    return {r["id"]: (r["final_value"], r["status"]) for r in store.db.q(
        "SELECT id, final_value, status FROM fields WHERE kind IN ('digits', 'date', 'time')")}
