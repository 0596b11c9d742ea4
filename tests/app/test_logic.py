"""Pure correction logic of the review app: parsing what staff type, planning changes, messages."""

from __future__ import annotations

import pytest

from pipeline.store.review import Change, Clash
from review_app import logic
from review_app.logic import InputError, Seen


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
    assert logic.shown_value("choice", "", {"L": "Laki-laki"}) == "(kosong)"
    assert logic.shown_value("choice", "L", {"L": "Laki-laki"}) == "Laki-laki"


SEEN = [
    Seen(1, 3, "3529054708850008", "review", "digits", "NIK"),
    Seen(2, 1, "L", "review", "choice", "Jenis kelamin"),
    Seen(3, 1, "1985-08-07", "auto", "date", "Tanggal lahir"),
    Seen(4, 2, "SITI", "confirmed", "letters", "Nama"),
]


def test_plan_record_saves_edits_and_confirms_the_rest_on_approve() -> None:
    typed = {1: "3529054708850003", 2: "L", 3: "07-08-1985", 4: "SITI"}
    assert logic.plan_record(SEEN, typed, confirm_rest=True) == [
        Change(1, 3, "3529054708850003"), Change(2, 1, None)]


def test_plan_record_save_only_touches_edited_values() -> None:
    typed = {1: "3529054708850008", 2: "P", 3: "08-08-1985", 4: "siti"}
    assert logic.plan_record(SEEN, typed, confirm_rest=False) == [
        Change(2, 1, "P"), Change(3, 1, "1985-08-08")]


def test_plan_record_refuses_everything_when_one_value_is_unusable() -> None:
    with pytest.raises(InputError, match="Tanggal lahir"):
        logic.plan_record(SEEN, {1: "3529054708850003", 3: "30-02-1985"}, confirm_rest=True)


GRID = [
    {"field_id": 10, "version": 1, "final_value": "SITI R0MLAH", "kind": "letters", "status": "review",
     "page_key": "antrean-1"},
    {"field_id": 11, "version": 2, "final_value": "MOH ALI", "kind": "letters", "status": "review",
     "page_key": "antrean-2"},
    {"field_id": 12, "version": 1, "final_value": "HOLIS", "kind": "letters", "status": "auto",
     "page_key": "antrean-3"},
    {"field_id": 13, "version": 1, "final_value": "ABD", "kind": "letters", "status": "review",
     "page_key": "antrean-4"},
]


def test_plan_grid_accept_all_with_edits_and_skips() -> None:
    edited = {0: {"Nilai": "siti romlah"}, 3: {"Lewati": True}}
    changes, errors = logic.plan_grid(GRID, edited)
    assert errors == []
    assert changes == [Change(10, 1, "SITI ROMLAH"), Change(11, 2, None), Change(12, 1, None)]


def test_plan_grid_choice_labels_and_bad_values() -> None:
    rows = [{"field_id": 1, "version": 1, "final_value": "", "kind": "choice", "status": "review", "page_key": "a"},
            {"field_id": 2, "version": 1, "final_value": "umum", "kind": "choice", "status": "review",
             "page_key": "b"},
            {"field_id": 3, "version": 1, "final_value": "2024-01-01", "kind": "date", "status": "review",
             "page_key": "c"}]
    changes, errors = logic.plan_grid(rows, {0: {"Nilai": "Gigi"}, 1: {"Nilai": "(kosong)"}, 2: {"Nilai": "99-99"}},
                                      {"umum": "Umum", "gigi": "Gigi"})
    assert changes == [Change(1, 1, "gigi"), Change(2, 1, "")]
    assert len(errors) == 1 and errors[0].startswith("c:")


def test_conflict_text_names_who_and_the_newer_value() -> None:
    current = {"value": "1985-08-08", "by": "budi", "at": "2026-01-02T03:04:05+00:00", "version": 3,
               "status": "corrected"}
    clash = Clash(5, "birth_date", "1985-08-09", current)
    text = logic.conflict_text(clash, "Tanggal lahir", "date")
    assert "budi" in text and "08-08-1985" in text and "09-08-1985" in text and "belum disimpan" in text


def test_expected_record_version_counts_own_saves() -> None:
    assert logic.expected_record_version(4, 0) == 4
    assert logic.expected_record_version(4, 3) == 7


def test_ingest_text_plain_indonesian() -> None:
    text = logic.ingest_text(2, 1, 5, 9, 1, {"blank_page": 2}, [("x.pdf", "damaged")])
    assert "5 halaman terbaca menjadi 9 formulir" in text
    assert "2 halaman perlu perhatian (2 halaman kosong)" in text
    assert "x.pdf" in text


def test_machine_note_says_why_a_value_differs_from_the_cells():
    detail = {"consensus": {"read": "2026-01-99", "confidence": 0.6, "why": "tanggal sama dengan lembar lain"}}
    note = logic.machine_note("date", "2026-01-29", detail)
    assert "99-01-2026" in note and "tanggal sama dengan lembar lain" in note
    assert logic.machine_note("date", "2026-01-29", {"consensus": {"read": "2026-01-29", "why": "x"}}) == ""
    assert logic.machine_note("letters", "AENG BAJA", {"read": "AENGBAJA"}).startswith("tertulis AENGBAJA")
    assert logic.machine_note("choice", "L", {"note": "one mark"}) == ""
