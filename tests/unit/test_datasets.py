"""Handwriting sources: UNIPEN split by site (writers never shared between splits), fixed writers, strays."""

from __future__ import annotations

import numpy as np

from susulan_tools import datasets
from susulan_tools.synth import glyphs


def test_unipen_splits_share_no_site_and_keep_every_sample():
    for kind, total in (("digits", 6327), ("letters", 14511)):
        parts = {s: datasets.unipen(kind, s) for s in datasets.SPLITS}
        sites = {s: set(p.sites.tolist()) for s, p in parts.items()}
        assert not sites["train"] & sites["calib"] and not sites["train"] & sites["test"]
        assert not sites["calib"] & sites["test"]
        assert sum(len(p.samples) for p in parts.values()) == total
        for s, p in parts.items():
            assert sites[s] <= set(datasets.UNIPEN_SITES[s])
            assert len(p.samples) == len(p.labels) == len(p.index)
        assert set(parts["test"].labels.tolist()) == set("0123456789" if kind == "digits" else
                                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def test_excluded_samples_are_train_sites_only():
    excluded = datasets.excluded()
    for kind in ("digits", "letters"):
        train = set(datasets.unipen(kind, "train").index.tolist())
        assert excluded.get(datasets.UNIPEN_SETS[kind], set()) <= train


def test_a_fixed_writer_is_one_site_and_always_the_same():
    a, b = datasets.writer("digits", "test", 5), datasets.writer("digits", "test", 5)
    assert np.array_equal(a.index, b.index)
    assert len(set(a.sites.tolist())) == 1 and set(a.sites.tolist()) <= set(datasets.UNIPEN_SITES["test"])
    labels = a.labels.tolist()
    assert set(labels) == set("0123456789") and max(labels.count(d) for d in set(labels)) <= datasets.WRITER_PER_CHAR
    assert not np.array_equal(a.index, datasets.writer("digits", "test", 6).index)


def test_a_stroke_far_from_the_rest_is_dropped():
    body = np.array([[100, 100], [100, 900], [150, 900]], np.float32)
    cross = np.array([[60, 500], [140, 500]], np.float32)
    stray = np.array([[900, 50], [910, 60]], np.float32)
    kept = datasets.drop_strays([body, cross, stray])
    assert len(kept) == 2 and kept[0] is body and kept[1] is cross


def test_pen_mask_is_ink_of_the_requested_height():
    rng = np.random.default_rng(0)
    sample = datasets.unipen("digits", "test").samples[0]
    m = glyphs.pen_mask(rng, sample, 40, 3.0)
    assert m.dtype == np.float32 and 0 <= m.min() and m.max() <= 1
    ys = np.nonzero(m.max(axis=1) > 0.3)[0]
    assert 30 <= ys.max() - ys.min() + 1 <= 48
