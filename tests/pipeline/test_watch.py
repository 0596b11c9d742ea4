"""Watching a scanner folder: complete files are ingested once and moved; half-written files wait."""

from __future__ import annotations

from pathlib import Path

from pipeline import forms, render, watch
from tests.store_rows import rows


def test_a_growing_file_is_not_ready_until_it_settles(tmp_path: Path) -> None:
    f = tmp_path / "scan.pdf"
    f.write_bytes(b"%PDF-1.4 partial")
    seen: dict = {}
    assert watch.ready_files(tmp_path, seen, settle=3, now=0.0) == []
    f.write_bytes(b"%PDF-1.4 partial, more bytes arrived")
    assert watch.ready_files(tmp_path, seen, settle=3, now=5.0) == []  # changed: the clock restarts
    assert watch.ready_files(tmp_path, seen, settle=3, now=6.0) == []
    assert watch.ready_files(tmp_path, seen, settle=3, now=8.5) == [f]


def test_hidden_files_wait_and_every_other_file_is_handed_to_ingest(tmp_path: Path) -> None:
    (tmp_path / ".scan.pdf.part").write_bytes(b"x")
    (tmp_path / "notes.txt").write_bytes(b"x")  # ingest says what it is (never skipped without a word)
    (tmp_path / "IMG_0001.HEIC").write_bytes(b"x")
    seen: dict = {}
    watch.ready_files(tmp_path, seen, settle=0, now=0.0)
    assert watch.ready_files(tmp_path, seen, settle=0, now=1.0) == [tmp_path / "IMG_0001.HEIC",
                                                                     tmp_path / "notes.txt"]


def test_watch_once_ingests_and_moves(tmp_path: Path, data_dir: Path) -> None:
    inbox, data = tmp_path / "inbox", data_dir
    inbox.mkdir()
    render.write_pdf(inbox / "a.pdf", [(forms.load("pendaftaran"), 5)])
    watch.watch(inbox, data, interval=0.1, settle=0.2, once=True)
    assert not (inbox / "a.pdf").exists() and (inbox / "done" / "a.pdf").exists()
    assert rows(data, "SELECT status, page_key FROM pages") == [{"status": "done", "page_key": "pendaftaran-000005"}]
