"""Bad input and failures: each gets a clear reason, nothing is lost, nothing is counted twice, reruns are safe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from reportlab.lib import pdfencrypt
from reportlab.pdfgen.canvas import Canvas

from pipeline import forms, render
from pipeline.cli import main
from pipeline.errors import ExitCode
from tests.pipeline.conftest import printed, save_jpeg, save_pdf, tick
from tests.store_rows import count, rows

REG = {"visit_type": "baru", "sex": "P", "poli": "kia", "payment": "bpjs"}


def pages(data_dir: Path) -> list[dict]:
    return rows(data_dir, "SELECT p.*, f.name AS file FROM pages p JOIN files f ON f.id=p.file_id ORDER BY p.id")


def files(data_dir: Path) -> list[dict]:
    return rows(data_dir, "SELECT * FROM files ORDER BY id")


def ingest(paths: list[Path], data_dir: Path, capsys: pytest.CaptureFixture[str], jobs: int = 1) -> tuple[int, str]:
    code = main(["ingest", *map(str, paths), "--data-dir", str(data_dir), "--jobs", str(jobs)])
    return code, capsys.readouterr().err


def filled_reg(tmp_path: Path, serial: int, choices: dict[str, str] = REG) -> np.ndarray:
    img = printed(tmp_path, "pendaftaran", serial)
    tick(img, "pendaftaran", choices)
    return img


@pytest.mark.parametrize("name, content, reason", [
    ("empty.pdf", b"", "empty_file"),
    ("notes.pdf", b"these are not scans\n" * 20, "not_a_scan"),
    ("truncated.pdf", None, "pdf_unreadable"),
    ("corrupt.jpg", b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50, "image_unreadable"),
])
def test_unreadable_files_are_kept_with_a_reason(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str],
                                                 name: str, content: bytes | None, reason: str) -> None:
    path = tmp_path / name
    if content is None:
        render.write_pdf(path, [(forms.load("pendaftaran"), 1)])
        path.write_bytes(path.read_bytes()[:300])
    else:
        path.write_bytes(content)
    code, err = ingest([path], data_dir, capsys)
    assert code == ExitCode.PAGES_NEED_ATTENTION
    [f] = files(data_dir)
    assert (f["status"], f["reason"]) == ("problem", reason)
    assert name in err and "need attention" in err or name in err
    assert (data_dir / f["stored_path"]).read_bytes() == path.read_bytes()  # the original is kept


def test_encrypted_pdf(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "locked.pdf"
    c = Canvas(str(path), encrypt=pdfencrypt.StandardEncryption("secret", canPrint=0))
    c.drawString(100, 100, "locked")
    c.save()
    code, err = ingest([path], data_dir, capsys)
    assert code == ExitCode.PAGES_NEED_ATTENTION
    [f] = files(data_dir)
    assert f["reason"] == "pdf_encrypted"
    assert "password" in err


def test_decompression_bomb_is_not_decoded(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (12_000, 12_000), 1).save(path)
    assert path.stat().st_size < 200_000
    code, err = ingest([path], data_dir, capsys)
    assert code == ExitCode.PAGES_NEED_ATTENTION
    [f] = files(data_dir)
    assert f["reason"] == "image_too_large"


def test_blank_foreign_and_good_pages_in_one_pdf(tmp_path: Path, data_dir: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    blank = np.full((2339, 1654, 3), 250, np.uint8)
    foreign = np.full((2339, 1654, 3), 255, np.uint8)
    cv2.putText(foreign, "SURAT KETERANGAN SEHAT", (150, 400), cv2.FONT_HERSHEY_SIMPLEX, 2.5, (0, 0, 0), 5)
    cv2.rectangle(foreign, (150, 600), (1500, 1800), (0, 0, 0), 4)
    good = filled_reg(tmp_path, 7)
    pdf = save_pdf([good, blank, foreign], tmp_path / "stack.pdf")
    code, err = ingest([pdf], data_dir, capsys)
    assert code == ExitCode.PAGES_NEED_ATTENTION
    got = [(p["page_no"], p["status"], p["reason"]) for p in pages(data_dir)]
    assert got == [(1, "done", ""), (2, "problem", "blank_page"), (3, "problem", "not_a_form")]
    assert "1 blank page" in err and "1 not a form" in err


def test_unknown_form_version(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    form = forms.load("pendaftaran")
    newer = forms.FormDefinition(**{**form.__dict__, "version": 9})
    pdf = tmp_path / "v9.pdf"
    render.write_pdf(pdf, [(newer, 3)])
    code, err = ingest([pdf], data_dir, capsys)
    assert code == ExitCode.PAGES_NEED_ATTENTION
    [p] = pages(data_dir)
    assert (p["status"], p["reason"]) == ("problem", "unknown_form_version")
    assert "version 9" in p["message"]


def test_same_file_twice_and_same_sheet_rescanned(tmp_path: Path, data_dir: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    img = filled_reg(tmp_path, 11)
    a = save_jpeg(img, tmp_path / "scan-a.jpg", 90)
    rot = cv2.rotate(img, cv2.ROTATE_180)  # the same sheet fed again, upside down, other JPEG quality
    b = save_jpeg(rot, tmp_path / "scan-b.jpg", 70)
    assert ingest([a], data_dir, capsys)[0] == ExitCode.OK
    code, err = ingest([a, b], data_dir, capsys)
    assert code == ExitCode.OK
    assert "already ingested" in err and "rescans" in err
    rows = pages(data_dir)
    assert [(p["status"], p["reason"]) for p in rows] == [("done", ""), ("duplicate", "same_sheet_rescanned")]
    assert rows[1]["orientation"] is None or rows[1]["copy_of"] == rows[0]["id"]
    assert count(data_dir, "records") == 1


@pytest.mark.slow
def test_photocopied_serial_with_other_content_is_kept_and_flagged(tmp_path: Path, data_dir: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    a = save_jpeg(filled_reg(tmp_path, 21), tmp_path / "a.jpg")
    b = save_jpeg(filled_reg(tmp_path, 21, {"visit_type": "lama", "sex": "L", "poli": "umum", "payment": "umum"}),
                  tmp_path / "b.jpg")
    assert ingest([a, b], data_dir, capsys)[0] == ExitCode.OK
    keys = [p["page_key"] for p in pages(data_dir)]
    assert keys == ["pendaftaran-000021", "pendaftaran-000021~2"]
    assert count(data_dir, "records") == 2
    assert count(data_dir, "issues", "rule='duplicate_serial'") == 1


FAKE_PDFTOPPM = """#!/bin/sh
# Fake poppler for tests: crash on page 2 (like a segfault), else call the real pdftoppm.
case " $* " in *" -f 2 "*) {action} ;; esac
exec {real} "$@"
"""


@pytest.mark.slow
@pytest.mark.parametrize("action, reason", [("kill -SEGV $$", "rasterise_failed"), ("kill -9 $PPID", "worker_crash")])
def test_crash_on_one_page_loses_nothing(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch, action: str, reason: str) -> None:
    import shutil

    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "pdftoppm"
    fake.write_text(FAKE_PDFTOPPM.format(action=action, real=shutil.which("pdftoppm")))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    form = forms.load("pendaftaran")
    pdf = tmp_path / "three.pdf"
    render.write_pdf(pdf, [(form, 31), (form, 32), (form, 33)])
    code, err = ingest([pdf], data_dir, capsys, jobs=2)
    assert code == ExitCode.PAGES_NEED_ATTENTION
    got = [(p["page_no"], p["status"], p["reason"]) for p in pages(data_dir)]
    assert got == [(1, "done", ""), (2, "problem", reason), (3, "done", "")]


@pytest.mark.slow
def test_killed_halfway_then_rerun(tmp_path: Path, data_dir: Path) -> None:
    form = forms.load("pendaftaran")
    pdf = tmp_path / "batch.pdf"
    n = 12
    render.write_pdf(pdf, [(form, 100 + i) for i in range(n)])
    cmd = [sys.executable, "-m", "pipeline", "ingest", str(pdf), "--data-dir", str(data_dir), "--jobs", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
        try:
            done = sum(p["status"] == "done" for p in pages(data_dir))
        except Exception:  # the store may be mid-creation (SQLite locked, tables not there yet)
            continue
        if done >= 2:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < done < n, "the kill should land halfway"
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    rows = pages(data_dir)
    assert len(rows) == n and all(p["status"] == "done" for p in rows)
    assert sorted(p["serial"] for p in rows) == [100 + i for i in range(n)]
    assert count(data_dir, "records") == n
    assert count(data_dir, "files") == 1


def multipage_tiff(tmp_path: Path, path: Path, serials: list[int]) -> Path:
    frames = [Image.fromarray(filled_reg(tmp_path, s)).convert("L") for s in serials]
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="tiff_lzw", dpi=(200, 200))
    return path


def huge_jpeg(path: Path, width: int, height: int) -> Path:
    """A small JPEG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    import io
    import struct

    buf = io.BytesIO()
    Image.new("L", (64, 64), 255).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def test_bad_files_in_a_folder_never_stop_the_batch(tmp_path: Path, data_dir: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    whole = multipage_tiff(tmp_path, tmp_path / "whole.tif", [61, 62, 63]).read_bytes()
    for share in (50, 75, 99):
        (folder / f"a-cut{share}.tif").write_bytes(whole[:len(whole) * share // 100])
    Image.new("1", (20_000, 20_000), 1).save(folder / "b-400mpx.png")
    huge_jpeg(folder / "c-900mpx.jpg", 30_000, 30_000)
    (folder / "d-notes.txt").write_text("daftar pasien yang belum dipindai\n")
    (folder / "e-data.bin").write_bytes(bytes(range(256)) * 4)
    save_jpeg(filled_reg(tmp_path, 64), tmp_path / "f.jpg").rename(folder / "f-photo.jpg.download")
    save_jpeg(filled_reg(tmp_path, 65), folder / "z-last.jpg")
    code, err = ingest([folder], data_dir, capsys)
    assert code == ExitCode.PAGES_NEED_ATTENTION
    assert "d-notes.txt" in err and "text file" in err
    by_name = {f["name"]: f for f in files(data_dir)}
    assert sorted(by_name) == ["a-cut50.tif", "a-cut75.tif", "a-cut99.tif", "b-400mpx.png", "c-900mpx.jpg",
                               "e-data.bin", "f-photo.jpg.download", "z-last.jpg"]
    assert (by_name["b-400mpx.png"]["status"], by_name["b-400mpx.png"]["reason"]) == ("problem", "image_too_large")
    assert (by_name["c-900mpx.jpg"]["status"], by_name["c-900mpx.jpg"]["reason"]) == ("problem", "image_too_large")
    assert (by_name["e-data.bin"]["status"], by_name["e-data.bin"]["reason"]) == ("problem", "not_a_scan")
    read = {(p["file"], p["page_no"]): (p["status"], p["reason"]) for p in pages(data_dir)}
    assert read[("z-last.jpg", 1)] == ("done", "") and read[("f-photo.jpg.download", 1)] == ("done", "")
    for share in (50, 75, 99):  # every cut TIFF is accounted for: a file problem, or each page with a state
        f = by_name[f"a-cut{share}.tif"]
        got = [v for (name, _), v in read.items() if name == f"a-cut{share}.tif"]
        assert f["status"] == "problem" and f["reason"] == "image_unreadable" or \
            got and all(s in ("done", "problem") for s, _ in got)
        assert f["status"] != "problem" or f["message"]
    for f in by_name.values():
        assert f["status"] in ("ok", "problem") and (f["status"] == "ok" or f["reason"])
    assert ingest([folder], data_dir, capsys)[0] == ExitCode.OK  # a rerun: everything known, nothing new


def test_pdf_wrapping_a_huge_jpeg_is_not_decoded(tmp_path: Path, data_dir: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    jpg = huge_jpeg(tmp_path / "inner.jpg", 30_000, 30_000)
    pdf = tmp_path / "wrapped.pdf"
    c = Canvas(str(pdf), pagesize=(595, 842))
    c.drawImage(str(jpg), 0, 0, 595, 842)
    c.save()
    code, _ = ingest([pdf], data_dir, capsys)
    assert code == ExitCode.PAGES_NEED_ATTENTION
    [p] = pages(data_dir)
    assert (p["status"], p["reason"]) == ("problem", "image_too_large")


def test_sixteen_bit_grey_scan_is_read(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a real 16-bit scan: black is not 0 (here ink ~3,000 and paper ~49,000 of 65,535)
    grey = cv2.cvtColor(filled_reg(tmp_path, 71), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 180 + 3000
    path = tmp_path / "scan16.png"
    assert cv2.imwrite(str(path), grey)
    assert Image.open(path).mode.startswith("I")
    code, _ = ingest([path], data_dir, capsys)
    assert code == ExitCode.OK
    [p] = pages(data_dir)
    assert (p["status"], p["page_key"]) == ("done", "pendaftaran-000071")


@pytest.mark.parametrize("fmt", ["WEBP", "HEIF"])
def test_phone_formats_are_read(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str],
                                fmt: str) -> None:
    path = tmp_path / f"photo.{fmt.lower()}"
    Image.fromarray(filled_reg(tmp_path, 81)).save(path, fmt, quality=90)
    code, err = ingest([path], data_dir, capsys)
    assert code == ExitCode.OK, err
    [p] = pages(data_dir)
    assert (p["status"], p["page_key"]) == ("done", "pendaftaran-000081")


def test_unreadable_file_is_listed_and_read_once_it_can_be(tmp_path: Path, data_dir: Path) -> None:
    import shutil

    folder = tmp_path / "scans"
    folder.mkdir()
    locked = save_jpeg(filled_reg(tmp_path, 91), folder / "a-locked.jpg")
    save_jpeg(filled_reg(tmp_path, 92), folder / "b-open.jpg")
    locked.chmod(0o000)
    # root reads anything: run without the capabilities that let it (as a clerk's account would run)
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0 and not setpriv:
        pytest.skip("running as root without setpriv (util-linux): a permission-denied file cannot be made")
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    cmd = [*prefix, sys.executable, "-m", "pipeline", "ingest", str(folder), "--data-dir", str(data_dir), "--jobs", "1"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == ExitCode.PAGES_NEED_ATTENTION, run.stderr
    assert "Traceback" not in run.stderr and "a-locked.jpg" in run.stderr and "permission" in run.stderr
    status = subprocess.run([sys.executable, "-m", "pipeline", "status", "--data-dir", str(data_dir)],
                            capture_output=True, text=True, timeout=60)
    assert "a-locked.jpg" in status.stdout
    assert [p["page_key"] for p in pages(data_dir) if p["status"] == "done"] == ["pendaftaran-000092"]
    locked.chmod(0o644)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == ExitCode.OK, again.stderr
    assert sorted(p["page_key"] for p in pages(data_dir)) == ["pendaftaran-000091", "pendaftaran-000092"]
    assert [f["status"] for f in files(data_dir) if f["name"] == "a-locked.jpg"] == ["discarded", "ok"]
