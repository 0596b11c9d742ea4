"""The printed PDF matches the layout JSON: every box is found in the rasterised page within 0.5 mm."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline import forms, identify, render
from pipeline.models import PageId

DPI = 300
PX = DPI / 25.4


def _raster(tmp_path: Path, form_id: str, serial: int = 41) -> np.ndarray:
    form = forms.load(form_id)
    pdf = tmp_path / f"{form_id}.pdf"
    render.write_pdf(pdf, [(form, serial)])
    subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", "-png", str(pdf), str(tmp_path / form_id)], check=True)
    return cv2.imread(str(next(tmp_path.glob(f"{form_id}*.png"))), cv2.IMREAD_GRAYSCALE)


def _edge(img: np.ndarray, pos_mm: float, span_mm: tuple[float, float], vertical: bool) -> float:
    """Measured position (mm) of the darkest line within 1 mm of ``pos_mm``."""
    a, b = (round(v * PX) for v in span_mm)
    lo, hi = round((pos_mm - 1) * PX), round((pos_mm + 1) * PX)
    band = img[a:b, lo:hi] if vertical else img[lo:hi, a:b].T
    profile = band.astype(np.float64).mean(axis=0)
    return (lo + float(np.argmin(profile)) + 0.5) / PX


def _boxes(form: forms.FormDefinition) -> list[tuple[str, tuple[float, float, float, float]]]:
    out = []
    for f in form.fields:
        parts = [o.box for o in f.options] if f.kind == "choice" else ([f.box] if f.kind == "text" else f.cells)
        out += [(f.key, b) for b in parts]
    return out


@pytest.mark.parametrize("form_id", ["pendaftaran", "antrean"])
def test_every_box_is_printed_where_the_layout_says(tmp_path: Path, form_id: str) -> None:
    img = _raster(tmp_path, form_id)
    form = forms.load(form_id)
    assert img.shape[1] / PX == pytest.approx(form.page_mm[0], abs=0.5)
    worst = 0.0
    for key, (x, y, w, h) in _boxes(form):
        mid_y = (y + h * 0.3, y + h * 0.7)
        mid_x = (x + w * 0.3, x + w * 0.7)
        for expected, measured in (
            (x, _edge(img, x, mid_y, True)), (x + w, _edge(img, x + w, mid_y, True)),
            (y, _edge(img, y, mid_x, False)), (y + h, _edge(img, y + h, mid_x, False)),
        ):
            worst = max(worst, abs(measured - expected))
            assert abs(measured - expected) <= 0.5, f"{key}: edge at {measured:.2f} mm, layout says {expected:.2f}"
    assert worst < 0.5


@pytest.mark.parametrize("form_id", ["pendaftaran", "antrean"])
def test_markers_and_qr_are_readable_on_the_print(tmp_path: Path, form_id: str) -> None:
    img = _raster(tmp_path, form_id, serial=123)
    form = forms.load(form_id)
    found = identify.find(img)
    assert set(found.markers) == set(form.marker_ids)
    assert found.page_id() == PageId(form_id, form.version, 123, form.fingerprint)
    for marker_id, (x, y, _, _) in zip(form.marker_ids, form.marker_boxes):
        tl = found.markers[marker_id][0] / PX
        assert abs(tl[0] - x) < 0.5 and abs(tl[1] - y) < 0.5


def test_boxes_are_big_enough_to_write_and_tick() -> None:
    for form in forms.load_all():
        for f in form.fields:
            for o in f.options:
                assert min(o.box[2], o.box[3]) >= 5.0, f"{form.form_id}.{f.key} tick box under 5 mm"
            for c in f.cells:
                assert c[2] >= 5.0 and c[3] >= 7.0, f"{form.form_id}.{f.key} comb cell too small"
