"""Priors over cell candidates: NIK region code, generic posterior."""

from __future__ import annotations

from pipeline.models import FieldDef
from pipeline.recognize import boxed
from pipeline.recognize.icr import CellReading


def cells(chars: str, unsure: dict[int, tuple[tuple[str, float], ...]] | None = None) -> list[CellReading]:
    out = []
    for i, ch in enumerate(chars):
        topk = (unsure or {}).get(i, ((ch, 0.995), (" ", 0.005)))
        out.append(CellReading(topk, 0.0))
    return out


NIK_FIELD = FieldDef("nik", "digits", None, (0.0, 0.0, 96.0, 8.0),
                     tuple((6.0 * i, 0.0, 6.0, 8.0) for i in range(16)))


def test_region_code_misread_is_pulled_to_the_local_kecamatan():
    # 352905 (Bluto) with its 5th digit read as 6 (352965 does not exist), runner-up 0
    c = cells("3529650101900001", {4: (("6", 0.6), ("0", 0.35), ("8", 0.05))})
    r = boxed.reading(NIK_FIELD, c)
    assert r.value == "3529650101900001"
    fixed = boxed.with_region(r, c, "35.29.05")
    assert fixed.value == "3529050101900001"
    assert fixed.confidence > r.confidence
    assert fixed.detail["region_p"] > 0.9


def test_sure_region_elsewhere_is_kept():
    c = cells("3578010101900001")  # Surabaya, read surely
    r = boxed.reading(NIK_FIELD, c)
    kept = boxed.with_region(r, c, "35.29.05")
    assert kept.value == r.value
    assert kept.confidence > 0.9  # a sure reading stands on its own


def test_posterior_of_own_value_against_a_lump_of_others():
    best, p = boxed.posterior([[("1", 0.9), ("7", 0.1)]], "1", "1", {"7": ("7", 0.5)}, 0.5)
    assert best == "1" and 0.8 < p < 1


BIRTH_FIELD = FieldDef("birth_date", "date", 0, (0.0, 0.0, 48.0, 8.0),
                       tuple((6.0 * i, 0.0, 6.0, 8.0) for i in range(8)))


def test_a_date_that_cannot_be_is_replaced_by_the_likeliest_real_one():
    # 23-11-2024 with the first year digit read as 5 (runner-up 2): year 5024 is in the future
    c = cells("23115024", {4: (("5", 0.6), ("2", 0.3), ("3", 0.1))})
    r = boxed.reading(BIRTH_FIELD, c)
    assert r.value == "2024-11-23"
    assert "note" in r.detail
    assert 0.5 < r.confidence < 1


def test_a_real_date_is_left_alone():
    c = cells("23111994", {6: (("9", 0.6), ("4", 0.4))})
    assert boxed.reading(BIRTH_FIELD, c).value == "1994-11-23"


NAME_FIELD = FieldDef("name", "letters", None, (0.0, 0.0, 72.0, 8.0),
                      tuple((6.0 * i, 0.0, 6.0, 8.0) for i in range(12)))


def test_a_name_offers_its_next_likeliest_whole_spellings():
    from pipeline.recognize import spelling

    # SUHARTINI written; two cells unsure: U/V and N/H
    c = cells("SVHARTIHI   ", {1: (("V", 0.55), ("U", 0.44), (" ", 0.01)),
                               7: (("H", 0.5), ("N", 0.49), (" ", 0.01))})
    r = boxed.reading(NAME_FIELD, c)
    alternatives = [v for v, _ in r.topk[1:]]
    assert r.value == "SUHARTINI"  # the letter model reads the name
    assert len(alternatives) == 3 and len(set(alternatives)) == 3 and r.value not in alternatives
    assert "SUHARTIHI" in alternatives
    spellings = [boxed.compose("letters", p) for p, _ in spelling.best_readings([list(x.topk) for x in c], 6)]
    assert alternatives == [v for i, v in enumerate(spellings) if v not in spellings[:i]][1:4]
    probabilities = [p for _, p in r.topk]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0001


def test_the_best_spellings_start_with_the_decoded_one():
    from pipeline.recognize import spelling

    c = [list(x.topk) for x in cells("SITI AMINAH ", {2: (("T", 0.6), ("I", 0.39), (" ", 0.01)),
                                                       6: (("M", 0.5), ("N", 0.49), (" ", 0.01))})]
    ranked = spelling.best_readings(c, 6)
    assert ranked[0] == spelling.decode(c)
    assert len(ranked) == 6 and len({tuple(p) for p, _ in ranked}) == 6
    assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)


def test_an_address_is_read_with_the_words_that_structure_addresses():
    from dataclasses import replace

    import numpy as np

    from pipeline.recognize import spelling

    # JL RAYA written; its J looks more like an I
    unclear = {0: (("I", 0.7), ("J", 0.295), (" ", 0.005))}
    address = replace(NAME_FIELD, name="address", role="address")
    assert boxed.reading(address, cells("IL RAYA     ", unclear)).value == "JL RAYA"
    assert boxed.reading(NAME_FIELD, cells("IL RAYA     ", unclear)).value == "IL RAYA"  # a name is no address
    assert float(np.exp(spelling.for_address()).sum(axis=-1).max()) < 1.0001  # still a distribution per context


RM_FIELD = FieldDef("rm_no", "digits", None, (0.0, 0.0, 48.0, 8.0), tuple((6.0 * i, 0.0, 6.0, 8.0) for i in range(8)))


def test_an_empty_field_offers_no_digit_in_a_cell_without_ink():
    empty = [CellReading(((" ", 0.9995), ("6", 6e-5), ("1", 5e-5)), 0.9995, ink=False) for _ in range(8)]
    assert boxed.reading(RM_FIELD, empty).topk == (("", 0.996),)
    specked = [*empty[:7], CellReading(((" ", 0.97), ("1", 0.03)), 0.97)]
    assert [v for v, _ in boxed.reading(RM_FIELD, specked).topk[1:]] == ["1"]

