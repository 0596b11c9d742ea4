"""Sample scans: truth.jsonl agrees with what was drawn, serials are unique, files are what they claim."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline import cli
from pipeline._exec import poppler
from pipeline.models import FieldDef
from susulan_tools.synth import aging, fill, make

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME = re.compile(r"^\d{2}:\d{2}$")


@pytest.fixture(scope="module")
def pages() -> list[make.SamplePage]:
    """Six pages, both forms, all three kinds (real render, rasterisation, fill and aging)."""
    return list(make.iter_pages(6, seed=3, antrean_share=0.5))


@pytest.fixture(scope="module")
def blanks(pages: list[make.SamplePage]) -> list[np.ndarray]:
    grey = fill.rasterise([(p.filled.form, p.plan.serial) for p in pages])
    return [cv2.cvtColor(g, cv2.COLOR_RGB2GRAY) for g in grey]


def _ink(page: np.ndarray, blank: np.ndarray, box: tuple[float, float, float, float], inner: float = 0.6) -> int:
    """Pixels in the central ``inner`` part of a box (mm) that are clearly darker than on the blank page."""
    x, y, w, h = fill.mm_to_px(box, 200)
    dx, dy = w * (1 - inner) / 2, h * (1 - inner) / 2
    x0, y0, x1, y1 = round(x + dx), round(y + dy), round(x + w - dx), round(y + h - dy)
    grey = cv2.cvtColor(page, cv2.COLOR_RGB2GRAY)
    diff = blank[y0:y1, x0:x1].astype(int) - grey[y0:y1, x0:x1].astype(int)
    return int((diff > 60).sum())


def _check_field(page: np.ndarray, blank: np.ndarray, f: FieldDef, value: str, detail: dict) -> None:
    if f.kind == "choice":
        ink = {o.value: _ink(page, blank, o.box, 1.0) for o in f.options}
        crossed = detail.get("crossed_out", {}).get(f.name)
        if not value:
            assert max(ink.values()) == 0, f.key
            return
        others = [n for v, n in ink.items() if v not in (value, crossed)]
        assert ink[value] > 30 and ink[value] > 3 * max(others, default=0), (f.key, value, ink)
        if crossed:
            assert ink[crossed] > 0.5 * ink[value], (f.key, crossed, ink)
    elif f.kind == "text":
        assert (_ink(page, blank, f.box, 0.9) > 50) == bool(value), (f.key, value)
    else:
        assert len(f.cells) >= len(value.replace(":", "").replace("-", "")), (f.key, value)
        # a written cell has ink in most of it; a blank cell none in its middle (neighbours may overhang a little)
        inked = [_ink(page, blank, c, 0.9) > 40 for c in f.cells]
        clean = [_ink(page, blank, c, 0.6) == 0 for c in f.cells]
        layouts = [fill.cell_chars(value, f.kind, len(f.cells), right) for right in (False, True)]
        assert any(all(inked[i] if ch else clean[i] for i, ch in enumerate(chars)) for chars in layouts), \
            (f.key, value, inked, clean)


@pytest.mark.slow
def test_truth_agrees_with_what_was_drawn(pages: list[make.SamplePage], blanks: list[np.ndarray]) -> None:
    assert {p.plan.form_id for p in pages} == {"pendaftaran", "antrean"}
    for sp, blank in zip(pages, blanks):
        form, image = sp.filled.form, sp.filled.image
        truth = {t["record"]: t for t in sp.truth()}
        rows = range(form.records_per_page)
        for r in rows:
            for f in form.record_fields(r):
                if form.records_per_page > 1 and f.record is None:
                    continue
                line = truth.get(r)
                value = line["fields"][f.name] if line else ""
                _check_field(image, blank, f, value, line["detail"] if line else {})
        if form.records_per_page > 1:
            (date,) = {t["fields"]["visit_date"] for t in truth.values()}
            _check_field(image, blank, form.page_fields()[0], date, {})


def test_truth_lines_are_in_export_form(pages: list[make.SamplePage]) -> None:
    for sp in pages:
        lines = sp.truth()
        assert lines and all(t["page_id"] == sp.page_id == f"{t['form_id']}-{t['serial']:06d}" for t in lines)
        if sp.plan.form_id == "antrean":
            assert 6 <= len(lines) <= 15 and [t["record"] for t in lines] == list(range(len(lines)))
        for t in lines:
            fields = t["fields"]
            assert set(fields) == set(sp.filled.form.field_names())
            assert DATE.match(fields["visit_date"]) and TIME.match(fields["arrival_time"])
            assert re.match(r"^\d{3}$", fields["queue_no"]) and fields["name"] == fields["name"].upper()
            assert t["kind"] == sp.plan.kind and t["source"] == {"file": sp.plan.file, "page": sp.plan.page}


def test_aged_images_have_the_kind_and_orientation_they_claim(pages: list[make.SamplePage]) -> None:
    assert {p.plan.kind for p in pages} == set(make.KINDS)
    for sp in pages:
        a, (h, w) = sp.aged, sp.filled.image.shape[:2]
        if sp.plan.kind == "phone":
            assert a.image.ndim == 3 and max(a.image.shape) == aging.PHONE_LONG_SIDE
        else:
            assert a.image.shape == ((h, w) if a.orientation in (0, 180) else (w, h))
        if sp.plan.kind == "bw":
            assert set(np.unique(a.image)) <= {0, 255}


def test_serials_unique_within_and_across_seeds() -> None:
    a = [p.serial for p in make.plan_pages(300, seed=0)]
    b = [p.serial for p in make.plan_pages(300, seed=1)]
    assert len(set(a)) == 300 and len(set(b)) == 300 and not set(a) & set(b)
    assert a[0] == 1 and b[0] == 100_001


def test_plan_files_and_orientation() -> None:
    plans = make.plan_pages(60, seed=5)
    by_file: dict[str, list[make.PagePlan]] = {}
    for p in plans:
        by_file.setdefault(p.file, []).append(p)
    for name, group in by_file.items():
        assert [p.page for p in group] == list(range(1, len(group) + 1))
        turned = [p.orientation for p in group if p.orientation]
        if name.endswith(".pdf"):
            assert len(group) <= 10 and turned == ([180] if len(group) >= 5 else [])
        if name.endswith(".jpg"):
            assert len(group) == 1 and set(turned) <= {90, 270}
    forms_ = [p.form_id for p in plans]
    assert forms_.count("antrean") == 20


def test_page_values_share_one_day_queue() -> None:
    plans = make.plan_pages(20, seed=2)
    values = make.page_values(2, plans)
    rows = [r for v in values for r in v.values()]
    queue = [int(r["queue_no"]) for r in rows]
    assert queue == sorted(queue) and len(set(queue)) == len(queue)
    assert len({r["visit_date"] for r in rows}) == 1


@pytest.mark.slow
def test_write_samples_files_match_truth(tmp_path: Path) -> None:
    out = tmp_path / "scans"
    summary = make.write_samples(out, 7, seed=4, kinds=["feeder", "bw", "phone"], antrean_share=0.3)
    truth = make.read_truth(out / "truth.jsonl")
    assert summary["records"] == len(truth) and len({t["page_id"] for t in truth}) == 7
    pages_per_file: dict[str, int] = {}
    for t in truth:
        pages_per_file[t["source"]["file"]] = max(pages_per_file.get(t["source"]["file"], 0), t["source"]["page"])
    assert sorted(pages_per_file) == sorted(p.name for p in out.iterdir() if p.name != "truth.jsonl")
    for name, count in pages_per_file.items():
        path = out / name
        if name.endswith(".pdf"):
            assert int(poppler.pdf_info(path)["Pages"]) == count
            assert poppler.rasterise(path, count, 50).ndim == 2
        elif name.endswith(".tif"):
            with Image.open(path) as im:
                assert im.n_frames == count and im.info["compression"] == "group4"
        else:
            assert count == 1 and cv2.imread(str(path)) is not None
    again = make.iter_pages(7, seed=4, kinds=["feeder", "bw", "phone"], antrean_share=0.3)
    for sp in again:
        assert sp.truth() == [t for t in truth if t["page_id"] == sp.page_id]
        if sp.plan.kind == "phone":
            stored = cv2.cvtColor(cv2.imread(str(out / sp.plan.file)), cv2.COLOR_BGR2RGB)
            assert np.array_equal(stored, sp.aged.image)


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_makes_samples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s"
    code, stdout, stderr = _run(["samples", "make", "--out", str(out), "--pages", "2", "--seed", "9",
                                 "--kinds", "feeder,phone"], capsys)
    assert code == 0 and stdout == "" and "wrote 2 page(s)" in stderr
    assert (out / "truth.jsonl").exists()
    code, _, _ = _run(["samples", "make", "--out", str(out), "--pages", "1", "--kinds", "bw"], capsys)
    assert code == 0 and sorted(p.name for p in out.iterdir()) == ["bw-001.tif", "truth.jsonl"]


@pytest.mark.parametrize("extra, message", [
    (["--pages", "0"], "--pages must be between 1 and 99999, not 0"),
    (["--pages", "ten"], "--pages must be a whole number, not 'ten'"),
    (["--pages", "3", "--seed", "-1"], "--seed must be between 0 and 9999, not -1"),
    (["--pages", "3", "--split", "holdout"], "--split must be one of train, calib, test, not 'holdout'"),
    (["--pages", "3", "--kinds", "fax"], "--kinds must be some of feeder, bw, phone (got fax)"),
    (["--pages", "3", "--antrean-share", "2"], "--antrean-share must be between 0 and 1, not 2.0"),
])
def test_cli_bad_arguments_exit_1_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                extra: list[str], message: str) -> None:
    code, stdout, stderr = _run(["samples", "make", "--out", str(tmp_path / "x"), *extra], capsys)
    assert (code, stdout, stderr) == (1, "", f"susulan: {message}\n")
    assert not (tmp_path / "x").exists()


def test_cli_refuses_foreign_folder_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    code, _, stderr = _run(["samples", "make", "--out", str(tmp_path), "--pages", "1"], capsys)
    assert code == 1 and stderr.count("\n") == 1 and "already holds other files (e.g. notes.txt)" in stderr
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    code, _, stderr = _run(["samples", "make", "--out", str(tmp_path / "notes.txt"), "--pages", "1"], capsys)
    assert code == 1 and stderr.count("\n") == 1 and "is a file" in stderr


def test_a_fixed_writer_writes_every_page() -> None:
    pages = list(make.iter_pages(2, seed=4, writer=7, kinds=["feeder"]))
    hands = {t["detail"]["hand"] for p in pages for t in p.truth()}
    assert len(hands) == 1 and hands.pop().startswith("writer7/")
    assert {p.filled.hand.writer for p in pages} == {7}
    assert len({(p.filled.hand.pen, p.filled.hand.width_px, p.filled.hand.slant) for p in pages}) == 1
