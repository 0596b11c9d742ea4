"""Matching and the reconciliation plan on a generated master, ERM visits and planted paper records."""

from __future__ import annotations

import pytest

from pipeline.erm import api, master, plan, profiles
from pipeline.erm.settings import load as load_settings
from pipeline.errors import BadInput
from pipeline.store import Store

from .conftest import D1, PaperBuilder, registration


@pytest.fixture
def db(backend: str | None) -> str | None:
    """These tests run on both store backends (SQLite, PostgreSQL)."""
    return backend

def test_master_and_visits_load_with_warnings(world):
    with Store.open(world.data_dir) as store:
        rows = master.patients(store)
        assert len(rows) == 152
        first = rows[0]
        assert first["name"] == first["name"].upper() and first["birth_date"][4] == "-"
        assert first["sex"] in ("L", "P") and first["rm_no"] == "00000001"
        report = master.load_patients(store, world.master_csv, profiles.load("generic"))
        dup = [w for w in report.warnings if w.code == "duplicate" and w.params["field"] == "nik"]
        assert len(dup) == 1 and len(dup[0].params["rows"]) == 2  # the planted duplicate, with its row numbers
        visits = master.visits(store)
    assert [(v["poli"], v["visit_date"]) for v in visits] == [("umum", "2026-01-05"), ("gigi", "2026-01-05"),
                                                             ("kia", "2026-01-06")]


def test_every_planted_record_gets_the_expected_action_and_outcome(world):
    with Store.open(world.data_dir) as store:
        p = plan.compute(store)
    got = {r.visit_key: r.action for r in p.rows}
    assert got == world.expected
    assert {r.visit_key: r.match.outcome for r in p.rows} == world.outcome
    assert world.unapproved not in {r.record_id for r in p.rows}
    assert (p.counts["insert"], p.counts["skip"], p.counts["conflict"], p.counts["incomplete"]) == (8, 4, 3, 3)


def test_reasons_scores_and_flags(world):
    with Store.open(world.data_dir) as store:
        rows = {r.visit_key: r for r in plan.compute(store).rows}
    k = world.keys
    assert rows[k["linked_nik"]].match.reason.startswith("NIK sama")
    assert rows[k["linked_bpjs"]].match.reason.startswith("No. BPJS sama")
    typo = rows[k["fuzzy_typo"]].match
    assert typo.reason.startswith("mirip") and 90 <= typo.score < 100
    assert [f.field for f in typo.flags] == ["name"]
    misread = rows[k["nik_misread"]].match
    assert "nik" in [f.field for f in misread.flags]  # paper NIK differs: flagged, master kept
    assert rows[k["nik_misread"]].patient["nik"] != misread.flags[0].paper or misread.flags[0].field != "nik"
    assert [f.field for f in rows[k["lama_unknown"]].match.flags] == ["visit_type"]
    twins = rows[k["twins"]].match
    assert {c.key for c in twins.candidates[:2]} == set(world.twins)
    assert rows[k["master_dup"]].match.reason.startswith("nomor di kertas cocok dengan lebih dari satu")
    # one new patient seen on two days is one patient
    assert rows[k["new_nik_d1"]].patient_key == rows[k["new_nik_d2"]].patient_key
    assert "sama dengan" in rows[k["queue_twin"]].reason
    assert "sudah ada di ERM" in rows[k["in_erm"]].reason and "sudah ada di ERM" in rows[k["hand_entered"]].reason
    assert "poli gigi" in rows[k["erm_other_poli"]].reason


def test_decisions_settle_conflicts_and_are_audited(world):
    with Store.open(world.data_dir) as store:
        amb = api.ambiguous(store)
        assert {a["visit_key"] for a in amb} == {world.keys["twins"], world.keys["master_dup"]}
        twin = next(a for a in amb if a["visit_key"] == world.keys["twins"])
        assert "new" in twin["choices"] and len(twin["candidates"]) >= 2
        api.decide_match(store, world.ids["twins"], world.twins[1], "siti")
        dup = next(a for a in amb if a["visit_key"] == world.keys["master_dup"])
        api.decide_match(store, world.ids["master_dup"], dup["candidates"][0]["key"], "siti")
        assert [c["visit_key"] for c in api.conflicts(store)] == [world.keys["erm_other_poli"]]
        api.decide_action(store, world.ids["erm_other_poli"], "insert", "siti", "dua poli hari itu")
        with pytest.raises(BadInput):
            api.decide_match(store, world.ids["twins"], "rm:99999999", "siti")
        with pytest.raises(BadInput):
            api.decide_action(store, world.ids["twins"], "maybe", "siti")
        p = api.current_plan(store)
        audit = store.db.q("SELECT action, user FROM audit WHERE action LIKE 'erm_%'")
    rows = {r.visit_key: r for r in p.rows}
    assert rows[world.keys["twins"]].patient_key == world.twins[1]
    assert rows[world.keys["twins"]].match.decided_by == "siti"
    assert rows[world.keys["erm_other_poli"]].action == "insert"
    # the chosen twin has no NIK in the master: SATUSEHAT could not find them, so "data kurang"
    assert rows[world.keys["twins"]].action == "incomplete" and rows[world.keys["twins"]].gaps == ("satusehat:nik",)
    assert p.counts == {**p.counts, "insert": 10, "skip": 4, "conflict": 0, "incomplete": 4}
    assert len(audit) == 3


def test_decide_new_makes_its_own_patient(world):
    with Store.open(world.data_dir) as store:
        api.decide_match(store, world.ids["twins"], "new", "siti")
        row = next(r for r in api.plan_rows(store) if r["record_id"] == world.ids["twins"])
    assert row["patient"] == "new" and row["patient_key"].startswith("new:")
    assert row["action"] == "incomplete" and row["gaps"] == ["satusehat:nik"]  # a new patient without NIK


def test_plan_is_written_only_on_confirm_and_stale_rows_are_refused(world):
    with Store.open(world.data_dir) as store:
        p = plan.compute(store, load_settings())
        assert store.db.q("SELECT COUNT(*) AS n FROM erm_plans")[0]["n"] == 0
        with pytest.raises(BadInput, match="no confirmed plan"):
            plan.confirmed(store)
        plan_id = plan.confirm(store, p, "siti")
        got_id, rows = plan.confirmed(store)
        assert got_id == plan_id and len(rows) == 18
        row = next(r for r in rows if r["record_id"] == world.ids["linked_nik"])
        assert plan.stale_reason(store, row) == ""
        store.set_record_state(world.ids["linked_nik"], "review", "siti")
        assert plan.stale_reason(store, row) == "not_approved"


def test_a_village_only_found_in_another_kecamatan_is_flagged_never_rewritten(world):
    with Store.open(world.data_dir) as store:
        b = PaperBuilder(store)
        b.serial = {"pendaftaran": 100, "antrean": 100}
        person = {"name": "SITI BANBARU", "sex": "P", "birth_date": "1990-01-01", "village": "BANBARU",
                  "nik": "3529054101900007", "address": "DUSUN TENGAH"}
        (rid, _), = b.page("pendaftaran", [registration(person, D1, 30, visit_type="baru")])
        row = next(r for r in plan.compute(store).rows if r.record_id == rid)
    flag = next(f for f in row.match.flags if f.field == "village_code")
    assert flag.message == "Desa BANBARU ditemukan di Kec. GILIGINTING, bukan di kecamatan pasien: periksa"
    assert flag.master == "BANBARU (35.29.08.2007)" and row.patient["address"] == "DUSUN TENGAH"
