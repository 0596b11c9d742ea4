"""Which rows of a queue sheet become records: a row of specks the readers see nothing in does not."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline import extract, forms, template
from pipeline.align import mm_to_px
from pipeline.recognize import read


def _queue_sheet():
    form = forms.load("antrean")
    return form, template.blank(form).copy()


def _specks(img: np.ndarray, cell: tuple[float, float, float, float]) -> None:
    """Grey specks inside a cell, as a noisy black-and-white scan leaves them."""
    x, y, w, h = mm_to_px(cell)
    rng = np.random.default_rng(int(x + y))
    for _ in range(40):
        px, py = int(x + rng.uniform(0.2, 0.8) * w), int(y + rng.uniform(0.2, 0.8) * h)
        img[py:py + 2, px:px + 2] = 120


def _one(img: np.ndarray, cell: tuple[float, float, float, float]) -> None:
    """A written ``1`` in a cell."""
    x, y, w, h = mm_to_px(cell)
    cv2.line(img, (x + w // 2, y + h // 5), (x + w // 2, y + 4 * h // 5), 30, 4)


def test_a_row_with_specks_only_the_readers_see_nothing_in_is_no_record():
    form, page = _queue_sheet()
    ink = template.drop_print(page, form)
    written = [f for f in form.record_fields(0) if f.name == "queue_no"][0]
    for img in (page, ink):
        for c in written.cells:
            _one(img, c)
    specked = [f for f in form.record_fields(3) if f.name == "name"][0]
    for c in specked.cells[:4]:
        _specks(ink, c)  # what the row-ink measure sees; the cell reader sees paper
    assert 3 in read.filled_records(ink, form)  # the ink measure alone would make it a record
    got = read.read_form(page, ink, form)
    assert got.records == (0,)
    assert all(r.record in (None, 0) for r in got.readings)
    assert {r.value for r in got.readings if r.name == "queue_no"} == {"111"}


def test_a_row_whose_cells_hold_ink_stays_a_record_even_if_nothing_is_read():
    form, page = _queue_sheet()
    ink = template.drop_print(page, form)
    row = [f for f in form.record_fields(2) if f.name == "rm_no"][0]
    for img in (page, ink):
        for c in row.cells[:2]:
            x, y, w, h = mm_to_px(c)
            img[y + h // 2 - 3:y + h // 2 + 3, x + w // 4:x + 3 * w // 4] = 60  # a dash: maybe a value
    assert 2 in read.filled_records(ink, form)
    got = read.read_form(page, ink, form)
    assert 2 in got.records
    assert extract.ink_fraction(ink, row.cells[0], 0.06) > 0.0
