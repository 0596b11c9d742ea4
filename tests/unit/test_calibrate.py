"""Auto thresholds from the calibration set: the pooled error bound and the margin rule."""

from __future__ import annotations

from susulan_tools import calibrate


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
