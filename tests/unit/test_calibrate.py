"""Auto thresholds from the calibration set: the pooled error bound, the margin rule, the patient master."""

from __future__ import annotations

import csv
from pathlib import Path

from susulan_tools import calibrate, master


def test_no_error_needs_about_six_hundred_values_above_the_threshold() -> None:
    assert calibrate.threshold([(0.99, True)] * 597) == 1.01
    assert calibrate.threshold([(0.99, True)] * 598) == 0.99


def test_a_wrong_margin_is_not_hidden_by_many_sure_values_above_it() -> None:
    sure = [(0.999, True)] * 5000
    margin = [(0.80, i % 20 != 0) for i in range(200)]  # 5 % wrong at 0.80
    pooled = 10 / 5200
    assert pooled < calibrate.MAX_AUTO_ERROR  # the pooled bound alone would let 0.80 be auto
    assert calibrate.threshold(sure + margin) == 0.999
    clean_margin = [(0.80, i % 200 != 0) for i in range(200)]  # 0.5 % wrong at 0.80: within the margin rule
    assert calibrate.threshold(sure + clean_margin) == 0.80


def test_values_the_master_decided_are_calibrated_as_identity() -> None:
    truth = [{"page_id": "antrean-1", "form_id": "antrean", "record": 0,
              "fields": {"rm_no": "00012345", "name": "SITI AMINAH"}}]
    exported = [{"page_id": "antrean-1", "record": 0, "issues": [],
                 "fields": {"rm_no": {"value": "00012345", "confidence": 0.999},
                            "name": {"value": "SITI AMINAH", "confidence": 0.97}}}]
    obs = calibrate.observations(truth, exported, {("antrean-1", 0, "name"): ("SITI AMINA", 0.6)})
    assert obs["identity"] == [(0.97, True)] and obs["digits"] == [(0.999, True)]
    assert obs["letters"] == [(0.6, False)]  # as first read: how it stands without a master


def test_the_bench_master_knows_the_returning_patients_among_dense_numbers(tmp_path: Path) -> None:
    truth = [{"fields": {"visit_type": "lama", "rm_no": f"{n:08d}", "name": "SITI AMINAH"}} for n in range(1, 41)]
    truth.append({"fields": {"visit_type": "baru", "rm_no": "", "name": "MOH HOLILI"}})
    counts = master.write_master(truth, tmp_path / "pasien.csv", size=500)
    with (tmp_path / "pasien.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    assert (counts["patients"], counts["returning"], counts["moved"]) == (500, 40, 0)  # no address on queue sheets
    assert sorted(r["No. RM"] for r in rows) == [f"{n:08d}" for n in range(1, 501)]  # every number a patient
    names = {r["No. RM"]: r["Nama Pasien"].upper() for r in rows}
    assert 0 < counts["spelt_otherwise"] < 15  # about one in ten spelt otherwise
    assert sum(names[f"{n:08d}"] != "SITI AMINAH" for n in range(1, 41)) == counts["spelt_otherwise"]
    niks = [r["NIK"] for r in rows if r["NIK"]]
    assert len(niks) == len(set(niks))
