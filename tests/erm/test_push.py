"""Push against a real FHIR server process (sekmet-fhir): interrupted pushes, server errors, exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.erm import api, ledger, push
from pipeline.erm import plan as planning
from pipeline.erm.auth import StaticToken
from pipeline.erm.settings import load as load_settings
from pipeline.export.fhir import NIK_SYSTEM
from pipeline.store import Store
from tests import store_rows

from .conftest import World, build_world

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow



@pytest.fixture
def db(backend: str | None) -> str | None:
    """Tests that ask for it run on both store backends (SQLite, PostgreSQL)."""
    return backend

def decided_world(tmp: Path) -> tuple[World, list[dict]]:
    """The generated world with its three conflicts settled and the plan confirmed: 11 inserts, 10 patients."""
    w = build_world(tmp)
    with Store.open(w.data_dir) as store:
        api.decide_match(store, w.ids["twins"], w.twins[0], "siti")
        dup = next(a for a in api.ambiguous(store) if a["record_id"] == w.ids["master_dup"])
        api.decide_match(store, w.ids["master_dup"], dup["candidates"][0]["key"], "siti")
        api.decide_action(store, w.ids["erm_other_poli"], "insert", "siti")
        api.confirm_plan(store, "siti")
        _, rows = planning.confirmed(store)
    inserts = [r for r in rows if r["action"] == "insert"]
    assert len(inserts) == 11 and len({r["patient_key"] for r in inserts}) == 10
    return w, inserts


def ledger_counts(data_dir: Path) -> dict[str, int]:
    """Ledger rows per status, read while a push may be writing (either backend)."""
    return {r["status"]: int(r["n"]) for r in store_rows.rows(
        data_dir, "SELECT status, COUNT(*) AS n FROM erm_ledger GROUP BY status")}


def test_killed_push_resumes_and_server_holds_everything_exactly_once(tmp_path, server, proxy, db):
    w, inserts = decided_world(tmp_path)
    proxy.delay_s = 1.0
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "erm", "push", "--fhir-url", proxy.base,
                             "--batch-size", "2", "--data-dir", str(w.data_dir)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # kill it while its 2nd batch is on the server, answer not yet read
            c = ledger_counts(w.data_dir)
            if c.get("accepted", 0) >= 2 and c.get("sending", 0) >= 1 and proxy.forwarded >= 2:
                break
            assert proc.poll() is None, "push finished before it could be interrupted"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    before = ledger_counts(w.data_dir)
    on_server = len(server.all("Encounter"))
    assert before == {"accepted": 2, "sending": 2} and on_server == 4

    proxy.delay_s = 0
    with Store.open(w.data_dir) as store:
        report = push.push(store, proxy.base, load_settings(), batch_size=2)
    assert report.verified == 2 and report.accepted == 7 and report.already == 2 and report.complete

    patients, encounters = server.all("Patient"), server.all("Encounter")
    keys = [e["identifier"][0]["value"] for e in encounters]
    assert len(encounters) == 11 and sorted(keys) == sorted(r["visit_key"] for r in inserts)
    assert len(patients) == 10
    niks = [i["value"] for p in patients for i in p["identifier"] if i["system"] == NIK_SYSTEM]
    assert len(niks) == len(set(niks))
    assert sorted(proxy.sent) == sorted(keys) and set(proxy.sent.values()) == {1}  # nothing sent twice
    refs = {e["subject"]["reference"] for e in encounters}
    assert refs == {f"Patient/{p['id']}" for p in patients}

    posts = proxy.posts
    assert cli.main(["erm", "push", "--fhir-url", proxy.base, "--data-dir", str(w.data_dir)]) == 0
    assert proxy.posts == posts  # a third push sends nothing
    with Store.open(w.data_dir) as store:
        assert ledger.counts(store, proxy.base)["accepted"] == 11
        assert all(e["encounter_ref"].startswith("Encounter/") for e in ledger.entries(store))


def test_server_error_on_one_record_and_unreviewed_records_lose_nothing_else(tmp_path, server, proxy):
    w, inserts = decided_world(tmp_path)
    bad = next(r for r in inserts if r["record_id"] == w.ids["lama_unknown"])
    nik = bad["data"]["patient"]["nik"]
    for _ in range(2):  # the server already has this NIK twice: conditional create fails with 412
        server.create({"resourceType": "Patient", "identifier": [{"system": NIK_SYSTEM, "value": nik}]})
    proxy.fail_posts = 2  # and the first two POSTs meet a 503: retried with backoff
    with Store.open(w.data_dir) as store:
        store.set_record_state(w.ids["rm_only"], "review", "siti", note="reopened after the plan")
        report = push.push(store, proxy.base, replace(load_settings(), backoff_seconds=0.01), batch_size=5)
        rows = {e["record_id"]: e for e in ledger.entries(store, proxy.base)}
    assert proxy.failed == 2
    assert (report.accepted, report.rejected, len(report.refused)) == (9, 1, 1)
    assert rows[w.ids["lama_unknown"]]["status"] == "rejected"
    assert "412" in rows[w.ids["lama_unknown"]]["message"]
    assert rows[w.ids["rm_only"]]["status"] == "refused"
    keys = sorted(e["identifier"][0]["value"] for e in server.all("Encounter"))
    assert keys == sorted(r["visit_key"] for r in inserts
                          if r["record_id"] not in (w.ids["lama_unknown"], w.ids["rm_only"]))
    accepted = [r for r in inserts if r["record_id"] not in (w.ids["lama_unknown"], w.ids["rm_only"])]
    assert len(server.all("Patient")) == 2 + len({r["patient_key"] for r in accepted})  # seeded + accepted ones


def test_dry_run_writes_bundles_only(tmp_path):
    w, inserts = decided_world(tmp_path)
    out = tmp_path / "bundles"
    with Store.open(w.data_dir) as store:
        report = push.push(store, "http://127.0.0.1:9/fhir", load_settings(), dry_run=True, out_dir=out,
                           batch_size=5)
        assert ledger.entries(store) == []
    assert report.planned == 11 and [p.name for p in report.files] == ["bundle-0001.json", "bundle-0002.json",
                                                                       "bundle-0003.json"]


@pytest.mark.parametrize("reached_server", [True, False])
def test_an_html_answer_is_never_accepted_and_is_settled_before_anything_is_resent(tmp_path, server, proxy,
                                                                                  reached_server):
    """A proxy answers 200 with its portal page: in doubt, stopped; the next push asks the server first."""
    w, inserts = decided_world(tmp_path)
    proxy.html_posts, proxy.html_forward = True, reached_server
    with Store.open(w.data_dir) as store:
        report = push.push(store, proxy.base, load_settings(), batch_size=4)
        counts = ledger.counts(store, proxy.base)
    assert "not a FHIR transaction-response" in report.stopped and "text/html" in report.stopped
    assert (report.accepted, report.failed, report.pending) == (0, 4, len(inserts) - 4) and not report.complete
    assert counts["accepted"] == 0 and counts["failed"] == 4 and counts["rejected"] == 0
    assert len(server.all("Encounter")) == (4 if reached_server else 0)

    proxy.html_posts = False
    with Store.open(w.data_dir) as store:
        report = push.push(store, proxy.base, load_settings(), batch_size=4)
        assert ledger.counts(store, proxy.base)["accepted"] == len(inserts)
    assert report.verified == (4 if reached_server else 0) and report.complete
    assert len(server.all("Encounter")) == len(inserts)
    assert set(proxy.sent.values()) == {1}  # what reached the server was never sent again


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_stop_the_push_and_leave_records_pending(tmp_path, server, proxy, status):
    w, inserts = decided_world(tmp_path)
    proxy.status_all = status
    with Store.open(w.data_dir) as store:
        report = push.push(store, proxy.base, load_settings(), auth=StaticToken("kedaluwarsa"), batch_size=4)
        counts = ledger.counts(store, proxy.base)
    assert proxy.posts == 1 and "refused Susulan's credentials" in report.stopped
    assert "stay pending" in report.text() and report.pending == len(inserts)
    assert counts["rejected"] == 0 and counts["pending"] == 4 and counts["accepted"] == 0
    proxy.status_all = 0
    with Store.open(w.data_dir) as store:
        report = push.push(store, proxy.base, load_settings(), batch_size=4)
    assert report.accepted == len(inserts) and report.complete


def test_a_server_that_keeps_failing_stops_the_run_within_its_retry_budget(tmp_path, server, proxy):
    w, inserts = decided_world(tmp_path)
    proxy.status_all = 503
    st = replace(load_settings(), retries=4, retry_budget=2, backoff_seconds=0.01)
    with Store.open(w.data_dir) as store:
        report = push.push(store, proxy.base, st, batch_size=4)
        counts = ledger.counts(store, proxy.base)
    assert proxy.posts == 3  # 1 try + 2 retries, then the run stops (not 4 retries for each of 11 records)
    assert "retry budget of this run is spent" in report.stopped and report.retries == 2
    assert (report.failed, report.pending, report.rejected) == (4, len(inserts) - 4, 0)
    assert counts["failed"] == 4 and counts["rejected"] == 0
    assert f"{len(inserts) - 4} pending (not sent yet)" in report.text()
