"""Invented Sumenep patients: NIK agrees with birth date and sex, villages are real, values fit the boxes."""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from pipeline import forms, regions
from susulan_tools.synth import fill, people

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
DIGITS = re.compile(r"^\d*$")
LETTERS = re.compile(r"^([A-Z]+( [A-Z]+)*)?$")
FAST = [Phase.explicit, Phase.reuse, Phase.generate]  # a seed has nothing to shrink


def _day(seed: int, n: int = 40) -> list[people.Visit]:
    rng = np.random.default_rng(seed)
    return people.make_day(rng, people.first_day(rng), n)


@given(SEEDS)
@settings(max_examples=25, deadline=None, phases=FAST)
def test_nik_agrees_with_birth_date_sex_and_region(seed: int) -> None:
    regions = {k.replace(".", "") for k in (people.KECAMATAN, *people.NEIGHBOURS)}
    for v in _day(seed):
        p = v.patient
        if not p.nik:
            assert (v.visit_date - p.birth_date).days < 90, "only newborns may come without a NIK"
            continue
        assert len(p.nik) == 16 and p.nik.isdigit()
        assert p.nik[:6] in regions
        day = p.birth_date.day + (40 if p.sex == "P" else 0)
        assert p.nik[6:12] == f"{day:02d}{p.birth_date.month:02d}{p.birth_date.year % 100:02d}"
        assert p.nik[12:] != "0000"


def test_make_nik_women_add_40_to_the_day() -> None:
    rng = np.random.default_rng(0)
    assert people.make_nik(rng, date(1990, 3, 7), "P")[:12] == "352905470390"
    assert people.make_nik(rng, date(2001, 12, 31), "L", "352906")[:12] == "352906311201"


@given(SEEDS)
@settings(max_examples=25, deadline=None, phases=FAST)
def test_villages_are_desa_of_bluto(seed: int) -> None:
    known = dict(people.villages())
    assert len(known) == 20
    for v in _day(seed, 20):
        assert v.patient.village_code.startswith("35.29.05.")
        assert known[v.patient.village_code] == v.patient.village
        assert v.patient.village == regions.codes()[v.patient.village_code].upper()


@pytest.mark.parametrize("form_id", ["pendaftaran", "antrean"])
def test_values_fit_their_boxes_and_kinds(form_id: str) -> None:
    form = forms.load(form_id)
    fields = {f.name: f for f in form.fields}
    for seed in range(8):
        for v in _day(seed, 60):
            values = people.pendaftaran_values(v) if form_id == "pendaftaran" else people.antrean_values(v)
            assert set(values) == set(form.field_names())
            for name, value in values.items():
                f = fields[name]
                if f.kind == "choice":
                    assert value in {o.value for o in f.options}
                elif f.kind == "letters":
                    assert LETTERS.match(value), value
                    assert len(fill.cell_chars(value, f.kind, len(f.cells))) == len(f.cells)
                elif f.kind in ("digits", "date", "time"):
                    chars = fill.cell_chars(value, f.kind, len(f.cells))
                    assert DIGITS.match("".join(chars)), (name, value)
                else:
                    assert len(value) <= 40


@given(SEEDS)
@settings(max_examples=25, deadline=None, phases=FAST)
def test_visit_values_are_plausible(seed: int) -> None:
    visits = _day(seed, 60)
    times = [v.arrival_time for v in visits]
    assert times == sorted(times) and "07:00" <= times[0] and times[-1] <= "14:00"
    assert [v.queue_no for v in visits] == list(range(1, 61))
    for v in visits:
        p = v.patient
        age_days = (v.visit_date - p.birth_date).days
        assert 0 <= age_days <= 91 * 365.25
        assert v.visit_date.weekday() != 6
        assert (len(v.rm_no) == 8 and v.rm_no.isdigit()) if v.visit_type == "lama" else v.rm_no == ""
        assert p.bpjs_no == "" or (len(p.bpjs_no) == 13 and p.bpjs_no.startswith("000"))
        assert p.phone == "" or (p.phone.startswith("08") and 10 <= len(p.phone) <= 13)
        assert 1 <= len(p.rw) <= len(p.rt) <= 3 and p.rt.isdigit() and p.rw.isdigit()
        assert len(p.address) <= 24 and len(p.name) <= 24
        if v.poli == "lansia":
            assert age_days >= 60 * 365
        if v.poli == "mtbs":
            assert age_days < 6 * 366


def test_sex_agrees_with_name() -> None:
    male = set(people.MALE_OLD) | set(people.MALE_YOUNG)
    female = set(people.FEMALE_OLD) | set(people.FEMALE_YOUNG)
    assert not male & female
    rng = np.random.default_rng(1)
    for _ in range(400):
        age = int(rng.integers(0, 90))
        men, women = people.make_name(rng, "L", age), people.make_name(rng, "P", age)
        assert not men.startswith(("SITI", "NUR ", "UMMI"))
        assert not women.startswith(("MOH", "ACH", "ABD", "MUHAMMAD", "AHMAD"))
        assert len(men) <= 24 and len(women) <= 24


def test_short_name_for_the_queue_sheet() -> None:
    assert people.short_name("SITI NIKMATUS SHOLIHAH", 20) == "SITI NIKMATUS"
    assert people.short_name("MOH HOLILI", 20) == "MOH HOLILI"


def test_batch_date_and_working_days() -> None:
    for seed in range(50):
        d = people.first_day(np.random.default_rng(seed))
        assert people.FIRST_DAY <= d <= people.LAST_DAY and d.weekday() != 6
    assert people.next_working_day(date(2025, 11, 1)) == date(2025, 11, 3)  # Saturday -> Monday
    assert people.next_working_day(date(2025, 11, 3)) == date(2025, 11, 3) + timedelta(days=1)


def test_samples_can_start_on_a_given_day_with_the_same_patients():
    from datetime import date

    from susulan_tools.synth import make

    plans = make.plan_pages(40, seed=3)
    drawn, recent = make.page_values(3, plans), make.page_values(3, plans, date(2026, 11, 29))  # a Sunday
    days = sorted({v["visit_date"] for page in recent for v in page.values()})
    assert days[0] == "2026-11-30" and len(days) == len({v["visit_date"] for p in drawn for v in p.values()})
    same = ("name", "queue_no", "arrival_time", "rm_no", "village")  # ages, so birth dates, follow the visit day
    assert [[tuple(v.get(k) for k in same) for v in p.values()] for p in drawn] == \
        [[tuple(v.get(k) for k in same) for v in p.values()] for p in recent]
