"""Validation rules and their Bahasa Indonesia messages."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from pipeline import regions
from pipeline.validate import nik_birth, validate_record
from susulan_tools.bench import cer

TODAY = date(2026, 11, 25)
GOOD = {"visit_date": "2026-11-20", "name": "SITI AMINAH", "sex": "P", "birth_date": "1990-07-05",
        "visit_type": "baru", "poli": "umum", "payment": "bpjs", "nik": "3529054507900001",
        "bpjs_no": "0001234567890", "phone": "081234567890", "arrival_time": "07:30", "rt": "003", "rw": "001",
        "village": "KAPEDI"}


def rules(values: dict[str, str]) -> set[str]:
    return {i.rule for i in validate_record("pendaftaran", values, TODAY)}


def test_a_good_record_has_no_issues() -> None:
    assert rules(GOOD) == set()


def test_nik_disagreeing_with_birth_date_and_sex() -> None:
    assert rules({**GOOD, "birth_date": "1990-07-06"}) == {"nik_birth_date"}
    assert rules({**GOOD, "sex": "L"}) == {"nik_sex"}
    assert rules({**GOOD, "nik": "3529990507900001", "sex": "L"}) == {"nik_region"}
    assert rules({**GOOD, "nik": "35290545079000"}) == {"nik_length"}


def test_formats_and_ranges() -> None:
    assert rules({**GOOD, "phone": "0812"}) == {"phone_format"}
    assert rules({**GOOD, "arrival_time": "19:10"}) == {"time_range"}
    # forms/site.yaml declares the registration desk open 07:00-14:00
    assert rules({**GOOD, "arrival_time": "06:30"}) == {"time_range"}
    assert rules({**GOOD, "arrival_time": "14:00"}) == set() and rules({**GOOD, "arrival_time": "07:00"}) == set()
    assert rules({**GOOD, "arrival_time": "25:00"}) == {"time_range"}
    assert rules({**GOOD, "bpjs_no": ""}) == {"bpjs_missing"}
    assert rules({**GOOD, "birth_date": "1990-02-30"}) >= {"date_invalid"}
    assert rules({**GOOD, "visit_date": "2027-01-01"}) == {"visit_future"}
    assert rules({**GOOD, "name": ""}) == {"required"}
    assert rules({**GOOD, "village": "ANTAH BERANTAH"}) == {"village_unknown"}
    assert rules({**GOOD, "village": "DABUAN"}) == {"village_elsewhere"}  # a desa of Kabupaten Pamekasan
    elsewhere = validate_record("pendaftaran", {**GOOD, "village": "DABUAN"}, TODAY)
    assert not elsewhere[0].blocking and "Pamekasan" in elsewhere[0].message


def test_messages_are_in_bahasa_indonesia() -> None:
    issues = validate_record("pendaftaran", {**GOOD, "birth_date": "1990-07-06"}, TODAY)
    assert "tanggal lahir" in issues[0].message.lower()


@given(st.dates(date(1930, 1, 1), date(2025, 12, 31)), st.sampled_from("LP"))
def test_nik_birth_round_trip(born: date, sex: str) -> None:
    day = born.day + (40 if sex == "P" else 0)
    nik = f"352905{day:02d}{born.month:02d}{born.year % 100:02d}0001"
    got, got_sex = nik_birth(nik)
    assert got_sex == sex
    assert got is not None and (got.day, got.month, got.year % 100) == (born.day, born.month, born.year % 100)


def test_villages_are_canonicalised() -> None:
    assert regions.canonical_village("AENGBAJA RAJA") == ("AENG BAJA RAJA", "35.29.05.2013")
    assert regions.canonical_village("karang campaka")[0] == "KARANG CAMPAKA"
    assert regions.canonical_village("QWERTY") is None


def test_cer() -> None:
    assert cer("ABC", "ABC") == 0
    assert cer("ABC", "ABD") == 1 / 3
    assert cer("", "") == 0 and cer("", "X") == 1
