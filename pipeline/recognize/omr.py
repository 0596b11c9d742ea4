"""Tick boxes: fill measure per option, a threshold adapted to the page, and a decision per field.

Fills are measured with the printed form dropped out, so an empty box reads ~0. As in
OMRChecker, the threshold between empty and marked boxes is put in the largest gap of
the page's sorted fill values (above the empty cluster); values near it are a grey
zone sent to review.
As in SDAPS, a box blacked out completely beside another ticked box is a correction.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline import accept
from pipeline.accept import Policy
from pipeline.extract import ink_fraction
from pipeline.models import FieldDef, Reading

FALLBACK_THRESHOLD = 0.03
THRESHOLD_RANGE = (0.01, 0.08)
MAX_EMPTY = 0.05
"""An empty box (print dropped out) never holds more ink than this; the gap searched starts below it."""
MIN_GAP = 0.015
GREY_ZONE = 0.008
BLACKED_OUT = 0.62


def fills(page: np.ndarray, field: FieldDef) -> list[float]:
    """Ink share inside each option box (``page`` has the printed border dropped out)."""
    return [ink_fraction(page, o.box, 0.04) for o in field.options]


def page_threshold(all_fills: list[float]) -> float:
    """Threshold in the largest gap of the sorted fills that starts among empty-looking boxes."""
    values = sorted(all_fills)
    lo, hi = THRESHOLD_RANGE
    best_gap, best = 0.0, FALLBACK_THRESHOLD
    for a, b in zip(values, values[1:]):
        if a <= MAX_EMPTY and b - a > best_gap:
            best_gap, best = b - a, min(max((a + b) / 2, lo), hi)
    return best if best_gap >= MIN_GAP else FALLBACK_THRESHOLD


def decide(field: FieldDef, values: list[float], threshold: float, required: bool = True,
           policy: Policy | None = None) -> Reading:
    """The chosen option, a confidence and ``auto``/``review`` (by the acceptance ``policy``) from one field's fills.

    The reader holds back (always ``review``) a faint mark, several marks, and no mark in
    a required field.
    """
    marked = [i for i, v in enumerate(values) if v >= threshold + GREY_ZONE]
    unsure = [i for i, v in enumerate(values) if abs(v - threshold) < GREY_ZONE]
    blacked = [i for i in marked if values[i] >= BLACKED_OUT]
    ticks = [i for i in marked if i not in blacked]
    detail = {"fills": [round(v, 3) for v in values], "threshold": round(threshold, 3)}
    order = sorted(range(len(values)), key=lambda i: -values[i])
    topk = tuple((field.options[i].value, round(values[i], 3)) for i in order[:3])
    margin = min((abs(v - threshold) for v in values), default=0.0)
    confidence = 1 - math.exp(-margin / 0.02)

    def reading(value: str, conf: float, note: str, held: bool = False) -> Reading:
        status = accept.status_for("choice", conf, held=held, policy=policy)
        return Reading(field.name, field.record, "choice", value, round(conf, 4), status, "omr", topk,
                       {**detail, "note": note})

    if unsure:
        best = field.options[order[0]].value if marked else ""
        return reading(best, min(confidence, 0.5), "faint mark", held=True)
    if len(ticks) == 1:
        note = "correction: blacked-out box ignored" if blacked else "one mark"
        return reading(field.options[ticks[0]].value, confidence, note)
    if not ticks and len(blacked) == 1:
        return reading(field.options[blacked[0]].value, confidence * 0.9, "box filled in")
    if not marked:
        return reading("", confidence, "no mark", held=required)
    return reading(field.options[order[0]].value, 0.3, "several marks", held=True)
