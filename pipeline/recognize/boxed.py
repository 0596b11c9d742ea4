"""Comb-box fields (digits, date, time, letters): cell readings -> a value in export form + confidence.

Also the constraint step: where NIK and birth date/sex disagree, the most probable
combination of top-k cell readings that agrees is chosen (the NIK carries the birth
date, +40 on the day for women).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import replace

from pipeline.calibrate import load_thresholds
from pipeline.models import FieldDef, Reading
from pipeline.recognize.icr import CellReading

AUTO_THRESHOLD = {"digits": 0.99, "date": 0.99, "time": 0.99, "letters": 0.99, **load_thresholds()}
"""Field confidence from which a value is accepted without review (``susulan calibrate``)."""
UNSURE_CELL = 0.9
MAX_UNSURE = 5


def compose(kind: str, chars: list[str]) -> str:
    """Cell characters (``" "`` = empty) -> the export value of a field."""
    if kind == "letters":
        return re.sub(r"\s+", " ", "".join(chars)).strip()
    digits = "".join(c for c in chars if c != " ")
    if kind == "date" and len(digits) == 8:
        return f"{digits[4:]}-{digits[2:4]}-{digits[:2]}"
    if kind == "time" and len(digits) == 4:
        return f"{digits[:2]}:{digits[2:]}"
    return digits


def confidence(cells: list[CellReading]) -> float:
    """Joint probability of the chosen reading of every cell."""
    p = 1.0
    for c in cells:
        p *= c.topk[0][1]
    return p


def reading(field: FieldDef, cells: list[CellReading], chosen: list[str] | None = None) -> Reading:
    """The field's value from its cells (best candidate per cell unless ``chosen`` overrides)."""
    chars = chosen or [c.topk[0][0] for c in cells]
    probs = [dict(c.topk).get(ch, 1e-6) for c, ch in zip(cells, chars)]
    conf = 1.0
    for p in probs:
        conf *= p
    value = compose(field.kind, chars)
    status = "auto" if conf >= AUTO_THRESHOLD.get(field.kind, 1.1) else "review"
    alts = _alternatives(field.kind, cells, chars)
    return Reading(field.name, field.record, field.kind, value, round(conf, 4), status, "icr",
                   ((value, round(conf, 4)), *alts),
                   {"cells": [[list(t) for t in c.topk[:3]] for c in cells]})


def _alternatives(kind: str, cells: list[CellReading], chars: list[str]) -> list[tuple[str, float]]:
    """Second-best values: swap the least sure cell for its runner-up."""
    out = []
    order = sorted(range(len(cells)), key=lambda i: cells[i].topk[0][1])
    for i in order[:2]:
        if len(cells[i].topk) > 1:
            alt = list(chars)
            alt[i] = cells[i].topk[1][0]
            out.append((compose(kind, alt), round(cells[i].topk[1][1], 4)))
    return out


def _options(cells: list[CellReading]) -> list[list[tuple[str, float]]]:
    """Per cell: the best candidate only if sure, else its top-2 (bounded count of unsure cells)."""
    unsure = sorted(range(len(cells)), key=lambda i: cells[i].topk[0][1])[:MAX_UNSURE]
    unsure = [i for i in unsure if cells[i].topk[0][1] < UNSURE_CELL]
    return [list(c.topk[:2]) if i in unsure else [c.topk[0]] for i, c in enumerate(cells)]


def agree_nik(nik_cells: list[CellReading], birth_cells: list[CellReading], sex: str,
              consistent: Callable[[str, str, str], bool]) -> tuple[list[str], list[str]] | None:
    """The most probable (NIK chars, birth-date chars) among top-2 readings of unsure cells that agree."""
    best, best_p = None, 0.0
    nik_opts, birth_opts = _options(nik_cells), _options(birth_cells)
    for nik in itertools.product(*nik_opts):
        p_nik = 1.0
        for _, p in nik:
            p_nik *= p
        for birth in itertools.product(*birth_opts):
            p = p_nik
            for _, q in birth:
                p *= q
            if p > best_p and consistent("".join(c for c, _ in nik), compose("date", [c for c, _ in birth]), sex):
                best, best_p = ([c for c, _ in nik], [c for c, _ in birth]), p
    return best


def _status(kind: str, conf: float) -> str:
    return "auto" if conf >= AUTO_THRESHOLD.get(kind, 1.1) else "review"


def confirm_by_agreement(nik: Reading, birth: Reading) -> tuple[Reading, Reading]:
    """NIK digits 7-12 and the birth date were written separately yet agree: both become surer.

    Both would have to be misread into the same wrong date for the agreement to mislead,
    so the error of each is roughly the product of the two errors. The NIK's other digits
    (region, sequence) keep their own probabilities.
    """
    cells = nik.detail.get("cells", [])
    probs = [dict((c, p) for c, p in cell).get(ch, 1e-6) for cell, ch in zip(cells, nik.value)]
    if len(probs) != 16:
        return nik, birth
    p_date = 1.0
    for p in probs[6:12]:
        p_date *= p
    both = 1 - (1 - p_date) * (1 - birth.confidence)
    rest = 1.0
    for p in probs[:6] + probs[12:]:
        rest *= p
    c_nik, c_birth = round(rest * both, 4), round(both, 4)
    note = {"agreement": "NIK and birth date agree"}
    return (replace(nik, confidence=c_nik, status=_status("digits", c_nik), detail={**nik.detail, **note}),
            replace(birth, confidence=c_birth, status=_status("date", c_birth), detail={**birth.detail, **note}))
