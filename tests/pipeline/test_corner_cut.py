"""Scans with one corner cut off are still read: the printed structure completes the anchors that are left."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import align, forms, identify, ingest
from pipeline.errors import PageProblem
from pipeline.process import read_page
from tests.pipeline.corner_cut import alignment_error_mm, cut_corner

pytestmark = pytest.mark.slow


def test_pages_with_a_corner_cut_off_are_read_where_the_whole_page_is(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pipeline", "samples", "make", "--out", str(tmp_path / "s"),
                           "--pages", "3", "--seed", "23", "--kinds", "feeder", "--antrean-share", "1"],
                          capture_output=True, text=True)
    if done.returncode == 3:
        pytest.skip("the sample generator (pip install -e tools) is not installed")
    assert done.returncode == 0, done.stderr
    rng = np.random.default_rng(23)
    refused_before = 0
    for f in sorted((tmp_path / "s").glob("*.pdf")):
        for n in range(1, ingest.page_count(f) + 1):
            grey = ingest.load_page(f, n)
            whole = read_page(grey)
            cut, _ = cut_corner(grey, rng)
            form = forms.load(whole.ident.form_id, whole.ident.version)
            try:
                align.align(form, identify.find(cut))  # the anchors alone, as before
            except PageProblem:
                refused_before += 1
            got = read_page(cut)
            assert got.status == "done" and got.ident.form_id == whole.ident.form_id
            if identify.find(cut).qr_text:  # a cut through the top right also takes the QR code and serial
                assert got.ident == whole.ident
            assert alignment_error_mm(grey, cut, form.form_id, form.version) <= align.MAX_RESIDUAL_MM
    assert refused_before >= 1, "the cuts should take away what the anchors alone need"


def test_print_agreement_tells_a_right_fit_from_one_a_few_mm_off(tmp_path: Path) -> None:
    from pipeline import render
    from pipeline._exec import poppler

    form = forms.load("antrean")
    render.write_pdf(tmp_path / "a.pdf", [(form, 77)])
    grey = poppler.rasterise(tmp_path / "a.pdf", 1, 200)
    right = align.align(form, identify.find(grey)).matrix
    off = np.array([[1, 0, 2.0 * align.PX_PER_MM], [0, 1, 0], [0, 0, 1]]) @ right
    assert align.print_agreement(grey, form, right) >= 0.95
    assert align.print_agreement(grey, form, off) < align.MIN_PRINT_AGREEMENT
