"""The letter model that reads capitals as words."""

from __future__ import annotations

import numpy as np

from pipeline.recognize import spelling


def test_committed_table_is_the_one_built_from_the_region_and_name_lists():
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


def test_decode_keeps_sure_readings_even_if_unusual():
    for text in ("ABD RAHMAN", "HJ SITI", "JL RAYA", "NY SUMIATI", "MOH HOLIQ", "DZAKI"):  # abbreviations on forms
        cells = [[(c, 0.999), ("A" if c != "A" else "E", 0.001)] if c != " " else [(" ", 0.999), ("I", 0.001)]
                 for c in text + " "]
        chars, _ = spelling.decode(cells)
        assert "".join(chars) == text + " "


def test_names_are_likelier_with_the_person_name_words():
    regions_only = spelling._log_p(spelling.region_words())
    names = spelling._table()
    assert len(spelling.person_words()) > 800 and "SITI" in spelling.person_words()
    for word, misread in (("SALSABILA", "SALSABTLA"), ("WAHYUNI", "WAHVUNI")):
        margin = [sum(t[spelling._IN[a], spelling._IN[b], spelling._OUT[c]] for a, b, c in _trigrams(w))
                  for t in (regions_only, names) for w in (word, misread)]
        assert margin[2] - margin[3] > margin[0] - margin[1]  # the name words widen the gap to the misread


def _trigrams(word: str) -> list[tuple[str, str, str]]:
    s = spelling.START * 2 + word + spelling.END
    return [(s[i], s[i + 1], s[i + 2]) for i in range(len(s) - 2)]


def test_confidence_is_a_probability_and_empty_field_is_sure():
    chars, conf = spelling.decode([[(" ", 0.99), ("I", 0.01)]] * 10)
    assert "".join(chars).strip() == ""
    assert 0.95 < conf <= 1.0


def test_log_mass_sums_every_spelling_of_the_cells():
    import itertools
    import math

    cells = [[("A", 0.6), ("K", 0.4)], [("B", 0.7), ("D", 0.3)], [("I", 0.9), ("L", 0.1)]]
    total = 0.0
    for chars in itertools.product(*cells):
        word = "".join(c for c, _ in chars)
        evidence = sum(math.log(q / spelling.class_prior(c)) for c, q in chars)
        total += math.exp(spelling.word_log_p(word) + evidence)
    assert math.isclose(spelling.log_mass(cells), math.log(total), rel_tol=1e-9)
    best, p = spelling.best_readings(cells, 1, weight=1.0)[0]
    assert math.isclose(p, math.exp(spelling.word_log_p("".join(best)) + sum(
        math.log(dict(c)[ch] / spelling.class_prior(ch)) for c, ch in zip(cells, best)) - spelling.log_mass(cells)),
        rel_tol=1e-6)
