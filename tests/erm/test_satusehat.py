"""``--target satusehat`` against a real FHIR server process (sekmet-fhir) holding a "national" patient index.

The server wants OAuth2 client-credentials tokens that expire after a few seconds. A push is killed while
a Bundle is on the server, then resumed: the pre-loaded patients stay untouched, no Patient is created for
a NIK the index knows, and every Encounter points at the right patient and practitioner.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from pipeline import cli
from pipeline.erm import auth, ledger, push, requirements
from pipeline.erm.settings import load as load_settings
from pipeline.export import fhir
from pipeline.export.fhir import NIK_SYSTEM
from pipeline.store import Store

from .fhir_server import CLIENT_ID, CLIENT_SECRET, FhirServer
from .test_push import REPO, decided_world, ledger_counts

LIFETIME = 6  # seconds an access token lives on the test server
pytestmark = pytest.mark.slow
with_oauth = pytest.mark.parametrize("server", [LIFETIME], indirect=True)  # the server wants expiring tokens



@pytest.fixture
def db(backend: str | None) -> str | None:
    """Tests that ask for it run on both store backends (SQLite, PostgreSQL)."""
    return backend

def nik_of(row: dict) -> str:
    return requirements.nik_of(row["data"]["patient"], row["data"].get("paper") or {})


def seed_index(server: FhirServer, inserts: list[dict], leave_out: set[str]) -> dict[str, dict]:
    """The national index: a Patient for every known patient's NIK (but ``leave_out``), plus strangers."""
    st = load_settings()
    seeded = {}
    known = {nik_of(r) for r in inserts if r["data"]["match"]["outcome"] == "linked"} - leave_out
    strangers = ["3529014506700001", "3529021203650002", "3529056108990003"]
    for nik in sorted(known) + strangers:
        res = server.create({"resourceType": "Patient", "identifier": [{"use": "official", "system": NIK_SYSTEM,
                                                                         "value": nik}],
                             "name": [{"text": f"PASIEN NASIONAL {nik[-4:]}"}], "gender": "unknown"})
        seeded[nik] = res
    for duty in {d.nik: d for d in st.duties}.values():
        server.create({"resourceType": "Practitioner", "identifier": [{"system": NIK_SYSTEM, "value": duty.nik}],
                       "name": [{"text": duty.name}]})
    return seeded


@with_oauth
def test_killed_satusehat_push_resumes_and_points_every_encounter_at_the_right_patient(tmp_path, server, proxy, db):
    w, inserts = decided_world(tmp_path)
    rows = {r["record_id"]: r for r in inserts}
    other_poli = rows[w.ids["erm_other_poli"]]  # a known patient the national index does not have yet
    seeded = seed_index(server, inserts, leave_out={nik_of(other_poli)})
    practitioners = {i["value"]: p["id"] for p in server.all("Practitioner") for i in p["identifier"]}

    proxy.delay_s = 1.0
    env = {**os.environ, "SUSULAN_CLIENT_SECRET": CLIENT_SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "erm", "push", "--target", "satusehat",
                             "--fhir-url", proxy.base, "--token-url", server.token_url, "--client-id", CLIENT_ID,
                             "--batch-size", "2", "--data-dir", str(w.data_dir)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:  # kill it while its 2nd Bundle is on the server, answer not yet read
            c = ledger_counts(w.data_dir)
            if c.get("accepted", 0) >= 2 and c.get("sending", 0) >= 1 and len(server.all("Encounter")) >= 4:
                break
            assert proc.poll() is None, f"push finished before it could be interrupted: {proc.stderr.read()}"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    assert ledger_counts(w.data_dir) == {"accepted": 2, "sending": 2} and len(server.all("Encounter")) == 4

    proxy.delay_s = 0.3
    # the client's clock runs 20x fast, so its token is due for renewal after 0.1 s of real time
    # (2 s on its clock): the resumed push surely renews, however few requests are left
    start = time.monotonic()
    credentials = auth.ClientCredentials(server.token_url, CLIENT_ID, CLIENT_SECRET, refresh_s=LIFETIME - 2,
                                         clock=lambda: start + 20 * (time.monotonic() - start))
    with Store.open(w.data_dir) as store:
        report = push.push(store, proxy.base, load_settings(), target="satusehat", auth=credentials, batch_size=2)
        entries = {e["record_id"]: e for e in ledger.entries(store)}
        ids = ledger.identities(store, proxy.base, "Patient")
    assert report.verified == 2 and report.accepted == len(inserts) - 4 and report.already == 2, report.text()
    assert report.complete, report.text()
    assert credentials.fetched >= 2 and proxy.statuses[401] == 0  # renewed before expiry, never refused

    patients = {p["id"]: p for p in server.all("Patient")}
    for before in seeded.values():  # the national index is read, never written
        assert patients[before["id"]] == before
    niks = Counter(i["value"] for p in patients.values() for i in p["identifier"] if i["system"] == NIK_SYSTEM)
    assert set(niks.values()) == {1}
    new = {nik_of(r) for r in inserts if r["data"]["match"]["outcome"] == "new"} | {nik_of(other_poli)}
    assert set(niks) == set(seeded) | new and len(patients) == len(seeded) + len(new)
    created = [p for p in patients.values() if p["id"] not in {s["id"] for s in seeded.values()}]
    for p in created:  # the full minimum data set, nothing half-filled
        assert p["gender"] in ("male", "female") and p["birthDate"] and p["name"][0]["text"]
        codes = {x["url"] for x in p["address"][0]["extension"][0]["extension"]}
        assert {"province", "city", "district", "village"} <= codes

    encounters = server.all("Encounter")
    assert sorted(e["identifier"][0]["value"] for e in encounters) == sorted(r["visit_key"] for r in inserts)
    assert set(proxy.sent.values()) == {1} and len(proxy.sent) == len(inserts)  # no Encounter posted twice
    st = load_settings()
    for enc in encounters:
        row = next(r for r in inserts if r["visit_key"] == enc["identifier"][0]["value"])
        nik = nik_of(row)
        assert enc["subject"]["reference"] == f"Patient/{ids[nik]}"
        assert nik in [i["value"] for i in patients[ids[nik]]["identifier"]]
        visit = row["data"]["visit"]
        duty = st.duty(visit["poli"], datetime.fromisoformat(visit["visit_date"]).date())
        assert enc["participant"][0]["individual"]["reference"] == f"Practitioner/{practitioners[duty.nik]}"
        assert enc["status"] == "finished" and [h["status"] for h in enc["statusHistory"]] == \
            ["arrived", "in-progress", "finished"]
        local = datetime.fromisoformat(f"{visit['visit_date']}T{visit['arrival_time']}").replace(tzinfo=st.tz)
        assert enc["period"]["start"] == local.astimezone(UTC).isoformat(timespec="seconds")
        assert enc["period"]["start"].endswith("+00:00") and enc["period"]["end"] > enc["period"]["start"]
        assert entries[row["record_id"]]["patient_ref"] == f"Patient/{ids[nik]}"

    posts, secret = proxy.posts, tmp_path / "secret.txt"
    secret.write_text(CLIENT_SECRET + "\n", encoding="utf-8")
    assert cli.main(["erm", "push", "--target", "satusehat", "--fhir-url", proxy.base, "--token-url",
                     server.token_url, "--client-id", CLIENT_ID, "--client-secret-file", str(secret),
                     "--data-dir", str(w.data_dir)]) == 0
    assert proxy.posts == posts  # a third push sends nothing


@with_oauth
def test_missing_practitioners_hold_visits_back_and_send_nothing(tmp_path, server, proxy, capsys):
    w, inserts = decided_world(tmp_path)
    credentials = auth.ClientCredentials(server.token_url, CLIENT_ID, CLIENT_SECRET)
    with Store.open(w.data_dir) as store:
        report = push.push(store, proxy.base, load_settings(), target="satusehat", auth=credentials)
        assert ledger.entries(store) == []
    assert len(report.held) == len(inserts) and not report.complete
    assert all("not on the server" in h for h in report.held)
    assert proxy.sent == Counter() and server.all("Encounter") == []


def test_dry_run_writes_encounters_with_conditional_references(tmp_path):
    w, inserts = decided_world(tmp_path)
    with Store.open(w.data_dir) as store:
        report = push.push(store, "http://127.0.0.1:9/fhir", replace(load_settings()), target="satusehat",
                           dry_run=True, out_dir=tmp_path / "b", batch_size=50)
    import json

    bundle = json.loads(report.files[0].read_text(encoding="utf-8"))
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Encounter"] * len(inserts)
    assert all(e["resource"]["subject"]["reference"].startswith(f"Patient?identifier={fhir.NIK_SYSTEM}|")
               for e in bundle["entry"])


@with_oauth
def test_the_erm_registration_number_becomes_the_encounter_identifier(tmp_path, server, proxy):
    """After the import, the ERM's visits are loaded again: a visit found there is sent under its number."""
    w, inserts = decided_world(tmp_path)
    seed_index(server, inserts, leave_out=set())
    linked = next(r for r in inserts if r["record_id"] == w.ids["linked_nik"])
    visit, patient = linked["data"]["visit"], linked["data"]["patient"]
    day = "-".join(reversed(visit["visit_date"].split("-")))
    (tmp_path / "kunjungan.csv").write_text(
        "Tanggal Kunjungan;No. RM;Nama Pasien;Poli;No. Registrasi\n"
        f"{day};{patient['rm_no']};{patient['name']};Poli Umum;RJ-0001\n", encoding="utf-8")
    assert cli.main(["erm", "load-visits", str(tmp_path / "kunjungan.csv"), "--data-dir", str(w.data_dir)]) == 0
    credentials = auth.ClientCredentials(server.token_url, CLIENT_ID, CLIENT_SECRET)
    with Store.open(w.data_dir) as store:
        report = push.push(store, proxy.base, load_settings(), target="satusehat", auth=credentials)
    assert report.complete, report.text()
    ids = sorted(e["identifier"][0]["value"] for e in server.all("Encounter"))
    assert ids == sorted(["RJ-0001", *(r["visit_key"] for r in inserts if r is not linked)])
