"""Spot checks: sampling, the estimator and its upper bound, tightening a kind's threshold for a batch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import accept, forms
from pipeline.learn import spotcheck
from pipeline.store import Store
from pipeline.store import spotchecks as repo
from tests.learn.clinic import Clinic, writer_glyphs


def test_upper_bound_is_clopper_pearson() -> None:
    assert spotcheck.upper_bound(0, 20) == pytest.approx(1 - 0.05 ** (1 / 20), abs=1e-6)  # 13.9 %
    assert spotcheck.upper_bound(3, 1000) == pytest.approx(0.00775, abs=5e-5)
    assert spotcheck.upper_bound(0, 600) == pytest.approx(0.00498, abs=5e-5)
    assert spotcheck.upper_bound(0, 0) == 1.0 and spotcheck.upper_bound(5, 5) == 1.0
    assert spotcheck.upper_bound(1, 100) > spotcheck.upper_bound(0, 100)


def test_headline_speaks_indonesian() -> None:
    est = spotcheck.Estimate("all", 1000, 3, 0, 0.001)
    assert spotcheck.headline(est) == "perkiraan salah di nilai otomatis: 0,3 % (≤ 0,8 %)"


def test_allocate_two_percent_at_least_twenty_per_batch() -> None:
    assert sum(spotcheck.allocate({"digits": 3000, "choice": 2000}).values()) == 100
    assert spotcheck.allocate({"digits": 3000, "choice": 2000}) == {"digits": 60, "choice": 40}
    small = spotcheck.allocate({"digits": 50, "letters": 5, "time": 1})
    assert sum(small.values()) == 20 and small["time"] == 1 and small["letters"] >= 1
    assert spotcheck.allocate({"digits": 7}) == {"digits": 7}
    assert spotcheck.allocate({}) == {}


def test_tighter_threshold_keeps_the_pessimistic_error_under_target() -> None:
    confs = [0.9999] * 50 + [0.999] * 50 + [0.99] * 50 + [0.95] * 20
    assert spotcheck.tighter_threshold(confs, factor=1.0) == 0.99  # as calibrated: 0.95s would push it past 0.5 %
    assert spotcheck.tighter_threshold(confs, factor=5.0) == 0.999
    assert spotcheck.tighter_threshold(confs, factor=1000.0) == accept.NEVER  # nothing of that kind stays auto
    assert spotcheck.tighter_threshold([1.0] * 10, factor=10.0) == 1.0  # 10 x 0.005 % is within 0.5 %
    assert spotcheck.tighter_threshold([1.0] * 10, factor=200.0) == accept.NEVER  # a wrong one seen at 1.0


@pytest.fixture
def batch_of_auto_values(tmp_path: Path) -> Iterator[tuple[Store, Clinic]]:
    with Store.open(tmp_path / "data") as store:
        clinic = Clinic(store, writer_glyphs(""), {})  # a hand the shipped model reads surely: values are auto
        clinic.add_pages(15, seed=5)
        yield store, clinic


def test_spot_checks_turn_auto_values_into_ordinary_review_values(batch_of_auto_values: tuple[Store, Clinic]
                                                                   ) -> None:
    store, clinic = batch_of_auto_values
    auto = {r["id"] for r in repo.auto_values(store)}
    assert len(auto) >= 25
    assert spotcheck.sample(store, seed=1) == 20
    checks = repo.checks(store)
    assert len(checks) == 20 and {c["field_id"] for c in checks} <= auto
    kinds = forms.accept_kinds()
    for c in checks:
        f = store.field(c["field_id"])
        assert f["status"] == "review" and f["final_value"] == c["machine_value"]
        form_id = store.q("SELECT form_id FROM pages WHERE id = ?", (f["page_id"],))[0]["form_id"]
        assert c["kind"] == kinds[(form_id, f["name"])]  # counted under the kind whose threshold made it auto
    assert not store.q("SELECT id FROM audit WHERE action = 'machine'")  # unmarked: no change shows in history
    assert spotcheck.sample(store, seed=1) == len(auto) - 20  # the rest (fewer than 20): never a value twice
    assert {c["field_id"] for c in repo.checks(store)} == auto and not repo.auto_values(store)


def test_answers_give_the_estimate_and_tighten_the_batch(batch_of_auto_values: tuple[Store, Clinic]) -> None:
    store, clinic = batch_of_auto_values
    spotcheck.sample(store, seed=1)
    checks = repo.checks(store)
    est = spotcheck.estimates(store)
    assert est["digits"].checked == 0 and est["digits"].pending == 20
    wrong_one = checks[0]["field_id"]
    for c in checks:
        f = store.field(c["field_id"])
        if c["field_id"] == wrong_one:
            store.set_value(f["id"], "1" * len(f["final_value"]), "perawat", f["version"])
        else:
            store.confirm(f["id"], "perawat", f["version"])
    est = spotcheck.estimates(store)["digits"]
    assert (est.checked, est.wrong, est.pending) == (20, 1, 0)
    assert est.rate == 0.05 and est.upper > spotcheck.TARGET
    before = {r["id"]: r for r in repo.auto_values(store)}
    confirmed = {c["field_id"]: store.field(c["field_id"]) for c in checks}
    done = spotcheck.tighten(store)
    assert done and all(t.kind == "digits" and t.new > t.old for t in done)
    assert sum(t.held_back for t in done) > 0
    policy = accept.for_data_dir(store.data_dir)
    for t in done:
        assert policy.threshold("digits", t.batch) == t.new
        assert policy.threshold("digits") < t.new  # only that batch is tightened
    for field_id, row in before.items():
        now = store.field(field_id)
        assert now["final_value"] == row["final_value"]
        assert now["status"] == ("auto" if now["confidence"] >= policy.threshold("digits", row["batch_id"])
                                 else "review")
    for field_id, row in confirmed.items():  # what people decided never changes
        assert dict(store.field(field_id)) == dict(row)
    notes = store.q("SELECT field, note FROM audit WHERE action = 'threshold'")
    assert len(notes) == len(done) and "1 dari 20 nilai otomatis salah" in notes[0]["note"]
    data = json.loads((store.data_dir / accept.DATA_DIR_FILE).read_text())
    assert set(data["batches"]) == {str(t.batch) for t in done}


def test_no_tightening_without_a_wrong_answer(batch_of_auto_values: tuple[Store, Clinic]) -> None:
    store, clinic = batch_of_auto_values
    spotcheck.sample(store, seed=1)
    for c in repo.checks(store):
        f = store.field(c["field_id"])
        store.confirm(f["id"], "perawat", f["version"])
    est = spotcheck.estimates(store)["digits"]
    assert est.wrong == 0 and est.upper > spotcheck.TARGET  # 0 of 20 cannot show 0.5 %
    assert spotcheck.tighten(store) == []
    assert not (store.data_dir / accept.DATA_DIR_FILE).exists()


def test_values_of_approved_records_are_never_sampled(batch_of_auto_values: tuple[Store, Clinic]) -> None:
    store, clinic = batch_of_auto_values
    approved = store.record_ids()[:10]
    for rid in approved:
        store.set_record_state(rid, "approved", "ani")
    before = {f["id"]: dict(f) for rid in approved for f in store.record_fields(rid)}
    spotcheck.sample(store, seed=1)
    sampled = {c["field_id"] for c in repo.checks(store)}
    assert sampled and not sampled & set(before)
    assert {f["id"]: dict(f) for rid in approved for f in store.record_fields(rid)} == before
