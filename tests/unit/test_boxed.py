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
