"""Store-side review queries and actions, and staff accounts, on hand-made pages."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, Factory, queue_row

from pipeline.errors import BadInput
from pipeline.models import Issue
from pipeline.store import Conflict, sheets, users
from pipeline.store import review as rv


@pytest.fixture
def db(backend: str | None) -> str | None:
    """The store's review queries and actions run on SQLite and on PostgreSQL."""
    return backend


def test_accounts_hash_verify_and_refuse(factory: Factory) -> None:
    store = factory.store
    assert [u.name for u in users.list_users(store)] == ["ani", "budi"]
    row = store.db.q("SELECT password FROM users WHERE name='ani'")[0]["password"]
    assert row.startswith("scrypt$") and PASSWORD not in row
    assert users.verify(store, "ani", PASSWORD).role == "reviewer"
    assert users.verify(store, "budi", PASSWORD).is_admin
    with pytest.raises(users.LoginFailed):
        users.verify(store, "ani", "salah")
    with pytest.raises(users.LoginFailed):
        users.verify(store, "siapa", PASSWORD)
    with pytest.raises(BadInput, match="already exists"):
        users.add_user(store, "ani", "another-pw", "reviewer")
    with pytest.raises(BadInput, match="at least"):
        users.add_user(store, "cici", "123", "reviewer")
    users.set_active(store, "ani", False, "budi")
    with pytest.raises(users.LoginFailed):
        users.verify(store, "ani", PASSWORD)
    assert users.hash_password("x") != users.hash_password("x")  # salted


def test_apply_changes_audits_and_revalidates(factory: Factory) -> None:
    store = factory.store
    rid = factory.pendaftaran(unsure={"sex": ("L", 0.4)})
    assert [i["rule"] for i in store.issues(rid)] == ["nik_sex"]
    sex = next(f for f in store.record_fields(rid) if f["name"] == "sex")
    applied = rv.apply_changes(store, [rv.Change(sex["id"], sex["version"], "P")], "ani")
    assert applied.saved == [sex["id"]] and not applied.conflicts and applied.records == [rid]
    assert store.issues(rid) == []
    audit = store.history(rid)[-1]
    assert (audit["user"], audit["field"], audit["old"], audit["new"]) == ("ani", "sex", "L", "P")
    # a second person working from the old version is refused and told the newer value
    again = rv.apply_changes(store, [rv.Change(sex["id"], sex["version"], "L")], "budi")
    assert again.saved == [] and again.conflicts[0].current["value"] == "P"
    assert again.conflicts[0].current["by"] == "ani"


def test_approve_blocked_until_fixed_or_overridden(factory: Factory) -> None:
    store = factory.store
    rid = factory.pendaftaran(unsure={"sex": ("L", 0.4)})
    with pytest.raises(rv.Blocked, match="jenis kelamin"):
        rv.approve(store, rid, "ani")
    rv.approve(store, rid, "budi", override_note="pasien memang laki-laki, NIK salah cetak")
    assert store.record(rid)["state"] == "approved"
    assert "walau ada masalah" in store.history(rid)[-1]["note"]
    with pytest.raises(Conflict):
        rv.approve(store, factory.pendaftaran(), "ani", expected_version=99)


def test_approve_confident_counts(factory: Factory) -> None:
    a, b = factory.pendaftaran(), factory.pendaftaran()
    unsure = factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6)})
    warned = factory.pendaftaran(visit_date="2020-01-01")  # non-blocking rule: still needs a person
    rows = factory.antrean([queue_row(), queue_row(queue_no="002")], unsure={(None, "visit_date"): ("", 0.1)})
    approved, remaining = rv.approve_confident(factory.store, "budi")
    assert (approved, remaining) == (2, 4)
    states = {r: factory.store.record(r)["state"] for r in (a, b, unsure, warned, *rows)}
    assert [states[a], states[b], states[unsure], states[warned]] == ["approved", "approved", "review", "review"]
    assert factory.store.history(a)[-1]["user"] == "budi"


def test_revalidate_keeps_ingest_issues(factory: Factory) -> None:
    store = factory.store
    rid = factory.pendaftaran()
    store.replace_issues(rid, [Issue("", "duplicate_serial", "Nomor lembar sama (fotokopi?)", blocking=False)])
    assert [i.rule for i in rv.revalidate(store, rid)] == ["duplicate_serial"]


def test_column_and_page_level_fields(factory: Factory) -> None:
    store = factory.store
    rows = factory.antrean([queue_row(), queue_row(name="SITI ROMLAH", queue_no="002")],
                           unsure={(1, "name"): ("SITI R0MLAH", 0.5), (None, "visit_date"): ("2026-13-01", 0.2)})
    grid = sheets.column(store, "antrean", "name")
    assert len(grid) == 1 and grid[0]["machine_value"] == "SITI R0MLAH" and grid[0]["record_no"] == 1
    dates = sheets.column(store, "antrean", "visit_date")
    assert dates[0]["record_no"] is None and dates[0]["issues"]
    # fixing the shared date re-validates every row of the sheet
    applied = rv.apply_changes(store, [rv.Change(dates[0]["id"], dates[0]["version"], "2026-01-05")], "ani")
    assert sorted(applied.records) == sorted(rows)
    names = {n["name"]: n["n_look"] for n in sheets.field_names(store, "antrean")}
    assert names["name"] == 1 and names["visit_date"] == 0


def test_overview_counts(factory: Factory) -> None:
    factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6)})
    factory.antrean([queue_row(), queue_row(queue_no="002")], visit_date="2026-01-05")
    page = factory.problem_page()
    t = rv.totals(factory.store)
    assert (t["pages"], t["records"], t["open"], t["values_to_review"], t["problem_pages"]) == (2, 3, 3, 1, 1)
    days = {(r["form_id"], r["day"]): r for r in rv.per_form_day(factory.store)}
    assert days[("antrean", "2026-01-05")]["records"] == 2 and days[("antrean", "2026-01-05")]["pages"] == 1
    rv.discard_page(factory.store, page, "ani")
    assert rv.totals(factory.store)["problem_pages"] == 0
    assert factory.store.db.q("SELECT action FROM audit ORDER BY id DESC LIMIT 1")[0]["action"] == "page_discard"


def test_simultaneous_saves_of_one_version_let_exactly_one_win(factory: Factory, data_dir) -> None:
    """Eight reviewers on eight connections save the same field from the same version at once."""
    import threading

    from pipeline.store import Store

    rid = factory.pendaftaran(unsure={"name": ("SITI AMlNAH", 0.6)})
    name = next(f for f in factory.store.record_fields(rid) if f["name"] == "name")
    stores = [Store(data_dir) for _ in range(8)]
    start = threading.Barrier(len(stores))
    outcome: list[str] = []

    def save(i: int) -> None:
        start.wait()
        try:
            stores[i].set_value(name["id"], f"SITI AMINAH {i}", f"user{i}", name["version"])
            outcome.append("saved")
        except Conflict:
            outcome.append("conflict")

    threads = [threading.Thread(target=save, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert sorted(outcome) == ["conflict"] * 7 + ["saved"]
    assert factory.store.field(name["id"])["version"] == name["version"] + 1
    assert [h["action"] for h in factory.store.history(rid)].count("set") == 1


def test_what_the_screens_offer(factory: Factory) -> None:
    from pipeline.erm import api

    store = factory.store
    assert rv.forms_present(store) == [] and rv.latest_version(store, "antrean") is None
    rid = factory.pendaftaran()
    rows = factory.antrean([queue_row(), queue_row(queue_no="002")])
    assert rv.forms_present(store) == ["antrean", "pendaftaran"]
    assert rv.latest_version(store, "antrean") == 1
    assert rv.record_state(store, rid) == "review" and rv.record_state(store, 10**6) is None
    before = api.plan_fingerprint(store)
    rv.approve(store, rid, "ani")
    assert rv.count_records(store, ("approved",)) == 1
    assert rv.count_records(store, ("review",), "antrean") == len(rows)
    assert api.plan_fingerprint(store) != before
