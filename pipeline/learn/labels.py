"""A reviewed value -> one label per comb cell, and the cell crops cut back out of the stored field snippet.

How each kind sits in its cells (the forms' instructions, see ``synth/fill.py``):
dates fill all 8 cells ``DDMMYYYY``, times all 4 ``HHMM``; digits start in the first
cell, but a short number may be right-aligned (``rt`` = ``__3``); letters start in the
first cell with one empty cell between words, though a writer may leave more. A
placement counts only if its empty cells are exactly the cells the machine read as
empty; when no placement fits (a crossed-out cell, a stray mark, a value the person
fixed from another source) the value teaches nothing and is skipped.
"""

from __future__ import annotations

import itertools
import json

import cv2
import numpy as np

from pipeline.recognize.icr import BLANK, MARGIN_PX

ALPHABET_OF = {"digits": "digits", "date": "digits", "time": "digits", "letters": "letters"}
"""Classifier head that reads each boxed field kind."""


def placements(kind: str, value: str, n: int) -> list[list[str]]:
    """Ways ``value`` (export form) can be written in ``n`` cells, each a list of ``n`` chars (``" "`` = empty)."""
    if kind == "date":
        if len(value) != 10 or value[4] != "-" or value[7] != "-" or n != 8:
            return []
        return [list(value[8:10] + value[5:7] + value[0:4])]
    if kind == "time":
        if len(value) != 5 or value[2] != ":" or n != 4:
            return []
        return [list(value[:2] + value[3:])]
    if kind == "digits":
        if not value.isdigit() or len(value) > n:
            return [] if value else [[BLANK] * n]
        pad = [BLANK] * (n - len(value))
        return _unique([list(value) + pad, pad + list(value)])
    if kind == "letters":
        words = value.split()
        if not words:
            return [[BLANK] * n]
        if not all(w.isalpha() and w.isupper() and w.isascii() for w in words):
            return []
        return _spread(words, n)
    return []


def _spread(words: list[str], n: int) -> list[list[str]]:
    """Words in order, the first from cell 0, with one or more empty cells between them."""
    used = sum(map(len, words)) + len(words) - 1
    if used > n:
        return []
    out = []
    slack = n - used
    for extra in itertools.product(range(slack + 1), repeat=len(words) - 1):
        if sum(extra) > slack:
            continue
        cells: list[str] = []
        for i, w in enumerate(words):
            if i:
                cells += [BLANK] * (1 + extra[i - 1])
            cells += list(w)
        out.append(cells + [BLANK] * (n - len(cells)))
    return out


def _unique(options: list[list[str]]) -> list[list[str]]:
    seen: list[list[str]] = []
    for o in options:
        if o not in seen:
            seen.append(o)
    return seen


def cell_labels(kind: str, value: str, machine_cells: list[list]) -> list[str] | None:
    """Per cell, the character the reviewed ``value`` puts there, or None when that is not clear.

    ``machine_cells`` are the stored candidates of the machine reading, ``[[char, p], ...]``
    per cell, best first; only which cells it read as empty is used.
    """
    n = len(machine_cells)
    if n == 0:
        return None
    empty = [bool(c) and c[0][0] == BLANK for c in machine_cells]
    fits = [p for p in placements(kind, value, n) if [ch == BLANK for ch in p] == empty]
    return fits[0] if len(fits) == 1 else None


def cut_cells(snippet_png: bytes, cells_px: str | list) -> list[np.ndarray]:
    """The comb-cell crops the reader saw, cut from a field's stored snippet (grey uint8, 255 = paper).

    The snippet is the field box plus 1 mm and ``cells_px`` the cell rectangles inside
    it, so each cell plus :data:`~pipeline.recognize.icr.MARGIN_PX` lies within it;
    anything outside is paper, as when the page is cut.
    """
    boxes = json.loads(cells_px) if isinstance(cells_px, str) else cells_px
    try:
        img = cv2.imdecode(np.frombuffer(snippet_png or b"", np.uint8), cv2.IMREAD_GRAYSCALE)
    except cv2.error:
        return []
    if img is None:
        return []
    out = []
    m = MARGIN_PX
    for x, y, w, h in boxes:
        crop = np.full((h + 2 * m, w + 2 * m), 255, np.uint8)
        x0, y0, x1, y1 = max(x - m, 0), max(y - m, 0), min(x + w + m, img.shape[1]), min(y + h + m, img.shape[0])
        if x1 > x0 and y1 > y0:
            crop[y0 - (y - m):y1 - (y - m), x0 - (x - m):x1 - (x - m)] = img[y0:y1, x0:x1]
        out.append(crop)
    return out
