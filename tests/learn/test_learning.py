"""The learning guard: a better adaptation is used and recorded, a worse one never; rollback; models per value."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pipeline import run
from pipeline.cli import main as cli
from pipeline.commands.learn import listing
from pipeline.errors import BadInput
from pipeline.learn import adapter, hands
from pipeline.recognize import icr
from pipeline.store import Store, spotchecks
from pipeline.store import learning as repo
from tests.learn.clinic import Clinic, writer_glyphs

HELD = 4


@pytest.fixture(scope="module")
def reviewed_clinic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with 16 pages of one writer whose 4s and 7s the shipped model misreads, all reviewed."""
    data = tmp_path_factory.mktemp("clinic") / "data"
    with Store.open(data) as store:
        clinic = Clinic(store, writer_glyphs("47"), {})
        clinic.add_pages(16, seed=1)
        assert clinic.review_all() > 8  # the shipped model gets many values wrong
    return data


@pytest.fixture
def clinic(reviewed_clinic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setattr(adapter, "PENALTIES", (1e-3,))  # penalty choice is not what these tests are about
    data = tmp_path / "data"
    shutil.copytree(reviewed_clinic, data)
    with Store.open(data) as store:
        yield store


def test_better_adaptation_is_used_and_reads_the_writer(clinic: Store) -> None:
    report = hands.learn(clinic, min_held_back=HELD)
    assert report.adopted, report.text()
    assert report.candidate is not None and report.current is not None
    assert report.candidate.wrong < report.current.wrong
    assert report.candidate.auto_wrong <= report.current.auto_wrong
    active = repo.active_adaptation(clinic)
    assert active is not None and active["version"] == report.version == "adapt-0001"
    assert (clinic.data_dir / active["path"]).exists()
    assert hands.active_adapter_path(clinic) == clinic.data_dir / active["path"]
    # new pages of the same writer, read with the adaptation: right, and each value says which model read it
    more = Clinic(clinic, writer_glyphs("47"), {}, hands.reading_model(clinic))
    more.add_pages(3, seed=2)
    rows = [clinic.field(i) for i in more.truth]
    assert rows and all(r["final_value"] == more.truth[r["id"]] for r in rows)
    adapted = icr.model_version(clinic.data_dir / active["path"])
    assert active["model"] == adapted != icr.model_version()
    by_model = {m["model"]: m for m in repo.values_by_model(clinic)}
    assert by_model[adapted]["n"] == len(rows) and by_model[adapted]["adaptation"] == "adapt-0001"
    assert by_model[icr.model_version()]["n"] == 32 and by_model[icr.model_version()]["adaptation"] is None
    audit = clinic.q("SELECT * FROM audit WHERE action = 'adaptation'")
    assert [(a["old"], a["new"]) for a in audit] == [("(model bawaan)", "adapt-0001")]


def _worse(x: np.ndarray, y: np.ndarray, groups: np.ndarray, alphabet: str) -> adapter.Head:
    """A head that confuses every digit with the next one."""
    w, b, t = adapter._shipped(alphabet)
    return adapter.Head(np.roll(w, 1, axis=1).astype(np.float32), np.roll(b, 1).astype(np.float32), t)


def test_worse_adaptation_is_never_used(clinic: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    first = hands.learn(clinic, min_held_back=HELD)
    assert first.adopted
    monkeypatch.setattr(hands, "fit_head", _worse)
    worse = hands.learn(clinic, min_held_back=HELD)
    assert not worse.adopted and "does not beat adapt-0001" in worse.reason
    assert worse.candidate is not None and worse.current is not None
    assert worse.candidate.wrong > worse.current.wrong
    assert repo.active_adaptation(clinic)["version"] == "adapt-0001"
    rows = {r["version"]: r for r in repo.adaptations(clinic)}
    assert rows["adapt-0002"]["state"] == "rejected" and rows["adapt-0002"]["path"] == ""
    assert not (clinic.data_dir / "models" / "adapt-0002.npz").exists()


def test_shipped_model_is_kept_when_the_adaptation_is_worse(clinic: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hands, "fit_head", _worse)
    report = hands.learn(clinic, min_held_back=HELD)
    assert not report.adopted and "shipped model" in report.reason
    assert repo.active_adaptation(clinic) is None and hands.active_adapter_path(clinic) is None


def test_nothing_is_judged_on_too_few_held_back_values(clinic: Store) -> None:
    report = hands.learn(clinic, min_held_back=10_000)
    assert not report.adopted and "held-back" in report.reason
    assert repo.active_adaptation(clinic) is None


def test_rollback_goes_back_one_version_then_to_the_shipped_model(clinic: Store,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert hands.learn(clinic, min_held_back=HELD).version == "adapt-0001"
    monkeypatch.setattr(hands.rv.Score, "beaten_by", lambda self, other: True)  # force a second version in
    assert hands.learn(clinic, min_held_back=HELD).adopted
    assert repo.active_adaptation(clinic)["version"] == "adapt-0002"
    assert hands.rollback(clinic, "admin") == "adapt-0001"
    assert hands.rollback(clinic, "admin") == ""
    assert repo.active_adaptation(clinic) is None
    with pytest.raises(BadInput, match="already uses the shipped model"):
        hands.rollback(clinic, "admin")
    assert hands.rollback(clinic, "admin", to=2) == "adapt-0002"
    with pytest.raises(BadInput):
        hands.rollback(clinic, "admin", to=99)
    audit = clinic.q("SELECT old, new, note, \"user\" AS who FROM audit WHERE action = 'adaptation' ORDER BY id")
    assert [(a["old"], a["new"], a["note"]) for a in audit][-3:] == [
        ("adapt-0002", "adapt-0001", "rollback"), ("adapt-0001", "(model bawaan)", "rollback"),
        ("(model bawaan)", "adapt-0002", "rollback")]
    assert audit[-1]["who"] == "admin"


def test_adaptation_of_another_shipped_model_is_not_used(clinic: Store) -> None:
    assert hands.learn(clinic, min_held_back=HELD).adopted
    with clinic.tx() as c:
        c.execute("UPDATE adaptations SET base_model = 'icr-000000000000'")
    assert hands.active_adapter_path(clinic) is None and hands.load_active(clinic) is None


def test_learning_is_due_after_enough_new_reviews(clinic: Store) -> None:
    reviewed = len(clinic.q("SELECT id FROM audit WHERE action IN ('set', 'confirm')"))
    assert hands.due(clinic, every=reviewed) and not hands.due(clinic, every=reviewed + 1)
    assert hands.maybe_learn(clinic, every=reviewed + 1) is None
    assert hands.maybe_learn(clinic, every=reviewed) is not None
    assert not hands.due(clinic, every=1)  # nothing reviewed since that attempt


def test_taking_a_masters_names_does_not_delay_the_next_refit(clinic: Store, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    reviewed = len(clinic.q("SELECT id FROM audit WHERE action IN ('set', 'confirm')"))
    monkeypatch.setattr(hands, "master_words", lambda store: ["SITI AMINAH", "BLUTO"])
    monkeypatch.setattr(hands, "master_mark", lambda store: "f00d@2026-12-01T01:00:00")
    assert hands.due(clinic, every=reviewed + 1)  # a master not learned from yet
    report = hands.learn(clinic, min_held_back=10**6, every=reviewed + 1)
    assert report.lexicon_only and report.adopted
    assert not hands.due(clinic, every=reviewed + 1)
    assert hands.due(clinic, every=reviewed)  # the reviews before it still count towards the next refit
    report = hands.learn(clinic, min_held_back=10**6, every=reviewed)  # the refit they triggered
    assert report.lexicon_only and not hands.due(clinic, every=1)  # now they are seen: no run after every approval


def test_cli_learn_list_and_rollback(clinic: Store, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(clinic.data_dir)
    assert cli(["learn", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert "Learned from 24 reviewed value(s)" in out
    assert "Nothing changed: only 8 reviewed value(s) on held-back pages; 20 needed to judge." in out
    assert cli(["learn", "--list", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert "adapt-0001  rejected" in out and f"{icr.model_version()} (shipped): 32" in out
    assert cli(["learn", "--rollback", "--data-dir", data]) == 1
    assert "already uses the shipped model" in capsys.readouterr().err


def test_ingest_workers_read_with_the_active_adaptation(tmp_path: Path) -> None:
    """Real sample pages through the real ingest: values record the model that read them, before and after rollback."""
    scans = tmp_path / "scans"
    assert cli(["samples", "make", "--out", str(scans), "--pages", "2", "--seed", "31", "--kinds", "phone"]) == 0
    first, second = sorted(scans.glob("phone-*.jpg"))
    data = tmp_path / "data"
    path = data / "models" / "adapt-0001.npz"
    with Store.open(data) as store:
        same = adapter.Adaptation("adapt-0001", icr.model_version(),
                                  {a: adapter.Head(*_shipped_head(a)) for a in ("digits", "letters")})
        same.save(path)
        row = repo.add_adaptation(store, icr.model_version(), 0, "test")
        repo.settle_adaptation(store, row, "adapt-0001", "models/adapt-0001.npz", icr.model_version(path), {}, True,
                               "test")
    summary = run.ingest_paths([first], data, jobs=1, learn=False)
    with Store.open(data) as store:
        assert [(m["model"], m["adaptation"]) for m in repo.values_by_model(store)] == [
            (icr.model_version(path), "adapt-0001")]
        checks = spotchecks.checks(store)  # ingest put a random sample of the auto values before a person
        left = len(spotchecks.auto_values(store))
        assert summary.spot_checked == len(checks) == min(20, len(checks) + left) > 0  # 20, or all if fewer
        assert spotchecks.pending(store) == {c["field_id"] for c in checks}
        assert all(store.field(c["field_id"])["status"] == "review" for c in checks)
        hands.rollback(store, "admin")
    run.ingest_paths([second], data, jobs=1, learn=False)
    with Store.open(data) as store:
        assert {m["model"] for m in repo.values_by_model(store)} == {icr.model_version(path), icr.model_version()}


def _shipped_head(alphabet: str) -> tuple[np.ndarray, np.ndarray, float]:
    w, b, t = adapter._shipped(alphabet)
    return w.astype(np.float32), b.astype(np.float32), t


def test_learning_and_rollback_on_postgresql(pg_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same store calls on PostgreSQL: reviewed cells found, adaptation adopted, rolled back, audited."""
    monkeypatch.setattr(adapter, "PENALTIES", (1e-3,))
    name = pg_server.new_database()
    monkeypatch.setenv("SUSULAN_DB", pg_server.url(name))
    try:
        with Store.open(tmp_path / "data") as store:
            clinic = Clinic(store, writer_glyphs("47"), {})
            clinic.add_pages(16, seed=1)
            clinic.review_all()
            report = hands.learn(store, min_held_back=HELD)
            assert report.adopted and report.candidate.wrong < report.current.wrong
            assert hands.reading_model(store) == store.data_dir / "models" / "adapt-0001.npz"
            assert hands.rollback(store, "admin") == "" and hands.reading_model(store) == icr.MODEL_PATH
            assert [m["n"] for m in repo.values_by_model(store)] == [32]
            assert len(store.q("SELECT id FROM audit WHERE action = 'adaptation'")) == 2
    finally:
        pg_server.drop_database(name)


def test_an_interrupted_learning_run_does_not_count_as_an_attempt(clinic: Store) -> None:
    reviewed = len(clinic.q("SELECT id FROM audit WHERE action IN ('set', 'confirm')"))
    repo.add_adaptation(clinic, icr.model_version(), repo.review_mark(clinic), "susulan")  # then killed
    assert "not finished (interrupted, or still learning)" in listing(repo.adaptations(clinic), [])
    assert hands.due(clinic, every=reviewed)
    assert hands.maybe_learn(clinic, every=reviewed) is not None
    assert not hands.due(clinic, every=1)


def test_one_learning_run_at_a_time(clinic: Store, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(clinic.data_dir)
    with hands.one_at_a_time(clinic) as mine:
        assert mine
        with hands.one_at_a_time(clinic) as other:
            assert not other
        assert hands.maybe_learn(clinic, every=1) is None  # due, but another run is learning
        assert cli(["learn", "--data-dir", data]) == 5
        assert "Another learning run is working on this data dir now" in capsys.readouterr().out
    assert repo.adaptations(clinic) == []
    assert cli(["learn", "--if-due", "--data-dir", data]) == 0  # 32 reviewed values: not due yet
    assert "Nothing to do" in capsys.readouterr().out
    assert repo.adaptations(clinic) == []
    assert hands.maybe_learn(clinic, every=1) is not None


def test_review_app_learns_in_the_background_once_enough_values_are_reviewed(tmp_path: Path, backend: str | None
                                                                            ) -> None:
    from review_app import common

    data = tmp_path / "data"
    with Store.open(data) as store:
        clinic = Clinic(store, writer_glyphs("47"), {})
        clinic.add_pages(hands.LEARN_EVERY // 2 + 1, seed=7)  # two values a page
        assert not common.learn_in_background(store)  # nothing reviewed yet
        clinic.review_all()
        assert hands.due(store)
        assert common.learn_in_background(store)
        assert not common.learn_in_background(store)  # the server starts one at a time
        assert common._LEARNING[0].wait(timeout=300) == 0
        assert "Learned from" in (data / common.LEARN_LOG).read_text()
        assert [a["state"] for a in repo.adaptations(store)] in (["active"], ["rejected"])
        assert not hands.due(store) and not common.learn_in_background(store)
