"""Pure correction logic of the review app: parsing what staff type, planning changes, messages."""

from __future__ import annotations

import pytest

from pipeline.store.review import Change, Clash
from review_app import logic
from review_app.logic import InputError


@pytest.mark.parametrize(("kind", "typed", "stored"), [
    ("date", "17-08-1985", "1985-08-17"),
    ("date", "17/8/1985", "1985-08-17"),
    ("date", "17081985", "1985-08-17"),
    ("date", "1985-08-17", "1985-08-17"),
    ("date", " ", ""),
    ("time", "7.45", "07:45"),
    ("time", "0745", "07:45"),
    ("time", "13:05", "13:05"),
    ("digits", "3529 0547 0885 0003", "3529054708850003"),
    ("digits", "0812-3456-7890", "081234567890"),
    ("letters", "  siti   aminah ", "SITI AMINAH"),
    ("text", "demam  tiga hari", "demam tiga hari"),
])
def test_parse_input_accepts_what_clerks_type(kind: str, typed: str, stored: str) -> None:
    assert logic.parse_input(kind, typed) == stored


@pytest.mark.parametrize(("kind", "typed", "words"), [
    ("date", "31-02-2024", "tidak ada di kalender"),
    ("date", "kemarin", "tgl-bln-tahun"),
    ("time", "25:00", "jam:menit"),
    ("digits", "12a4", "Hanya angka"),
])
def test_parse_input_refuses_with_indonesian_message(kind: str, typed: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        logic.parse_input(kind, typed)


def test_display_round_trips_dates() -> None:
    assert logic.to_display("date", "1985-08-17") == "17-08-1985"
    assert logic.parse_input("date", logic.to_display("date", "1985-08-17")) == "1985-08-17"
    assert logic.to_display("date", "") == ""
    assert logic.shown_value("choice", "", {"L": "Laki-laki"}) == "(tidak dicentang)"
    assert logic.shown_value("digits", "") == "(tidak diisi)"
    assert logic.shown_value("choice", "L", {"L": "Laki-laki"}) == "Laki-laki"


def test_conflict_text_names_who_and_the_newer_value() -> None:
    current = {"value": "1985-08-08", "by": "budi", "at": "2026-01-02T03:04:05+00:00", "version": 3,
               "status": "corrected"}
    clash = Clash(5, "birth_date", "1985-08-09", current)
    text = logic.conflict_text(clash, "Tanggal lahir", "date")
    assert "budi" in text and "08-08-1985" in text and "09-08-1985" in text and "belum disimpan" in text


def test_conflict_text_names_the_machine_when_no_person_changed_the_value() -> None:
    current = {"value": "00017708", "by": "", "at": None, "version": 4, "status": "review"}
    text = logic.conflict_text(Clash(5, "rm_no", None, current), "No. RM", "digits")
    assert "diubah oleh mesin (dibaca ulang atau dicocokkan lagi)" in text and "00017708" in text
    assert "petugas lain" not in text and "()" not in text


def test_ingest_text_plain_indonesian() -> None:
    text = logic.ingest_text(2, 1, 5, 9, 1, {"blank_page": 2}, [("x.pdf", "damaged")])
    assert "5 halaman terbaca dari 2 berkas baru: 9 pasien (baris)" in text
    assert "2 halaman perlu perhatian (2 halaman kosong)" in text
    assert "x.pdf" in text


def test_machine_note_says_why_a_value_differs_from_the_cells():
    detail = {"consensus": {"read": "2026-01-99", "confidence": 0.6, "why": "tanggal sama dengan lembar lain"}}
    note = logic.machine_note("date", "2026-01-29", detail)
    assert "99-01-2026" in note and "tanggal sama dengan lembar lain" in note
    assert logic.machine_note("date", "2026-01-29", {"consensus": {"read": "2026-01-29", "why": "x"}}) == ""
    assert logic.machine_note("letters", "AENG BAJA", {"read": "AENGBAJA"}).startswith("tertulis AENGBAJA")
    assert logic.machine_note("choice", "L", {"note": "one mark"}) == ""


FIELDS = {
    1: {"kind": "digits", "final_value": "3529054708850008", "options": set()},
    2: {"kind": "choice", "final_value": "L", "options": {"L", "P", ""}},
    3: {"kind": "date", "final_value": "1985-08-07", "options": set()},
    4: {"kind": "letters", "final_value": "SITI", "options": set()},
}


def test_plan_action_saves_typed_values_on_the_version_seen_and_confirms_what_was_asked() -> None:
    edits = {"1": {"v": 3, "value": "3529054708850003"}, "3": {"v": 1, "value": "07-08-1985"},
             "4": {"v": 2, "value": "siti"}}
    changes, errors = logic.plan_action(FIELDS, edits, {"2": 1}, confirm=True)
    assert errors == {}
    assert changes == [Change(1, 3, "3529054708850003"), Change(3, 1, None), Change(4, 2, None), Change(2, 1, None)]
    changes, _ = logic.plan_action(FIELDS, edits, {"2": 1}, confirm=False)  # save only: no confirmations
    assert changes == [Change(1, 3, "3529054708850003")]


def test_plan_action_refuses_unusable_input_per_field() -> None:
    changes, errors = logic.plan_action(FIELDS, {"3": {"v": 1, "value": "30-02-1985"}, "2": {"v": 1, "value": "Z"},
                                                 "1": {"v": 3, "value": "12a"}}, {}, confirm=True)
    assert sorted(errors) == [1, 2, 3] and "kalender" in errors[3] and "Pilihan" in errors[2]


def test_times_are_shown_in_wib_with_the_zone_named() -> None:
    assert logic.wib("2026-01-02T03:04:05+00:00") == "02-01-2026 10:04 WIB"
    assert logic.wib("2026-01-02T20:04:05", seconds=True) == "03-01-2026 03:04:05 WIB"
    assert logic.wib(None) == ""
