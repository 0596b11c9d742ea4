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
from functools import lru_cache

import numpy as np

from pipeline import accept, regions, validate
from pipeline.accept import Policy
from pipeline.models import FieldDef, Reading
from pipeline.recognize import spelling
from pipeline.recognize.icr import CellReading

UNSURE_CELL = 0.9
MAX_UNSURE = 5
ABSENT = 1e-4
"""Probability of a character that is not among a cell's stored candidates."""
NIK_ELSEWHERE = 0.1
"""Prior share of NIKs registered outside the Puskesmas' kabupaten."""
NIK_UNKNOWN_CODE = 0.001
"""Prior of a region code missing from the Kemendagri list (a misread, or a code newer than the list)."""
LETTER_PATHS = 6
"""Most probable spellings of a letters field kept (:func:`spelling.best_readings`); the next three distinct
values are its alternatives. On the calib writers (2,250 pages) the truth of a wrongly read name or address was
among the three alternatives the review app offers for 53.8 % of them, against 29.8 % with single-cell swaps."""


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


def reading(field: FieldDef, cells: list[CellReading], chosen: list[str] | None = None,
            policy: Policy | None = None, letters: np.ndarray | None = None) -> Reading:
    """The field's value from its cells (best candidate per cell unless ``chosen`` overrides).

    Capitals are read as words: the letter model of :mod:`spelling` (or ``letters``, e.g. one
    with a clinic's lexicon; with the address words for an address) weighs the cell candidates
    and gives the posterior probability of the whole field. ``auto`` or ``review`` by the
    acceptance ``policy`` (default: the shipped one).
    """
    note = {}
    alts: list[tuple[str, float]] | None = None
    if chosen is None and field.kind == "letters":
        table = spelling.for_address(letters) if field.role == "address" else letters
        ranked = spelling.best_readings([list(c.topk) for c in cells], LETTER_PATHS, table=table)
        chars, conf = ranked[0]
        alts = _distinct([(compose("letters", path), p) for path, p in ranked[1:]], compose("letters", chars))
    else:
        chars = chosen or [c.topk[0][0] for c in cells]
        conf = likelihood([c.topk for c in cells], chars)
        if chosen is None and not validate.field_ok(field.role or field.name, compose(field.kind, chars)):
            found = _rule_abiding(field, cells)
            if found is not None:
                chars, conf = found
                note = {"note": "dipilih dari kemungkinan lain agar sesuai aturan isian"}
    value = compose(field.kind, chars)
    status = accept.status_for(field.kind, conf, policy=policy)
    alts = _alternatives(field.kind, cells, chars) if alts is None else alts
    return Reading(field.name, field.record, field.kind, value, round(conf, 4), status, "icr",
                   ((value, round(conf, 4)), *alts),
                   {"cells": [[list(t) for t in c.topk[:3]] for c in cells], **note})


def _rule_abiding(field: FieldDef, cells: list[CellReading]) -> tuple[list[str], float] | None:
    """The most probable reading that keeps the field's own rules (a real date, a time within opening hours, ...).

    Top-3 of the (at most 5) least sure cells are combined. The confidence is its share of
    the rule-abiding combinations plus the probability mass not enumerated (conservative).
    """
    opts = _options(cells, k=3, unsure=0.99)
    best, best_p, valid, seen = None, 0.0, 0.0, 0.0
    for combo in itertools.product(*opts):
        p = 1.0
        for _, q in combo:
            p *= q
        seen += p
        chars = [c for c, _ in combo]
        if validate.field_ok(field.role or field.name, compose(field.kind, chars)):
            valid += p
            if p > best_p:
                best, best_p = chars, p
    if best is None:
        return None
    return best, best_p / (valid + max(0.0, 1.0 - seen))


def likelihood(cells: list, chars: str | list[str]) -> float:
    """Probability of ``chars`` (one per cell, ``" "`` = empty) under each cell's candidates ``[(char, p), ...]``."""
    if len(chars) != len(cells):
        return 0.0
    p = 1.0
    for cand, ch in zip(cells, chars, strict=True):
        p *= dict((c, q) for c, q in cand).get(ch, ABSENT)
    return p


def _scores(cells: list, own: str, own_chars: str, candidates: dict[str, tuple[str, float]], other: float
            ) -> tuple[dict[str, float], float]:
    scores = {v: prior * likelihood(cells, chars) for v, (chars, prior) in candidates.items()}
    rest = other * max(0.0, 1.0 - sum(likelihood(cells, chars) for chars, _ in candidates.values()))
    if own not in scores:
        scores[own] = other * likelihood(cells, own_chars)
        rest = max(0.0, rest - scores[own])
    return scores, sum(scores.values()) + rest


def posterior(cells: list, own: str, own_chars: str, candidates: dict[str, tuple[str, float]], other: float
              ) -> tuple[str, float]:
    """Most probable value and its probability given a prior; ``candidates`` maps value -> (cell chars, prior).

    Every value that is not a candidate shares the prior ``other`` as one lump (weighted
    by the cells' probability of not being any candidate), so the own reading competes
    against all of them together: a conservative posterior.
    """
    scores, total = _scores(cells, own, own_chars, candidates, other)
    if total <= 0:
        return own, 0.0
    best = max(scores, key=lambda v: scores[v])
    return best, scores[best] / total


@lru_cache(maxsize=4)
def region_prior(site_kecamatan: str) -> dict[str, tuple[str, float]]:
    """Prior of a NIK's first six digits: half the Puskesmas' own kecamatan, the rest its kabupaten's others."""
    own = site_kecamatan.replace(".", "")
    kab = site_kecamatan[:5] + "."
    others = [c.replace(".", "") for c in regions.codes() if c.count(".") == 2 and c.startswith(kab)]
    others = [c for c in others if c != own]
    inside = 1 - NIK_ELSEWHERE
    prior = {c: (c, inside / 2 / len(others)) for c in others}
    prior[own] = (own, inside / 2 if others else inside)
    return prior


def with_region(nik: Reading, cells: list[CellReading], site_kecamatan: str, policy: Policy | None = None
                ) -> Reading:
    """The NIK reading with its region code weighed against where patients live (it may change).

    The first six digits get the posterior probability of :func:`region_prior`; the
    other ten keep their cell probabilities.
    """
    if len(nik.value) != 16 or len(cells) != 16 or not site_kecamatan:
        return nik
    head = [list(c.topk) for c in cells[:6]]
    prefix = nik.value[:6]
    prior = region_prior(site_kecamatan)
    if prefix not in prior and not regions.kecamatan_exists(prefix):
        prior = {**prior, prefix: (prefix, NIK_UNKNOWN_CODE)}
    prefix, p_head = posterior(head, prefix, prefix, prior, NIK_ELSEWHERE)
    value = prefix + nik.value[6:]
    conf = p_head * likelihood([list(c.topk) for c in cells[6:]], value[6:])
    detail = {**nik.detail, "region_p": round(p_head, 6)}
    if value != nik.value:
        detail["note"] = "kode wilayah NIK dipilih menurut wilayah Puskesmas"
    return replace(nik, value=value, confidence=round(conf, 4), status=accept.status_for("digits", conf, policy=policy),
                   topk=((value, round(conf, 4)), *nik.topk), detail=detail)


def _distinct(ranked: list[tuple[str, float]], value: str, n: int = 3) -> list[tuple[str, float]]:
    """The first ``n`` values of ``ranked`` other than ``value``, each once (its likeliest spelling's probability)."""
    out: list[tuple[str, float]] = []
    for alt, p in ranked:
        if alt != value and alt not in (a for a, _ in out):
            out.append((alt, round(p, 4)))
    return out[:n]


def _alternatives(kind: str, cells: list[CellReading], chars: list[str]) -> list[tuple[str, float]]:
    """Second-best values: swap the least sure cell for its runner-up (never a cell without a pixel of ink)."""
    out = []
    order = sorted((i for i in range(len(cells)) if cells[i].ink), key=lambda i: cells[i].topk[0][1])
    for i in order[:2]:
        if len(cells[i].topk) > 1:
            alt = list(chars)
            alt[i] = cells[i].topk[1][0]
            out.append((compose(kind, alt), round(cells[i].topk[1][1], 4)))
    return out


def _options(cells: list[CellReading], k: int = 2, unsure: float = UNSURE_CELL) -> list[list[tuple[str, float]]]:
    """Per cell: the best candidate only if sure, else its top-k (at most :data:`MAX_UNSURE` unsure cells)."""
    least = sorted(range(len(cells)), key=lambda i: cells[i].topk[0][1])[:MAX_UNSURE]
    least = [i for i in least if cells[i].topk[0][1] < unsure]
    return [list(c.topk[:k]) if i in least else [c.topk[0]] for i, c in enumerate(cells)]


def agree_nik(nik_cells: list[CellReading], birth_cells: list[CellReading], sex: str,
              consistent: Callable[[str, str, str], bool]) -> tuple[list[str], list[str]] | None:
    """The most probable (NIK chars, birth-date chars) among top-2 readings of unsure cells that agree.

    First only cells below :data:`UNSURE_CELL` may change; if no combination agrees, any of
    the least sure cells may (a confident misread, e.g. 1 read as 7).
    """
    for unsure in (UNSURE_CELL, 0.9999):
        best, best_p = None, 0.0
        nik_opts, birth_opts = _options(nik_cells, unsure=unsure), _options(birth_cells, unsure=unsure)
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
        if best is not None:
            return best
    return None


def confirm_by_agreement(nik: Reading, birth: Reading, policy: Policy | None = None) -> tuple[Reading, Reading]:
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
    rest = nik.detail.get("region_p")
    if rest is None:
        rest = 1.0
        for p in probs[:6]:
            rest *= p
    for p in probs[12:]:
        rest *= p
    c_nik, c_birth = round(rest * both, 4), round(both, 4)
    note = {"agreement": "NIK and birth date agree"}
    return (replace(nik, confidence=c_nik, status=accept.status_for("digits", c_nik, policy=policy),
                    detail={**nik.detail, **note}),
            replace(birth, confidence=c_birth, status=accept.status_for("date", c_birth, policy=policy),
                    detail={**birth.detail, **note}))
