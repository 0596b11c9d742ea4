"""The poppler wrapper: scanner PDFs give their embedded JPEG directly, vector PDFs are rasterised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pipeline import forms, render
from pipeline._exec import poppler


def test_scanner_pdf_page_is_taken_as_its_jpeg(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    pdf = tmp_path / "scan.pdf"
    pages = [Image.fromarray(np.full((300, 200), v, np.uint8)) for v in (40, 200)]
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=100)
    data = poppler.single_jpeg(pdf, 2)
    assert data is not None and data[:2] == b"\xff\xd8"
    assert list(tmp_path.iterdir()) == [pdf]  # nothing left behind


def test_vector_pdf_has_no_single_jpeg(tmp_path: Path) -> None:
    pdf = tmp_path / "form.pdf"
    render.write_pdf(pdf, [(forms.load("antrean"), 1)])
    assert poppler.single_jpeg(pdf, 1) is None
    h, w = poppler.rasterise(pdf, 1, 50).shape
    assert abs(w - 297 / 25.4 * 50) <= 1 and abs(h - 210 / 25.4 * 50) <= 1
