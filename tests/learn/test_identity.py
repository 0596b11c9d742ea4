"""Identity fields against the ERM master: one digit corrected only when name and birth date agree; never a person's."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.cli import main as cli
from pipeline.erm import master, profiles
from pipeline.learn import identity, spotcheck
from pipeline.models import PageId, PageResult, Reading
from pipeline.store import Store
from pipeline.store import spotchecks as repo

PATIENTS = [
    {"rm_no": "00012345", "nik": "3529054708850003", "bpjs_no": "0001234567890", "name": "SITI AMINAH",
     "birth_date": "1985-08-07", "sex": "P", "village": "KAPEDI"},
    {"rm_no": "00020001", "nik": "3529051203900001", "bpjs_no": "", "name": "MOH HOLILI",
     "birth_date": "1990-03-12", "sex": "L", "village": "BLUTO"},
    {"rm_no": "00020002", "nik": "3529051203900002", "bpjs_no": "", "name": "MOH HOLILI",
     "birth_date": "1990-03-12", "sex": "L", "village": "BLUTO"},  # a namesake born the same day
]
KINDS = {"nik": "digits", "rm_no": "digits", "bpjs_no": "digits", "name": "letters", "birth_date": "date",
         "visit_type": "choice", "address": "letters"}


def cells_for(value: str, n: int, sure: float = 0.97, unsure: dict[int, tuple[str, float]] | None = None) -> list:
    """Stored cell candidates of a reading: each char at ``sure`` unless ``unsure`` gives (runner-up, its p)."""
    out = []
    chars = list(value) + [" "] * (n - len(value))
    for i, ch in enumerate(chars):
        if unsure and i in unsure:
            alt, p = unsure[i]
            out.append([[ch, 1 - p - 0.01], [alt, p], ["8" if ch != "8" else "3", 0.01]])
        else:
            out.append([[ch, sure], [" " if ch != " " else "1", 1 - sure]])
    return out


def reading(name: str, value: str, n: int, conf: float = 0.8, status: str = "review", cells: list | None = None,
            record: int | None = 0) -> Reading:
    kind = KINDS[name]
    detail = {"cells": cells if cells is not None else cells_for(value.replace("-", "") if kind != "date" else
                                                                 value[8:10] + value[5:7] + value[:4], n)}
    return Reading(name, record, kind, value, conf, status, "icr" if kind != "choice" else "omr", ((value, conf),),
                   detail)


class Paper:
    """Recognised pages written straight into a store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batch = store.start_batch("tests")
        self.serial = 0

    def page(self, form_id: str, readings: list[Reading], records: tuple[int, ...] = (0,)) -> dict[str, int]:
        self.serial += 1
        key = f"{form_id}-{self.serial:06d}"
        file_id = self.store.add_file(f"sha-{key}", f"{key}.pdf", f"/x/{key}.pdf", 1, self.batch)
        page_id = self.store.ensure_pages(file_id, 1)[0]["id"]
        self.store.save_page(page_id, PageResult("done", ident=PageId(form_id, 1, self.serial), readings=tuple(
            readings), records=records), key, None)
        return {f"{r['name']}#{r['record_no']}": r["id"] for rid in self.store.records_of_page(page_id)
                for r in self.store.record_fields(rid)}


def master_csv(path: Path, patients: list[dict[str, str]] = PATIENTS) -> Path:
    """The patient master as the generic ERM exports it."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["No. RM", "NIK", "No. BPJS", "Nama Pasien", "Tanggal Lahir", "Jenis Kelamin", "Alamat", "Desa"])
        for p in patients:
            y, m, d = p["birth_date"].split("-")
            w.writerow([p["rm_no"], p["nik"], p["bpjs_no"], p["name"].title(), f"{d}-{m}-{y}",
                        "Perempuan" if p["sex"] == "P" else "Laki-laki", p.get("address", ""), p["village"]])
    return path


def load_master(store: Store, tmp_path: Path, patients: list[dict[str, str]] = PATIENTS) -> master.LoadReport:
    return master.load_patients(store, master_csv(tmp_path / "pasien.csv", patients), profiles.load("generic"),
                                "admin")


POLICY = {"kinds": {"digits": {"threshold": 0.95}, "letters": {"threshold": 0.99}, "identity": {"threshold": 0.95}}}
"""This data dir's thresholds: the identity logic is tested apart from the shipped calibration."""


@pytest.fixture
def paper(tmp_path: Path) -> Iterator[Paper]:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "acceptance.json").write_text(json.dumps(POLICY))
    with Store.open(tmp_path / "data") as store:
        yield Paper(store)


def registration(nik: str, name: str, birth: str, rm: str = "", bpjs: str = "", nik_cells: list | None = None,
                 name_status: str = "review") -> list[Reading]:
    return [reading("nik", nik, 16, 0.6, cells=nik_cells), reading("rm_no", rm, 8), reading("bpjs_no", bpjs, 13),
            reading("name", name, 24, 0.7, name_status, cells_for(name, 24, sure=0.998)),
            reading("birth_date", birth, 8, 0.99, "auto")]


def test_nik_one_digit_off_is_corrected_when_name_and_birth_date_agree(paper: Paper, tmp_path: Path) -> None:
    # the 9th digit was read 7 (runner-up 0 at 0.3): the master's NIK has 0 there
    misread = "3529054778850003"
    ids = paper.page("pendaftaran", registration(misread, "SITI AMINAH", "1985-08-07",
                                                 nik_cells=cells_for(misread, 16, unsure={8: ("0", 0.3)})))
    load_master(paper.store, tmp_path)
    nik = paper.store.field(ids["nik#0"])
    assert nik["final_value"] == "3529054708850003" and nik["machine_value"] == "3529054708850003"
    assert nik["status"] == "auto" and nik["confidence"] > 0.95
    detail = json.loads(paper.store.q("SELECT detail FROM fields WHERE id = ?", (nik["id"],))[0]["detail"])
    assert "beda satu angka dari data pasien ERM No. RM 00012345" in detail["note"]
    assert detail["note"].startswith(f"terbaca {misread}")
    audit = paper.store.q("SELECT * FROM audit WHERE field_id = ?", (nik["id"],))
    assert [(a["user"], a["old"], a["new"]) for a in audit] == [("susulan", misread, "3529054708850003")]
    name = paper.store.field(ids["name#0"])
    assert name["final_value"] == "SITI AMINAH" and name["status"] == "auto"  # confirmed against the master


def test_a_digit_the_cells_read_surely_gets_the_masters_value_for_review_only(paper: Paper, tmp_path: Path) -> None:
    ids = paper.page("pendaftaran", registration("3529054778850003", "SITI AMINAH", "1985-08-07"))
    load_master(paper.store, tmp_path)
    nik = paper.store.field(ids["nik#0"])
    assert nik["final_value"] == "3529054708850003" and nik["status"] == "review" and nik["confidence"] <= 0.5


def test_no_correction_when_the_birth_date_disagrees(paper: Paper, tmp_path: Path) -> None:
    ids = paper.page("pendaftaran", registration("3529054778850003", "SITI AMINAH", "1985-08-17"))
    load_master(paper.store, tmp_path)
    assert paper.store.field(ids["nik#0"])["final_value"] == "3529054778850003"
    assert not paper.store.q("SELECT id FROM audit WHERE \"user\" = 'susulan'")


def test_no_correction_when_the_name_disagrees(paper: Paper, tmp_path: Path) -> None:
    ids = paper.page("pendaftaran", registration("3529054778850003", "SUHARTINI", "1985-08-07"))
    load_master(paper.store, tmp_path)
    assert identity.check(paper.store).linked == 0
    assert paper.store.field(ids["nik#0"])["final_value"] == "3529054778850003"


def test_two_digits_off_is_left_alone(paper: Paper, tmp_path: Path) -> None:
    ids = paper.page("pendaftaran", registration("3529054778850013", "SITI AMINAH", "1985-08-07"))
    load_master(paper.store, tmp_path)
    assert paper.store.field(ids["nik#0"])["final_value"] == "3529054778850013"


def test_a_persons_value_is_never_changed(paper: Paper, tmp_path: Path) -> None:
    ids = paper.page("pendaftaran", registration("3529054778850003", "SITI AMINAH", "1985-08-07"))
    nik = paper.store.field(ids["nik#0"])
    paper.store.confirm(nik["id"], "ani", nik["version"])  # a person said the paper says this
    before = dict(paper.store.field(nik["id"]))
    load_master(paper.store, tmp_path)
    assert dict(paper.store.field(nik["id"])) == before


def test_namesakes_born_the_same_day_are_ambiguous(paper: Paper, tmp_path: Path) -> None:
    ids = paper.page("pendaftaran", registration("3529051203900003", "MOH HOLILI", "1990-03-12"))
    load_master(paper.store, tmp_path)
    report = identity.check(paper.store)
    assert report.ambiguous == 1 and report.linked == 0
    assert paper.store.field(ids["nik#0"])["final_value"] == "3529051203900003"


def test_queue_sheet_of_a_returning_patient_read_against_the_master(paper: Paper, tmp_path: Path) -> None:
    # RM read 00012346 (last digit unsure, 5 runner-up); the name read right but unsure as a whole (0.6)
    rm_cells = cells_for("00012346", 8, unsure={7: ("5", 0.35)})
    ids = paper.page("antrean", [reading("rm_no", "00012346", 8, 0.6, cells=rm_cells, record=0),
                                 reading("name", "SITI AMINAH", 20, 0.6, cells=cells_for("SITI AMINAH", 20, 0.995),
                                         record=0),
                                 reading("visit_type", "lama", 0, 0.99, "auto", cells=[], record=0)])
    load_master(paper.store, tmp_path)
    rm, name = paper.store.field(ids["rm_no#0"]), paper.store.field(ids["name#0"])
    assert (rm["final_value"], rm["status"]) == ("00012345", "auto")
    assert (name["final_value"], name["status"]) == ("SITI AMINAH", "auto") and name["confidence"] > 0.99


def test_a_name_the_cells_do_not_support_is_not_linked(paper: Paper, tmp_path: Path) -> None:
    ids = paper.page("antrean", [reading("rm_no", "00012345", 8, 0.9, record=0),
                                 reading("name", "SUHARTINI", 20, 0.9, cells=cells_for("SUHARTINI", 20, 0.995),
                                         record=0)])
    load_master(paper.store, tmp_path)
    assert paper.store.field(ids["name#0"])["final_value"] == "SUHARTINI"
    assert paper.store.field(ids["rm_no#0"])["confidence"] == 0.9  # not confirmed either


def test_rerun_starts_from_the_first_reading(paper: Paper, tmp_path: Path) -> None:
    misread = "3529054778850003"
    ids = paper.page("pendaftaran", registration(misread, "SITI AMINAH", "1985-08-07",
                                                 nik_cells=cells_for(misread, 16, unsure={8: ("0", 0.3)})))
    load_master(paper.store, tmp_path)
    first = dict(paper.store.field(ids["nik#0"]))
    again = identity.check(paper.store)
    assert again.corrected == 0
    now = dict(paper.store.field(ids["nik#0"]))
    assert (now["final_value"], now["confidence"], now["status"]) == (first["final_value"], first["confidence"],
                                                                     first["status"])


def test_reading_the_page_again_keeps_what_the_master_decided(paper: Paper, tmp_path: Path) -> None:
    # a second ingest of the same scan reads the NIK as before: the master's correction stands, unversioned
    misread = "3529054778850003"
    readings = registration(misread, "SITI AMINAH", "1985-08-07",
                            nik_cells=cells_for(misread, 16, unsure={8: ("0", 0.3)}))
    ids = paper.page("pendaftaran", readings)
    load_master(paper.store, tmp_path)
    decided = dict(paper.store.field(ids["nik#0"]))
    assert decided["final_value"] == PATIENTS[0]["nik"]
    page_id = decided["page_id"]
    key = paper.store.q("SELECT page_key FROM pages WHERE id = ?", (page_id,))[0]["page_key"]
    assert paper.store.save_page(page_id, PageResult("done", ident=PageId("pendaftaran", 1, paper.serial),
                                                     readings=tuple(readings), records=(0,)), key, None)
    now = dict(paper.store.field(ids["nik#0"]))
    assert (now["final_value"], now["status"], now["version"]) == (PATIENTS[0]["nik"], decided["status"],
                                                                   decided["version"])


def test_cli_load_patients_reports_the_check(paper: Paper, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    misread = "3529054778850003"
    paper.page("pendaftaran", registration(misread, "SITI AMINAH", "1985-08-07",
                                           nik_cells=cells_for(misread, 16, unsure={8: ("0", 0.3)})))
    path = master_csv(tmp_path / "pasien.csv")
    assert cli(["erm", "load-patients", str(path), "--profile", "generic", "--data-dir",
                str(paper.store.data_dir)]) == 0
    err = capsys.readouterr().err
    assert "loaded 3 patient row(s)" in err
    assert "checked 1 record(s) against the patient master: 1 linked to one patient, 1 value(s) corrected" in err


def test_a_new_master_without_the_patient_puts_the_first_reading_back(paper: Paper, tmp_path: Path) -> None:
    misread = "3529054778850003"
    ids = paper.page("pendaftaran", registration(misread, "SITI AMINAH", "1985-08-07",
                                                 nik_cells=cells_for(misread, 16, unsure={8: ("0", 0.3)})))
    first = dict(paper.store.field(ids["nik#0"]))
    load_master(paper.store, tmp_path)
    assert paper.store.field(ids["nik#0"])["final_value"] != misread
    changed = [{**PATIENTS[0], "nik": "3529054708859999"}, *PATIENTS[1:]]  # the next export: her NIK was fixed
    load_master(paper.store, tmp_path, changed)
    now = paper.store.field(ids["nik#0"])
    assert (now["final_value"], now["confidence"], now["status"]) == (misread, first["confidence"], first["status"])
    notes = [a["note"] for a in paper.store.q("SELECT note FROM audit WHERE field_id = ? ORDER BY id", (now["id"],))]
    assert notes[-1].startswith("tidak lagi cocok dengan data pasien ERM")


def test_values_of_an_approved_record_are_never_changed(paper: Paper, tmp_path: Path) -> None:
    misread = "3529054778850003"
    ids = paper.page("pendaftaran", registration(misread, "SITI AMINAH", "1985-08-07",
                                                 nik_cells=cells_for(misread, 16, unsure={8: ("0", 0.3)})))
    rid = paper.store.records_of_page(paper.store.field(ids["nik#0"])["page_id"])[0]
    paper.store.set_record_state(rid, "approved", "ani")
    before = [dict(f) for f in paper.store.record_fields(rid)]
    load_master(paper.store, tmp_path)
    assert [dict(f) for f in paper.store.record_fields(rid)] == before
    assert not paper.store.q("SELECT id FROM audit WHERE action = 'machine'")


def test_values_decided_against_the_master_are_judged_by_the_identity_threshold(paper: Paper, tmp_path: Path
                                                                                ) -> None:
    strict = {"kinds": {**POLICY["kinds"], "identity": {"threshold": 1.0}}}
    (paper.store.data_dir / "acceptance.json").write_text(json.dumps(strict))
    misread = "3529054778850003"
    ids = paper.page("pendaftaran", registration(misread, "SITI AMINAH", "1985-08-07",
                                                 nik_cells=cells_for(misread, 16, unsure={8: ("0", 0.3)})))
    load_master(paper.store, tmp_path)
    nik, name = paper.store.field(ids["nik#0"]), paper.store.field(ids["name#0"])
    assert nik["final_value"] == "3529054708850003" and nik["confidence"] > 0.95  # the digits threshold would pass
    assert nik["status"] == "review" and name["status"] == "review"
    details = {r["id"]: r["detail"] for r in paper.store.q("SELECT id, detail FROM fields")}
    assert identity.accept_kind(details[nik["id"]], "digits") == "identity"
    assert identity.accept_kind(details[ids["birth_date#0"]], "date") == "date"  # not decided by the master


def test_spot_checks_measure_and_tighten_values_decided_against_the_master_apart(paper: Paper, tmp_path: Path
                                                                               ) -> None:
    first = paper.page("pendaftaran", registration("3529054708850003", "SITI AMINAH", "1985-08-07", rm="00012345"))
    load_master(paper.store, tmp_path)
    assert paper.store.field(first["name#0"])["status"] == "auto"
    spotcheck.sample(paper.store, seed=1)
    kinds = {c["field_id"]: c["kind"] for c in repo.checks(paper.store)}
    assert kinds[first["name#0"]] == "identity" and kinds[first["nik#0"]] == "identity"
    assert kinds[first["birth_date#0"]] == "date"
    for field_id in kinds:
        f = paper.store.field(field_id)
        if field_id == first["name#0"]:  # the master's spelling was not what the paper says
            paper.store.set_value(field_id, "SITI AMINA", "perawat", f["version"])
        else:
            paper.store.confirm(field_id, "perawat", f["version"])
    est = spotcheck.estimates(paper.store)
    assert (est["identity"].wrong, est["date"].wrong) == (1, 0)
    second = paper.page("pendaftaran", registration("3529054708850003", "SITI AMINAH", "1985-08-07", rm="00012345"))
    identity.check(paper.store)
    assert paper.store.field(second["name#0"])["status"] == "auto"
    done = spotcheck.tighten(paper.store)
    assert [t.kind for t in done] == ["identity"] and done[0].held_back >= 1
    assert paper.store.field(second["name#0"])["status"] == "review"
    assert paper.store.field(second["birth_date#0"])["status"] == "auto"  # another kind: untouched


def test_of_namesakes_the_one_whose_number_the_cells_read_is_linked(paper: Paper, tmp_path: Path) -> None:
    # two MOH HOLILI born the same day, No. RM 00020001 and 00020002: the cells read ...1 surely
    sure = paper.page("antrean", [reading("rm_no", "00020001", 8, 0.9, record=0),
                                  reading("name", "MOH HOLILI", 20, 0.6, cells=cells_for("MOH HOLILI", 20, 0.995),
                                          record=0)])
    unsure_cells = cells_for("00020001", 8, unsure={7: ("2", 0.45)})
    unsure = paper.page("antrean", [reading("rm_no", "00020001", 8, 0.5, cells=unsure_cells, record=0),
                                    reading("name", "MOH HOLILI", 20, 0.6, cells=cells_for("MOH HOLILI", 20, 0.995),
                                            record=0)])
    load_master(paper.store, tmp_path)
    report = identity.check(paper.store)
    assert (report.linked, report.ambiguous) == (1, 2)  # both records agree with two namesakes; one is clear
    details = {r["id"]: json.loads(r["detail"] or "{}") for r in paper.store.q("SELECT id, detail FROM fields")}
    assert identity.KEY in details[sure["name#0"]] and "00020001" in details[sure["name#0"]][identity.KEY]["why"]
    assert identity.KEY not in details[unsure["name#0"]] and identity.KEY not in details[unsure["rm_no#0"]]


def test_a_value_the_master_no_longer_decides_is_put_back_as_first_read(paper: Paper, tmp_path: Path) -> None:
    misread = "3529054778850003"
    ids = paper.page("pendaftaran", registration(misread, "SITI AMINAH", "1985-08-07", rm="00012345",
                                                 nik_cells=cells_for(misread, 16, unsure={8: ("0", 0.3)})))
    load_master(paper.store, tmp_path)
    assert paper.store.field(ids["nik#0"])["final_value"] == "3529054708850003"
    moved = [dict(PATIENTS[0], nik="3529054708850099"), *PATIENTS[1:]]  # linked by No. RM, name and birth date;
    report = load_master(paper.store, tmp_path, moved)  # its NIK is now three digits off the reading
    nik, name = paper.store.field(ids["nik#0"]), paper.store.field(ids["name#0"])
    assert (nik["final_value"], nik["status"]) == (misread, "review")  # as first read: the master says nothing
    assert name["status"] == "auto" and "1 linked" in report.checked and "1 put back as first read" in report.checked
    again = identity.check(paper.store)
    assert (again.corrected, again.confirmed, again.restored) == (0, 0, 0)  # a rerun changes nothing


def test_an_address_is_read_against_the_masters_unless_the_patient_moved(paper: Paper, tmp_path: Path) -> None:
    unsure = cells_for("JL RAYA BLUTC", 24, sure=0.995, unsure={12: ("O", 0.4)})  # last letter: C or O
    ids = paper.page("pendaftaran", [*registration("3529054708850003", "SITI AMINAH", "1985-08-07"),
                                     reading("address", "JL RAYA BLUTC", 24, 0.5, cells=unsure)])
    load_master(paper.store, tmp_path, [dict(PATIENTS[0], address="Jl. Raya Bluto"), *PATIENTS[1:]])
    address = paper.store.field(ids["address#0"])
    assert (address["final_value"], address["status"]) == ("JL RAYA BLUTO", "auto")
    assert "sama dengan alamat pasien ERM" in json.loads(
        paper.store.q("SELECT detail FROM fields WHERE id = ?", (address["id"],))[0]["detail"])["note"]
    load_master(paper.store, tmp_path, [dict(PATIENTS[0], address="Dusun Krajan"), *PATIENTS[1:]])
    address = paper.store.field(ids["address#0"])  # an old address the cells do not read: as first read
    assert (address["final_value"], address["status"]) == ("JL RAYA BLUTC", "review")
