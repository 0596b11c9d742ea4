import json
import subprocess
import sys

import pytest

from pipeline import accept
from pipeline.accept import Policy


def test_threshold_broken_and_held():
    p = Policy({"digits": 0.9})
    assert p.status_for("digits", 0.9) == "auto"
    assert p.status_for("digits", 0.8999) == "review"
    assert p.status_for("digits", 0.999, broken=True) == "review"
    assert p.status_for("digits", 0.999, held=True) == "review"
    assert p.status_for("unknown kind", 1.0) == "review"


def test_shipped_policy_has_every_kind_and_defaults_below_calibration():
    p = accept.shipped()
    for kind in ("choice", "text", "digits", "date", "time", "letters", "lexicon"):
        assert 0.0 <= p.threshold(kind) <= accept.NEVER  # above 1: never auto (calibration found no safe level)
    assert p.status_for("choice", 0.0) == "auto"
    assert p.status_for("text", 0.0) == "review"


def test_data_dir_thresholds_replace_kinds_and_batches_only_tighten(tmp_path):
    (tmp_path / "acceptance.json").write_text(json.dumps(
        {"kinds": {"digits": {"threshold": 0.97}}, "batches": {"7": {"time": {"threshold": 0.5},
                                                                     "digits": {"threshold": 0.995}}}}))
    p = accept.for_data_dir(tmp_path)
    assert p.threshold("digits") == 0.97
    assert p.threshold("digits", batch=7) == 0.995
    assert p.threshold("time", batch=7) == accept.shipped().threshold("time")  # a batch never loosens
    assert p.for_batch(7).threshold("digits") == 0.995
    assert p.for_batch(8).threshold("digits") == 0.97
    assert accept.for_data_dir(tmp_path / "elsewhere") == accept.shipped()


def test_tighten_raises_never_lowers(tmp_path):
    before = accept.shipped().threshold("time")
    assert before < 0.999
    p = accept.tighten(tmp_path, "time", before - 0.1)
    assert p.threshold("time") == before
    p = accept.tighten(tmp_path, "time", 0.999)
    assert p.threshold("time") == 0.999
    p = accept.tighten(tmp_path, "digits", 0.9999, batch=3)
    assert p.threshold("digits", 3) == 0.9999 and p.threshold("digits") == accept.shipped().threshold("digits")
    assert accept.for_data_dir(tmp_path) == p
    assert not list(tmp_path.glob("*.part"))


def test_unreadable_thresholds_file_is_a_clear_error(tmp_path):
    (tmp_path / "acceptance.json").write_text("{not json")
    with pytest.raises(ValueError, match="acceptance thresholds"):
        accept.for_data_dir(tmp_path)


def test_readers_load_no_thresholds_at_import():
    code = ("import pipeline.consensus, pipeline.recognize.read, pipeline.accept as a; "
            "print(a.shipped.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


@pytest.mark.parametrize("argv", [["bench"], ["calibrate", "--out", "x.json"], ["samples", "make", "--out", "x",
                                                                             "--pages", "1"]])
def test_tool_commands_say_what_to_install_when_tools_are_absent(argv, tmp_path):
    code = ("import sys; sys.modules['susulan_tools'] = None; from pipeline.cli import main; "
            f"sys.exit(main({argv!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 3, out.stderr
    assert "pip install -e tools" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "x").exists()


def test_page_doubt_and_the_shift_check_per_head(tmp_path):
    assert accept.page_doubt([]) == 0.0
    assert accept.page_doubt([1.0, 0.8, 0.9]) == pytest.approx(0.1)
    (tmp_path / "acceptance.json").write_text(json.dumps({"page": {"doubt_limits": {"digits": 0.05,
                                                                                    "letters": 0.12}}}))
    p = accept.for_data_dir(tmp_path)
    assert p.unlike_seen(0.051, "digits") and not p.unlike_seen(0.05, "digits")
    assert not p.unlike_seen(0.1, "letters") and p.unlike_seen(0.121, "letters")
    assert not Policy({}).unlike_seen(0.99, "digits")  # no limit calibrated: no page is held back


def test_an_older_single_doubt_limit_holds_for_both_heads(tmp_path):
    (tmp_path / "acceptance.json").write_text(json.dumps({"page": {"doubt_limit": 0.08}}))
    p = accept.for_data_dir(tmp_path)
    assert all(p.unlike_seen(0.081, h) and not p.unlike_seen(0.08, h) for h in ("digits", "letters"))


def test_a_page_unlike_the_known_hands_is_held_by_head():
    from pipeline.models import Reading
    from pipeline.recognize import read

    r = Reading("nik", 0, "digits", "3529", 0.999, "auto", "icr", (), {"cells": []})
    held = read.hold_unlike(r, 0.2, "digits")
    assert held.status == "review" and held.value == "3529" and held.detail["held"] == "page"
    assert "angka" in held.detail["note"] and "tidak mirip" in held.detail["note"]
    assert "huruf" in read.hold_unlike(r, 0.2, "letters").detail["note"]


def test_a_village_from_the_official_list_is_judged_apart_from_open_letters():
    from pipeline import forms

    form = forms.load("pendaftaran")
    kinds = {f.name: f.accept_kind for f in form.fields}
    assert kinds["village"] == "lexicon" and kinds["name"] == kinds["address"] == "letters"
    assert forms.accept_kinds()[("pendaftaran", "village")] == "lexicon"
    p = Policy({"letters": accept.NEVER, "lexicon": 0.9})
    assert p.status_for("lexicon", 0.95) == "auto"
    assert p.status_for("letters", 0.9999) == "review"  # a name as sure as that is still not auto
