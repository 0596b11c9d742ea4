"""The letter model that reads capitals as words."""

from __future__ import annotations

import numpy as np

from pipeline.recognize import spelling


def test_committed_table_is_the_one_built_from_the_region_list():
    with np.load(spelling.TABLE_PATH) as z:
        committed = z["log_p"]
    assert np.allclose(committed, spelling.build_table())


def test_indonesian_syllables_are_likelier_than_misreads():
    assert spelling.word_log_p("SUHARTINI") > spelling.word_log_p("SVHARTLNI") + 5
    assert spelling.word_log_p("KRAJAN") > spelling.word_log_p("KRAJQN")


def test_decode_fixes_a_cell_the_classifier_was_unsure_of():
    word = "SITI SUHARTINI"
    cells = [[(c, 0.97), (" " if c != " " else "I", 0.03)] for c in word]
    cells[6] = [("V", 0.55), ("U", 0.45)]  # SVHARTINI
    chars, conf = spelling.decode(cells)
    assert "".join(chars) == word
    assert 0.5 < conf < 1


def test_decode_keeps_a_sure_reading_even_if_unusual():
    cells = [[(c, 0.999), ("A", 0.001)] for c in "XQZ"] + [[(" ", 0.999), ("A", 0.001)]]
    chars, _ = spelling.decode(cells)
    assert "".join(chars) == "XQZ "


def test_confidence_is_a_probability_and_empty_field_is_sure():
    chars, conf = spelling.decode([[(" ", 0.99), ("I", 0.01)]] * 10)
    assert "".join(chars).strip() == ""
    assert 0.95 < conf <= 1.0
