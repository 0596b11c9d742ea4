"""Tick decisions from fill values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline import forms
from pipeline.recognize import omr

POLI = next(f for f in forms.load("pendaftaran").fields if f.name == "poli")


def test_threshold_sits_in_the_largest_gap() -> None:
    fills = [0.0, 0.01, 0.005, 0.02, 0.25, 0.3, 0.01, 0.22]
    t = omr.page_threshold(fills)
    assert 0.02 < t < 0.22


def test_all_empty_page_uses_fallback() -> None:
    assert omr.page_threshold([0.0, 0.01, 0.005]) == omr.FALLBACK_THRESHOLD


def test_one_tick_is_auto() -> None:
    r = omr.decide(POLI, [0.0, 0.3, 0.01, 0.0, 0.0], 0.1)
    assert (r.value, r.status) == ("gigi", "auto")
    assert r.topk[0][0] == "gigi"


def test_blacked_out_box_beside_a_tick_is_a_correction() -> None:
    r = omr.decide(POLI, [0.9, 0.0, 0.25, 0.0, 0.0], 0.1)
    assert (r.value, r.status) == ("kia", "auto")
    assert "correction" in r.detail["note"]


def test_two_ticks_go_to_review() -> None:
    r = omr.decide(POLI, [0.3, 0.0, 0.25, 0.0, 0.0], 0.1)
    assert r.status == "review" and r.value == "umum"


def test_faint_mark_goes_to_review() -> None:
    r = omr.decide(POLI, [0.0, 0.105, 0.0, 0.0, 0.0], 0.1)
    assert r.status == "review"


def test_no_mark_on_required_field_goes_to_review() -> None:
    r = omr.decide(POLI, [0.0] * 5, 0.1)
    assert (r.value, r.status) == ("", "review")


@given(st.lists(st.floats(0, 1), min_size=5, max_size=5), st.floats(0.04, 0.2))
def test_decision_is_always_an_option_or_blank(values: list[float], threshold: float) -> None:
    r = omr.decide(POLI, values, threshold)
    assert r.value in {"", *(o.value for o in POLI.options)}
    assert 0.0 <= r.confidence <= 1.0
    assert r.status in ("auto", "review")
    if r.status == "auto" and r.value:
        assert sum(v >= threshold for v in values) >= 1
