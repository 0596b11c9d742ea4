"""Real ``susulan ingest`` processes at once, killed, or left without disk: nothing a person did is lost.

Every test here starts the real command as a separate process on a real store: the concurrent
ingests on SQLite and on PostgreSQL, the kill and disk-full cases on SQLite.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline import forms, render
from pipeline.models import PageId, PageResult, Reading
from pipeline.store import Store
from pipeline.store import review as rv
from tests import store_rows

pytestmark = pytest.mark.slow
SUSULAN = [sys.executable, "-m", "pipeline"]


def ingest_cmd(paths: list[Path], data_dir: Path, jobs: int = 1) -> list[str]:
    return [*SUSULAN, "ingest", *map(str, paths), "--data-dir", str(data_dir), "--jobs", str(jobs)]


def db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "susulan.db", timeout=30)


def count(data_dir: Path, sql: str) -> int:
    try:
        with db(data_dir) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.Error:  # not created yet, or mid-migration
        return 0


def wait_for(test: Callable[[], bool], proc: subprocess.Popen | None = None, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        assert time.monotonic() < deadline, "timed out"
        assert proc is None or proc.poll() is None, "the process ended too early"
        time.sleep(0.05)


def forms_pdf(path: Path, serials: list[int], form_id: str = "pendaftaran") -> Path:
    form = forms.load(form_id)
    render.write_pdf(path, [(form, s) for s in serials])
    return path


def stored(data_dir: Path, sql: str) -> list[tuple]:
    """Rows of a query on the store of ``data_dir`` on whichever backend the test runs (``$SUSULAN_DB``)."""
    return [tuple(r.values()) for r in store_rows.rows(data_dir, sql)]


def stored_count(data_dir: Path, sql: str) -> int:
    """``stored`` for a count while another process may still be creating the store (0 until it exists)."""
    try:
        return int(stored(data_dir, sql)[0][0])
    except Exception:  # noqa: BLE001 - not created yet, or mid-migration: ask again
        return 0


def test_two_ingests_three_seconds_apart_keep_a_reviewers_work(tmp_path: Path, backend: str | None) -> None:
    data = tmp_path / "data"
    pdf = forms_pdf(tmp_path / "stack.pdf", list(range(200, 210)))
    # the first run rasterises each page slowly, so that it is surely still reading when the second starts
    slow = fake_tool(tmp_path, "pdftoppm", SLOW_PDFTOPPM)
    first = subprocess.Popen(ingest_cmd([pdf], data), stderr=subprocess.PIPE, text=True, env=slow)
    # the second run starts a few seconds later, when the first has read three pages
    wait_for(lambda: stored_count(data, "SELECT COUNT(*) AS n FROM pages WHERE status='done'") >= 3, first)
    second = subprocess.Popen(ingest_cmd([pdf], data), stderr=subprocess.PIPE, text=True)
    # a page not read yet when the second run started is read; a reviewer corrects and approves it at once
    unread = [r[0] for r in stored(data, "SELECT id FROM pages WHERE status<>'done' ORDER BY id")]
    assert len(unread) >= 3, "the first run should still be reading"
    target = unread[-1]  # the second run surely reaches it too (it lags the first by seconds)
    wait_for(lambda: stored_count(data, f"SELECT COUNT(*) AS n FROM pages WHERE id={target} AND status='done'") == 1,
             first)
    with Store.open(data) as store:
        rid = store.records_of_page(target)[0]
        name = next(f for f in store.record_fields(rid) if f["name"] == "name")
        rv.apply_changes(store, [rv.Change(name["id"], name["version"], "SITI AMINAH")], "ani")
        rv.approve(store, rid, "ani", override_note="diperiksa")
        before = {f["id"]: (f["final_value"], f["status"], f["version"]) for f in store.record_fields(rid)}
    errs = [p.communicate(timeout=300)[1] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], errs
    assert "Traceback" not in "".join(errs)
    assert stored(data, "SELECT status, COUNT(*) AS n FROM pages GROUP BY status") == [("done", 10)]
    with Store.open(data) as store:
        assert store.record(rid)["state"] == "approved"
        after = {f["id"]: (f["final_value"], f["status"], f["version"]) for f in store.record_fields(rid)}
        assert after == before and after[name["id"]][:2] == ("SITI AMINAH", "corrected")
    orphans = stored(data, "SELECT COUNT(*) AS n FROM audit a WHERE a.record_id IS NOT NULL AND NOT EXISTS "
                           "(SELECT 1 FROM records r WHERE r.id = a.record_id)")
    assert orphans == [(0,)]
    assert stored(data, "SELECT COUNT(*) AS n FROM records") == [(10,)]
    assert stored(data, "SELECT COUNT(*) AS n FROM batches WHERE finished_at IS NULL") == [(0,)]
    assert (data / "susulan.db").exists() == (backend is None)  # the runs used the backend under test


def test_two_ingests_started_together_register_and_read_everything_once(tmp_path: Path, backend: str | None) -> None:
    data = tmp_path / "data"
    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(6):
        forms_pdf(folder / f"scan-{i}.pdf", [300 + 2 * i, 301 + 2 * i])
    procs = [subprocess.Popen(ingest_cmd([folder], data), stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errs
    assert "IntegrityError" not in "".join(errs) and "Traceback" not in "".join(errs)
    assert stored(data, "SELECT COUNT(*) AS n FROM files") == [(6,)]
    assert stored(data, "SELECT status, COUNT(*) AS n FROM pages GROUP BY status") == [("done", 12)]
    assert len(list((data / "pages").iterdir())) == 12
    assert stored(data, "SELECT COUNT(*) AS n FROM records") == [(12,)]
    assert (data / "susulan.db").exists() == (backend is None)


SLOW_PDFTOPPM = """#!/bin/sh
# Fake poppler for tests: each page takes over a second to rasterise.
sleep 1.2
exec {real} "$@"
"""


FAKE_PDFINFO = """#!/bin/sh
# Fake poppler for tests: pdfinfo is slow, so that a kill lands while files are being registered.
sleep 0.4
exec {real} "$@"
"""


def fake_tool(tmp_path: Path, name: str, script: str) -> dict[str, str]:
    import shutil

    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / name
    fake.write_text(script.format(real=shutil.which(name)))
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}


def test_kill_during_file_registration_loses_no_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(8):
        forms_pdf(folder / f"scan-{i}.pdf", [400 + i])
    env = fake_tool(tmp_path, "pdfinfo", FAKE_PDFINFO)
    proc = subprocess.Popen(ingest_cmd([folder], data), stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    wait_for(lambda: count(data, "SELECT COUNT(*) FROM files") >= 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    registered = count(data, "SELECT COUNT(*) FROM files")
    assert registered < 8, "the kill should land during registration"
    assert count(data, "SELECT COUNT(*) FROM files f WHERE NOT EXISTS "
                       "(SELECT 1 FROM pages p WHERE p.file_id = f.id)") == 0, "a file was stored without its pages"
    rerun = subprocess.run(ingest_cmd([folder], data), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    conn = db(data)
    assert conn.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 8
    assert sorted(r[0] for r in conn.execute("SELECT serial FROM pages WHERE status='done'")) == \
        list(range(400, 408))
    outcomes = [r[0] for r in conn.execute("SELECT outcome FROM batches ORDER BY id")]
    assert outcomes[0].startswith("interrupted") and outcomes[1] == "finished"


def children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_pool_workers_die_with_their_killed_parent_and_the_run_is_closed_later(tmp_path: Path) -> None:
    data = tmp_path / "data"
    pdf = forms_pdf(tmp_path / "stack.pdf", list(range(500, 512)))
    proc = subprocess.Popen(ingest_cmd([pdf], data, jobs=2), stderr=subprocess.DEVNULL)
    wait_for(lambda: count(data, "SELECT COUNT(*) FROM pages WHERE status='reading'") > 0, proc)
    wait_for(lambda: len(children(proc.pid)) >= 2, proc)
    workers = children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [w for w in workers if alive(w)], "pool workers outlived their killed parent"
    assert count(data, "SELECT COUNT(*) FROM batches WHERE finished_at IS NULL") == 1
    rerun = subprocess.run(ingest_cmd([pdf], data, jobs=2), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "interrupted run" in rerun.stderr
    assert count(data, "SELECT COUNT(*) FROM batches WHERE finished_at IS NULL") == 0
    assert count(data, "SELECT COUNT(*) FROM pages WHERE status='done'") == 12


@pytest.fixture
def small_disk(tmp_path: Path):  # noqa: ANN201
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_is_one_line_and_a_rerun_finishes(tmp_path: Path, small_disk: Path) -> None:
    from PIL import Image

    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(4):  # large, incompressible files: the originals alone overflow the disk
        Image.frombytes("RGB", (1200, 900), os.urandom(1200 * 900 * 3)).save(folder / f"photo-{i}.png")
    data = small_disk / "data"
    run = subprocess.run(ingest_cmd([folder], data), capture_output=True, text=True, timeout=300)
    assert run.returncode == 5, run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "disk is full" in run.stderr
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    rerun = subprocess.run(ingest_cmd([folder], data), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 4, rerun.stderr  # the photos are not forms: read, and each page says why
    conn = db(data)
    assert conn.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 4
    assert conn.execute("SELECT status, COUNT(*) FROM pages GROUP BY status").fetchall() == [("problem", 4)]
    assert conn.execute("SELECT COUNT(*) FROM batches WHERE finished_at IS NULL").fetchone()[0] == 0


def test_a_machine_revision_waits_for_an_approval_being_committed_and_then_leaves_it_alone(
        tmp_path: Path, backend: str | None) -> None:
    """A spot check (or any machine revision) racing a reviewer's approval never changes the approved record."""
    data = tmp_path / "data"
    with Store.open(data) as person:
        file_id = person.add_file("sha-race", "race.pdf", "/x/race.pdf", 1, person.start_batch("tests"))
        page_id = person.ensure_pages(file_id, 1)[0]["id"]
        nik = Reading("nik", 0, "digits", "3529054708850003", 0.999, "auto", "icr", (("3529054708850003", 0.999),), {})
        person.save_page(page_id, PageResult("done", ident=PageId("pendaftaran", 1, 1), readings=(nik,), records=(0,)),
                         "pendaftaran-000001", None)
        rid = person.records_of_page(page_id)[0]
        field = dict(person.record_fields(rid)[0])
        outcome: dict[str, bool] = {}

        def machine() -> None:
            with Store.open(data) as store:
                outcome["revised"] = store.revise_machine(field["id"], field["version"], field["final_value"],
                                                          field["confidence"], "review", None, "")

        racer = threading.Thread(target=machine)
        with person.tx():
            person.set_record_state(rid, "approved", "ani")
            racer.start()
            time.sleep(1.5)
            assert racer.is_alive()  # it waits for the approval being committed ...
        racer.join(timeout=60)
        assert outcome == {"revised": False}  # ... then sees it and changes nothing
        now = person.record_fields(rid)[0]
        assert (now["status"], now["version"]) == ("auto", field["version"])
        assert person.record(rid)["state"] == "approved"
