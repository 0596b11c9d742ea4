"""A village field read against the official desa list: the posterior of every desa name given its cells.

A Puskesmas serves the desa of its own kecamatan (its wilayah kerja), and now and then a patient
from elsewhere. The cells of a village field are weighed against every desa/kelurahan name of the
site's province (Kemendagri list, ``pipeline/data/wilayah.csv``), written left-aligned one letter
per cell, with or without the spaces between its words::

    P(desa | cells) ∝ prior(desa) · Π q_i(c_i) / π(c_i)

(``q_i`` the classifier's calibrated cell probabilities, ``π`` its class balance). Whatever is no
desa name of the province (a dusun, a place further away, an abbreviation) competes as one lump:
:data:`OTHER` times the cells' probability of being any word at all under the letter model
(:func:`spelling.log_mass`). The value is the likeliest desa, its posterior the confidence (its
own acceptance kind, ``lexicon``, with a threshold calibrated on held-out writers); where the lump
is likelier, the value stays as read, for review, with the nearest desa names as alternatives.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from functools import lru_cache

import numpy as np

from pipeline import accept, regions
from pipeline.accept import Policy
from pipeline.models import LEXICON_KIND, Reading
from pipeline.recognize import spelling
from pipeline.recognize.boxed import ABSENT
from pipeline.recognize.icr import CellReading

OTHER = 0.1
"""Prior odds that a village field holds no desa name of the province (a dusun, a place further away, a shorthand)
against one that does: 1 to 10."""
SHARES = (0.80, 0.15, 0.05)
"""How the prior of the desa names is split among the desa of the site's own kecamatan, the rest of its kabupaten and
the rest of its province (each desa of a group equally likely)."""
SYMBOLS = " " + spelling.LETTERS
ALTERNATIVES = 3


@lru_cache(maxsize=8)
def candidates(kecamatan: str, cells: int) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
    """Desa names of the province of ``kecamatan`` (``"35.29.05"``) that fit in ``cells`` boxes.

    Returns the names (upper case, as written on forms), their spellings as rows of symbol
    indices (a name with spaces also written without them), the name index of each row and
    each row's log prior.
    """
    kabupaten = kecamatan[:5] + "."
    groups: tuple[list[str], list[str], list[str]] = ([], [], [])
    for code, name in sorted((code, name) for found in regions.desa(kecamatan[:2]).values() for name, code in found):
        group = 0 if code.startswith(kecamatan + ".") else 1 if code.startswith(kabupaten) else 2
        groups[group].append(name)
    prior: dict[str, float] = {}
    for share, names in zip(SHARES, groups, strict=True):
        for name in names:
            written = _written(name)
            if written:
                prior[written] = prior.get(written, 0.0) + share / len(names)
    index = {c: i for i, c in enumerate(SYMBOLS)}
    names_out: list[str] = []
    rows: list[list[int]] = []
    owner: list[int] = []
    log_prior: list[float] = []
    for name, p in prior.items():
        spellings = [s for s in dict.fromkeys((name, name.replace(" ", ""))) if len(s) <= cells]
        if not spellings:
            continue
        for s in spellings:
            rows.append([index[c] for c in s.ljust(cells)])
            owner.append(len(names_out))
            log_prior.append(math.log(p / len(spellings)))
        names_out.append(name)
    return (tuple(names_out), np.array(rows, np.intp).reshape(-1, cells), np.array(owner, np.intp),
            np.array(log_prior))


def _written(name: str) -> str:
    """An official name as capitals in comb boxes (``Ta'ambah`` -> ``TAAMBAH``); "" if it holds other characters."""
    text = re.sub(r"\s+", " ", re.sub(r"[-./]", " ", name.upper().replace("'", ""))).strip()
    return text if re.fullmatch(r"[A-Z ]+", text) else ""


def read(r: Reading, cells: list[CellReading], kecamatan: str, policy: Policy | None = None,
         table: np.ndarray | None = None) -> Reading:
    """The village reading ``r`` (from ``cells``) decided against the desa list around ``kecamatan``.

    ``table``: the letter model in use (a clinic's adaptation brings its own), for the lump of
    names that are no desa.
    """
    if not r.value or not kecamatan or not cells:
        return r
    names, rows, owner, log_prior = candidates(kecamatan, len(cells))
    if not names:
        return r
    ratio = np.full((len(cells), len(SYMBOLS)), math.log(ABSENT))
    ratio -= np.log([spelling.class_prior(c) for c in SYMBOLS])
    for i, cell in enumerate(cells):
        for ch, q in cell.topk:
            if ch in SYMBOLS and q > 0:
                ratio[i, SYMBOLS.index(ch)] = math.log(q / spelling.class_prior(ch))
    scores = ratio[np.arange(len(cells)), rows].sum(axis=1) + log_prior
    per_name = np.full(len(names), -np.inf)
    np.logaddexp.at(per_name, owner, scores)
    lump = math.log(OTHER) + spelling.log_mass([list(c.topk) for c in cells], 1.0, table)
    z = float(np.logaddexp(np.logaddexp.reduce(per_name), lump))
    order = np.argsort(-per_name)[:ALTERNATIVES + 1]
    ranked = [(names[i], round(math.exp(per_name[i] - z), 4)) for i in order]
    best, p_best = ranked[0]
    detail = {**r.detail, "read": r.value, "village_p": p_best}
    if per_name[order[0]] < lump:  # likelier no desa at all: as read, for review
        return replace(r, status=accept.status_for(LEXICON_KIND, r.confidence, held=True, policy=policy),
                       topk=((r.value, r.confidence), *ranked[:ALTERNATIVES]), detail=detail)
    others = ranked[1:] + ([(r.value, r.confidence)] if r.value not in names else [])
    return replace(r, value=best, confidence=p_best, status=accept.status_for(LEXICON_KIND, p_best, policy=policy),
                   topk=((best, p_best), *[a for a in others if a[0] != best][:ALTERNATIVES]), detail=detail)
