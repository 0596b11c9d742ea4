from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline import extract, forms
from pipeline.learn.labels import cell_labels, cut_cells, placements


def cells(pattern: str) -> list[list]:
    """Machine cells whose best candidate is each char of ``pattern`` (``_`` = read as empty)."""
    return [[[" " if c == "_" else c, 0.9], ["1", 0.05]] for c in pattern]


def test_date_fills_eight_cells_day_first() -> None:
    assert cell_labels("date", "2025-10-30", cells("30102025")) == list("30102025")
    assert placements("date", "30-10-2025", 8) == []


def test_time_fills_four_cells_without_colon() -> None:
    assert cell_labels("time", "07:05", cells("0705")) == list("0705")
    assert cell_labels("time", "07:05", cells("07_5")) is None


def test_short_digits_left_or_right_as_the_cells_show() -> None:
    assert cell_labels("digits", "3", cells("3__")) == ["3", " ", " "]
    assert cell_labels("digits", "3", cells("__8")) == [" ", " ", "3"]
    assert cell_labels("digits", "12", cells("_1_")) is None  # written in the middle: unclear, skipped


def test_full_digits_and_empty_field() -> None:
    assert cell_labels("digits", "00012345", cells("00017345")) == list("00012345")
    assert cell_labels("digits", "", cells("___")) == [" ", " ", " "]
    assert cell_labels("digits", "12a", cells("12_")) is None


def test_letters_words_with_one_or_more_empty_cells_between() -> None:
    assert cell_labels("letters", "SITI AMINAH", cells("SITI_AMINAH__")) == list("SITI AMINAH  ")
    assert cell_labels("letters", "SITI AMINAH", cells("SITI__AMINAH_")) == list("SITI  AMINAH ")
    assert cell_labels("letters", "SITI AMINAH", cells("SITIAAMINAH__")) is None  # the gap was read as ink
    assert cell_labels("letters", "MOH", cells("M0H")) == list("MOH")  # a misread letter is what we learn from


def test_value_too_long_or_kind_unknown_gives_nothing() -> None:
    assert cell_labels("digits", "1234", cells("123")) is None
    assert cell_labels("choice", "L", cells("L")) is None
    assert cell_labels("letters", "X", []) is None


def test_cut_cells_gives_the_crops_the_reader_saw() -> None:
    form = forms.load("pendaftaran")
    field = next(f for f in form.fields if f.name == "rm_no")
    rng = np.random.default_rng(3)
    page = np.full((2400, 1700), 255, np.uint8)
    page[400:900, 300:1000] = rng.integers(0, 255, (500, 700), dtype=np.uint8)
    image = extract.field_image(page, field)
    got = cut_cells(image.png, list(image.cells_px))
    want = extract.cell_crops(page, field)
    assert len(got) == len(want) == 8
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert np.array_equal(g, w)


@pytest.mark.parametrize("bad", [b"", b"not a png"])
def test_cut_cells_of_a_broken_snippet_is_empty(bad: bytes) -> None:
    assert cut_cells(bad, [[0, 0, 4, 4]]) == []


def test_cut_cells_pads_with_paper_outside_the_snippet() -> None:
    ok, png = cv2.imencode(".png", np.zeros((20, 20), np.uint8))
    crop = cut_cells(png.tobytes(), [[2, 2, 10, 10]])[0]
    assert crop.shape == (26, 26)
    assert crop[0, 0] == 255 and crop[8, 8] == 0
