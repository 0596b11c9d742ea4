"""Batch consistency on a real SQLite store: visit dates across sheets, queue numbers down a sheet."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pipeline import consensus
from pipeline.accept import Policy
from pipeline.models import PageId, PageResult, Reading
from pipeline.store import MACHINE_USER, Store


def cells_of(chars: str, sure: float = 0.999, unsure: dict[int, list[tuple[str, float]]] | None = None) -> list:
    """Per-cell candidates as the reader stores them: ``[[char, p], ...]`` best first."""
    out = []
    for i, ch in enumerate(chars):
        out.append([list(t) for t in (unsure or {}).get(i, [(ch, sure), (" ", 1 - sure)])])
    return out


def reading(name: str, record: int | None, kind: str, value: str, cells: list) -> Reading:
    conf = 1.0
    for c in cells:
        conf *= c[0][1]
    return Reading(name, record, kind, value, round(conf, 4), "auto" if conf > 0.99 else "review", "icr",
                   ((value, conf),), {"cells": cells})


@pytest.fixture()
def store(tmp_path, backend):
    with Store.open(tmp_path / "data") as s:
        s.batch = s.start_batch("test")
        yield s


def add_page(store: Store, form_id: str, serial: int, readings: list[Reading], records: tuple[int, ...]) -> int:
    file_id = store.add_file(f"sha-{form_id}-{serial}", "scan.pdf", "x.pdf", 1, store.batch)
    page_id = store.ensure_pages(file_id, 1)[0]["id"]
    store.save_page(page_id, PageResult("done", ident=PageId(form_id, 1, serial), readings=tuple(readings),
                                        records=records), f"{form_id}-{serial:06d}", None)
    return page_id


def visit(store: Store, serial: int, cells: list, value: str) -> int:
    return add_page(store, "pendaftaran", serial, [reading("visit_date", 0, "date", value, cells)], (0,))


def field_row(store: Store, page_id: int, name: str, record: int | None = 0):
    return store.db.q("SELECT * FROM fields WHERE page_id=? AND name=? AND COALESCE(record_no,-1)=?",
                   (page_id, name, -1 if record is None else record))[0]


def test_misread_visit_date_is_corrected_by_the_batch(store):
    for serial in range(1, 5):
        visit(store, serial, cells_of("30102025"), "2025-10-30")
    # the first cell is a smudged 3 read as 8 (runner-up 3)
    bad = visit(store, 9, cells_of("80102025", unsure={0: [("8", 0.55), ("3", 0.40), ("9", 0.05)]}), "2025-10-80")
    assert consensus.settle(store) == 1
    row = field_row(store, bad, "visit_date")
    assert row["final_value"] == row["machine_value"] == "2025-10-30"
    assert row["confidence"] > 0.9
    assert row["status"] == "review"  # its own cells read 80: consensus alone never makes a value auto
    detail = json.loads(row["detail"])
    assert detail["consensus"]["read"] == "2025-10-80"
    audit = store.db.q("SELECT * FROM audit WHERE field_id=?", (row["id"],))
    assert [(a["user"], a["old"], a["new"]) for a in audit] == [(MACHINE_USER, "2025-10-80", "2025-10-30")]


def test_a_sheet_clearly_from_another_day_keeps_its_date(store):
    for serial in range(1, 5):
        visit(store, serial, cells_of("30102025"), "2025-10-30")
    other = visit(store, 9, cells_of("31102025"), "2025-10-31")
    consensus.settle(store)
    assert field_row(store, other, "visit_date")["final_value"] == "2025-10-31"


def test_no_support_from_a_single_other_sheet(store):
    visit(store, 1, cells_of("30102025"), "2025-10-30")
    bad = visit(store, 2, cells_of("80102025", unsure={0: [("8", 0.55), ("3", 0.40), ("9", 0.05)]}), "2025-10-80")
    assert consensus.settle(store) == 0
    assert field_row(store, bad, "visit_date")["final_value"] == "2025-10-80"


def test_a_persons_correction_is_never_overwritten(store):
    for serial in range(1, 5):
        visit(store, serial, cells_of("30102025"), "2025-10-30")
    bad = visit(store, 9, cells_of("80102025", unsure={0: [("8", 0.55), ("3", 0.40), ("9", 0.05)]}), "2025-10-80")
    row = field_row(store, bad, "visit_date")
    store.set_value(row["id"], "2025-10-29", "rina", row["version"])
    consensus.settle(store)
    assert field_row(store, bad, "visit_date")["final_value"] == "2025-10-29"


def test_a_value_waiting_for_a_spot_check_is_left_as_a_person_will_see_it(store):
    from pipeline.store import spotchecks

    for serial in range(1, 5):
        visit(store, serial, cells_of("30102025"), "2025-10-30")
    bad = visit(store, 9, cells_of("80102025", unsure={0: [("8", 0.55), ("3", 0.40), ("9", 0.05)]}), "2025-10-80")
    row = field_row(store, bad, "visit_date")
    assert spotchecks.put_before_a_person(store, [{**dict(row), "batch_id": store.batch, "kind": "date"}]) == 1
    before = dict(field_row(store, bad, "visit_date"))
    assert consensus.settle(store) == 0
    assert dict(field_row(store, bad, "visit_date")) == before


def test_rerun_is_stable(store):
    for serial in range(1, 5):
        visit(store, serial, cells_of("30102025"), "2025-10-30")
    bad = visit(store, 9, cells_of("80102025", unsure={0: [("8", 0.55), ("3", 0.40), ("9", 0.05)]}), "2025-10-80")
    consensus.settle(store)
    first = dict(field_row(store, bad, "visit_date"))
    assert consensus.settle(store) == 0
    again = dict(field_row(store, bad, "visit_date"))
    assert (again["final_value"], again["confidence"], again["version"]) == \
        (first["final_value"], first["confidence"], first["version"])


def test_queue_numbers_follow_the_rows(store):
    rows = []
    for r, q in enumerate(range(41, 47)):
        chars = f"{q:03d}"
        unsure = {2: [("7", 0.5), ("3", 0.45), ("1", 0.05)]} if q == 43 else None
        value = "047" if q == 43 else chars
        rows.append(reading("queue_no", r, "digits", value, cells_of(chars, unsure=unsure)))
    page = add_page(store, "antrean", 1, rows, tuple(range(6)))
    consensus.settle(store)
    row = field_row(store, page, "queue_no", 2)
    assert row["final_value"] == "043"
    assert row["confidence"] > 0.9
    # rows that were right stay as they were
    assert field_row(store, page, "queue_no", 0)["final_value"] == "041"



def test_arrival_time_between_its_neighbours(store):
    times = ["0805", "0807", "0809", "0812"]
    rows = []
    for r, t in enumerate(times):
        # row 2: "0809" where the 0 of the hour looks like a 6 (runner-up 0)
        unsure = {0: [("6", 0.6), ("0", 0.35), ("8", 0.05)]} if r == 2 else None
        value = "68:09" if r == 2 else f"{t[:2]}:{t[2:]}"
        rows.append(reading("arrival_time", r, "time", value, cells_of(t, unsure=unsure)))
    page = add_page(store, "antrean", 1, rows, tuple(range(len(times))))
    consensus.settle(store)
    assert field_row(store, page, "arrival_time", 2)["final_value"] == "08:09"
    assert field_row(store, page, "arrival_time", 1)["final_value"] == "08:07"


def test_only_sheets_near_the_new_pages_are_decided(store):
    for serial in range(1, 5):
        visit(store, serial, cells_of("30102025"), "2025-10-30")
    bad = visit(store, 9, cells_of("80102025", unsure={0: [("8", 0.55), ("3", 0.40), ("9", 0.05)]}), "2025-10-80")
    far = {10_000}  # a page id that is not in the store: nothing near it
    assert consensus.settle(store, far) == 0
    assert field_row(store, bad, "visit_date")["final_value"] == "2025-10-80"
    assert consensus.settle(store, store.pages_of_open_batches()) == 1
    assert field_row(store, bad, "visit_date")["final_value"] == "2025-10-30"


UNSURE_DAY = {1: [("0", 0.5), ("1", 0.45), ("7", 0.05)]}
"""Second cell of a visit date torn between 30 and 31."""


def test_a_later_batch_never_touches_an_earlier_one(store):
    early = [visit(store, serial, cells_of("30102025", unsure=UNSURE_DAY), "2025-10-30") for serial in (1, 2)]
    store.finish_batch(store.batch)
    store.batch = store.start_batch("next day")
    for serial in range(3, 9):
        visit(store, serial, cells_of("31102025"), "2025-10-31")
    assert consensus.settle(store, store.pages_of_open_batches()) == 0
    assert consensus.settle(store) == 0  # even asked to settle everything, batches stay apart
    assert [field_row(store, p, "visit_date")["final_value"] for p in early] == ["2025-10-30"] * 2


def test_no_support_across_a_change_of_date(store):
    for serial in range(1, 4):
        visit(store, serial, cells_of("31102025"), "2025-10-31")
    visit(store, 4, cells_of("30102025"), "2025-10-30")
    torn = visit(store, 5, cells_of("30102025", unsure=UNSURE_DAY), "2025-10-30")
    # the 31st lies beyond the change of date: only one sheet of the 30th supports, too few
    assert consensus.settle(store) == 0
    assert field_row(store, torn, "visit_date")["final_value"] == "2025-10-30"


def test_a_sheet_between_two_days_is_never_auto(store):
    for serial in range(1, 4):
        visit(store, serial, cells_of("30102025"), "2025-10-30")
    torn = visit(store, 4, cells_of("30102025", unsure={1: [("0", 0.9), ("1", 0.09), ("7", 0.01)]}), "2025-10-30")
    for serial in range(5, 8):
        visit(store, serial, cells_of("31102025"), "2025-10-31")
    consensus.settle(store)
    row = field_row(store, torn, "visit_date")
    assert row["final_value"] == "2025-10-30" and row["status"] == "review"


@pytest.mark.parametrize(("own", "status"), [(0.97, "auto"), (0.7, "auto"), (0.45, "review")])
def test_consensus_confirms_only_what_the_own_cells_read_best(store, own, status):
    for serial in range(1, 5):
        visit(store, serial, cells_of("30102025"), "2025-10-30")
    # the day's second cell: 0 at `own`, else 8; at 0.45 the 8 is its best candidate and 30 was spelt
    # from the runner-up (a 38th does not exist)
    mine = visit(store, 5, cells_of("30102025", unsure={1: sorted([("0", own), ("8", 0.99 - own), ("7", 0.01)],
                                                                  key=lambda c: -c[1])}), "2025-10-30")
    consensus.settle(store, policy=Policy({"date": 0.9}))
    row = field_row(store, mine, "visit_date")
    # the other sheets make it sure enough either way; auto only where the own cells read it best
    assert row["final_value"] == "2025-10-30" and row["confidence"] > 0.9 and row["status"] == status


def test_queue_numbers_the_rows_confirm_are_auto_only_where_their_cells_agree(store):
    rows = []
    for r, q in enumerate(range(41, 47)):
        chars = f"{q:03d}"
        unsure = {2: [("3", 0.6), ("8", 0.35), ("1", 0.05)]} if q == 43 else \
            {2: [("0", 0.5), ("6", 0.45), ("8", 0.05)]} if q == 46 else None
        rows.append(reading("queue_no", r, "digits", chars if q != 46 else "040",
                            cells_of(chars if q != 46 else "040", unsure=unsure)))
    page = add_page(store, "antrean", 1, rows, tuple(range(6)))
    consensus.settle(store, policy=Policy({"digits": 0.95}))
    unsure = field_row(store, page, "queue_no", 2)
    assert (unsure["final_value"], unsure["status"]) == ("043", "auto")  # read 3 at 0.6; the rows agree
    changed = field_row(store, page, "queue_no", 5)
    assert (changed["final_value"], changed["status"]) == ("046", "review")  # changed by the rows: shown


def test_a_value_held_by_the_shift_check_stays_for_review(store):
    for serial in range(1, 5):
        visit(store, serial, cells_of("30102025"), "2025-10-30")
    r = reading("visit_date", 0, "date", "2025-10-30", cells_of("30102025"))
    r = replace(r, status="review", detail={**r.detail, "held": "page"})
    page = add_page(store, "pendaftaran", 9, [r], (0,))
    consensus.settle(store)
    assert field_row(store, page, "visit_date")["status"] == "review"


def test_rows_that_confirm_each_other_against_the_rest_of_the_sheet_stay_for_review(store):
    # one hand writes 7 like a 1: rows 6 and 7 (071, 072) read 011 and 012, surely, and support each other
    rows = []
    for r, q in enumerate(range(65, 74)):
        chars = f"{q:03d}".replace("7", "1") if q in (71, 72) else f"{q:03d}"
        rows.append(reading("queue_no", r, "digits", chars, cells_of(chars, sure=0.995)))
    page = add_page(store, "antrean", 1, rows, tuple(range(9)))
    consensus.settle(store, policy=Policy({"digits": 0.95}))
    for r in (6, 7):
        row = field_row(store, page, "queue_no", r)
        assert (row["final_value"], row["status"]) == (f"01{r - 5}", "review")  # the cells stand; a person looks
    assert field_row(store, page, "queue_no", 5)["status"] == "auto"  # 070: the rows point to it


def test_a_crossed_out_row_neither_supports_nor_is_decided(store):
    rows = []
    for r, q in enumerate([41, 42, 42, 43, 44]):  # row 1 crossed out, its patient written again below
        rows.append(reading("queue_no", r, "digits", f"{q:03d}", cells_of(f"{q:03d}")))
    rows[1] = replace(rows[1], status="review", detail={**rows[1].detail, "held": "struck"})
    rows[3] = reading("queue_no", 3, "digits", "044", cells_of("043", unsure={2: [("4", 0.5), ("3", 0.45),
                                                                                   ("1", 0.05)]}))
    page = add_page(store, "antrean", 1, rows, tuple(range(5)))
    consensus.settle(store)
    assert field_row(store, page, "queue_no", 3)["final_value"] == "043"  # from rows 0, 2 and 4 alone
    struck = field_row(store, page, "queue_no", 1)
    assert (struck["final_value"], struck["status"], struck["version"]) == ("042", "review", 1)
