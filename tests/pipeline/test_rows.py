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


def _write_row(page: np.ndarray, ink: np.ndarray, form, record: int) -> None:  # noqa: ANN001
    for f in form.record_fields(record):
        if f.name in ("queue_no", "rm_no"):
            for img in (page, ink):
                for c in f.cells:
                    _one(img, c)


def test_a_crossed_out_row_is_held_for_a_person_with_a_message_and_its_neighbours_are_not():
    form, page = _queue_sheet()
    ink = template.drop_print(page, form)
    for r in (0, 1, 2):
        _write_row(page, ink, form, r)
    cells = [c for f in form.record_fields(1) for c in f.cells]
    x0, y0, _, h = mm_to_px(cells[0])
    x1, _, w1, _ = mm_to_px(cells[-1])
    for img in (page, ink):  # a hand-drawn line, slightly rising, across the whole row
        cv2.line(img, (x0 - 10, y0 + 2 * h // 3), (x1 + w1 + 10, y0 + h // 3), 40, 3)
    got = read.read_form(page, template.drop_print(page, form), form)
    assert got.records == (0, 1, 2)
    row1 = [r for r in got.readings if r.record == 1]
    assert row1 and all(r.status == "review" and r.detail.get("held") == "struck" for r in row1)
    assert not [r for r in got.readings if r.record in (0, 2) and r.detail.get("held") == "struck"]
    assert [(r, i.rule, i.blocking) for r, i in got.issues if i.rule == read.STRUCK_RULE] == \
        [(1, read.STRUCK_RULE, False)]


def test_letters_written_in_the_boxes_never_make_a_crossing_line():
    form, page = _queue_sheet()
    name = [f for f in form.record_fields(4) if f.name == "name"][0]
    for c in name.cells:  # "HHHH...": a bar in every box of the longest field, all at one height
        x, y, w, h = mm_to_px(c)
        cv2.line(page, (x + w // 5, y + h // 5), (x + w // 5, y + 4 * h // 5), 30, 3)
        cv2.line(page, (x + 4 * w // 5, y + h // 5), (x + 4 * w // 5, y + 4 * h // 5), 30, 3)
        cv2.line(page, (x + w // 5, y + h // 2), (x + 4 * w // 5, y + h // 2), 30, 3)
    ink = template.drop_print(page, form)
    assert not extract.struck_through(ink, form.record_fields(4))


def test_a_registration_form_crossed_out_corner_to_corner_is_held_with_a_message():
    form = forms.load("pendaftaran")
    page = template.blank(form).copy()
    nik = [f for f in form.fields if f.name == "nik"][0]
    for c in nik.cells:
        _one(page, c)
    assert not extract.crossed_out(template.drop_print(page, form), form.fields)
    fx, fy, fw, fh = mm_to_px((20, 60, 170, 180))
    cv2.line(page, (fx, fy), (fx + fw, fy + fh), 40, 4)  # a big diagonal stroke over the filled form
    got = read.read_form(page, template.drop_print(page, form), form)
    assert all(r.status == "review" and r.detail.get("held") == "struck" for r in got.readings)
    assert [i.message.split(".")[0] for _, i in got.issues if i.rule == read.STRUCK_RULE] == \
        ["Formulir ini tampak dicoret"]
