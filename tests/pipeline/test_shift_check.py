"""The shift check holds, per head of the classifier, the values of a page whose cells look unlike the calib hands."""

from __future__ import annotations

import cv2
import pytest

from pipeline import accept
from pipeline.models import HEAD_OF
from pipeline.process import read_page
from susulan_tools.synth import make


@pytest.fixture(scope="module")
def grey():
    """One generated registration form, as a feeder scan."""
    page = next(make.iter_pages(1, seed=11, kinds=["feeder"], antrean_share=0.0))
    image = page.aged.image
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


@pytest.mark.parametrize("unlike", ["digits", "letters"])
def test_only_the_values_of_the_head_whose_cells_look_unlike_are_held(grey, unlike):
    limits = {head: (0.0 if head == unlike else accept.NEVER) for head in ("digits", "letters")}
    policy = accept.Policy({**accept.shipped().thresholds, "letters": 0.0}, doubt_limits=limits)
    readings = [r for r in read_page(grey, policy).readings if r.kind in HEAD_OF]
    held = {r.name for r in readings if r.detail.get("held") == "page"}
    unlike_values = {r.name for r in readings if HEAD_OF[r.kind] == unlike and r.value}
    assert unlike_values and unlike_values <= held
    assert all(r.status == "review" for r in readings if r.name in held)
    others = [r for r in readings if HEAD_OF[r.kind] != unlike]
    assert others and not held & {r.name for r in others}
    assert any(r.status == "auto" for r in others)  # the other head's values are judged on their own
    word = "angka" if unlike == "digits" else "huruf"
    assert all(word in r.detail["note"] for r in readings if r.name in held)


def test_a_field_left_empty_is_not_held_for_the_hand_that_wrote_the_others():
    page = next(make.iter_pages(1, seed=13, kinds=["feeder"], antrean_share=0.0))  # a new patient: no No. RM
    assert page.truth()[0]["fields"]["rm_no"] == ""
    image = page.aged.image if page.aged.image.ndim == 2 else cv2.cvtColor(page.aged.image, cv2.COLOR_RGB2GRAY)
    policy = accept.Policy(dict(accept.shipped().thresholds), doubt_limits={"digits": 0.0, "letters": accept.NEVER})
    readings = {r.name: r for r in read_page(image, policy).readings}
    assert readings["rm_no"].value == "" and readings["rm_no"].status == "auto"
    assert "held" not in readings["rm_no"].detail
    assert readings["nik"].detail.get("held") == "page"  # the written digits of the page are held
