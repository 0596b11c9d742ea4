"""Template boxes -> pixels: background normalisation, ink measures, field and cell crops.

Input pages are already warped into the template frame (``align.PX_PER_MM``, origin
top-left). Crops are grey uint8 (255 = paper).
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.align import mm_to_px
from pipeline.models import Box, FieldDef, FieldImage, FormDefinition

CROP_PAD_MM = 1.0
"""Cells and fields are cut with this margin so strokes that cross a border are kept."""
INK_LEVEL = 185
"""A pixel darker than this (after normalisation, paper = 255) is ink. Ink is measured on pages
with the printed form dropped out (:mod:`pipeline.template`), so faint pencil-like strokes count."""


def normalise(page: np.ndarray) -> np.ndarray:
    """Divide out uneven light and paper tone (phone photos): paper becomes ~255, ink stays dark."""
    small = cv2.resize(page, None, fx=0.125, fy=0.125, interpolation=cv2.INTER_AREA)
    bg = cv2.dilate(small, np.ones((7, 7), np.uint8))
    bg = cv2.GaussianBlur(bg, (0, 0), 3)
    bg = cv2.resize(bg, (page.shape[1], page.shape[0]), interpolation=cv2.INTER_LINEAR)
    out = cv2.divide(page, np.maximum(bg, 1), scale=255)
    return out


def crop(page: np.ndarray, box: Box, pad_mm: float = 0.0) -> np.ndarray:
    """Pixels of ``box`` (mm) padded by ``pad_mm``, white where it leaves the page."""
    x, y, w, h = mm_to_px(box, pad_mm)
    out = np.full((h, w), 255, np.uint8)
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, page.shape[1]), min(y + h, page.shape[0])
    if x1 > x0 and y1 > y0:
        out[y0 - y:y1 - y, x0 - x:x1 - x] = page[y0:y1, x0:x1]
    return out


def inner(box: Box, shrink: float) -> Box:
    """The box shrunk by ``shrink`` of its size on every side (keeps printed lines out)."""
    x, y, w, h = box
    return (x + w * shrink, y + h * shrink, w * (1 - 2 * shrink), h * (1 - 2 * shrink))


def ink_fraction(page: np.ndarray, box: Box, shrink: float = 0.18) -> float:
    """Share of ink pixels inside the inner part of ``box``."""
    region = crop(page, inner(box, shrink))
    return float(np.count_nonzero(region < INK_LEVEL)) / max(region.size, 1)


def cell_crops(page: np.ndarray, field: FieldDef) -> list[np.ndarray]:
    """One crop per comb cell, padded by ``CROP_PAD_MM`` (the classifier's input contract)."""
    return [crop(page, c, CROP_PAD_MM) for c in field.cells]


def field_image(page: np.ndarray, field: FieldDef) -> FieldImage:
    """PNG snippet of a field for review, with its cells/options as pixel boxes inside the snippet."""
    img = crop(page, field.box, CROP_PAD_MM)
    ox, oy, _, _ = mm_to_px(field.box, CROP_PAD_MM)
    parts = field.cells or tuple(o.box for o in field.options) or (field.box,)
    rel = tuple((b[0] - ox, b[1] - oy, b[2], b[3]) for b in (mm_to_px(p) for p in parts))
    ok, png = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    return FieldImage(field.name, field.record, png.tobytes() if ok else b"", rel, mm_to_px(field.box))


def row_has_ink(page: np.ndarray, fields: tuple[FieldDef, ...], min_cells: int = 2) -> bool:
    """True if a record row holds handwriting: ink in a few cells or a marked option."""
    inked = 0
    for f in fields:
        boxes = f.cells or tuple(o.box for o in f.options)
        inked += sum(ink_fraction(page, b, 0.06) > 0.03 for b in boxes)
        if inked >= min_cells:
            return True
    return False


def _strokes(img: np.ndarray, k: int) -> np.ndarray:
    """Ink of ``img`` ``k`` times smaller, each pixel the darkest of its block, strokes one pixel wider.

    A thin stroke stays unbroken, and the line search (which walks along the direction it found)
    does not step off a slightly curved hand-drawn one.
    """
    small = cv2.erode(img, np.ones((k, k), np.uint8))[k // 2::k, k // 2::k]
    return cv2.dilate((small < INK_LEVEL).astype(np.uint8) * 255, np.ones((3, 3), np.uint8))


STRUCK_SHARE = 0.6
"""A stroke at least this share of a row's comb boxes long, lying along the row, crosses it out."""
STRUCK_GAP_MM = 2.0
"""Gaps a crossing stroke may have (where the printed cell borders were dropped from the ink page)."""
STRUCK_SLOPE = 0.15
"""Steepest rise per run of a crossing stroke (about 8.5 degrees)."""


def struck_through(ink: np.ndarray, fields: tuple[FieldDef, ...]) -> bool:
    """Whether one long, nearly horizontal stroke runs along a record row: a clerk crossed the row out.

    ``ink`` is the page with the print dropped. The stroke must span :data:`STRUCK_SHARE` of the row's
    comb boxes, more than any one field (the 20-cell name is 54 % of a queue-sheet row), so bars of
    letters written in the boxes never add up to one.
    """
    boxes = [c for f in fields for c in f.cells]
    if not boxes:
        return False
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes) - 1.0
    x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes) + 1.0
    band = crop(ink, (x0, y0, x1 - x0, y1 - y0))
    binary = _strokes(band, 2)  # 4x faster
    span = binary.shape[1]
    gap = round(STRUCK_GAP_MM * span / (x1 - x0))
    lines = cv2.HoughLinesP(binary, 1, np.pi / 360, threshold=int(0.3 * span), minLineLength=int(STRUCK_SHARE * span),
                            maxLineGap=gap)
    return lines is not None and any(abs(b - d) <= STRUCK_SLOPE * abs(c - a) for a, b, c, d in lines.reshape(-1, 4))


CROSS_SHARE = 0.5
"""A slanted stroke at least this share of the height of a form's fields long crosses the form out."""
CROSS_GAP_MM = 4.0
"""Gaps such a stroke may have: where it crossed printed labels and borders (dropped from the ink page)."""


def crossed_out(ink: np.ndarray, fields: tuple[FieldDef, ...]) -> bool:
    """Whether a long slanted stroke (15-75 degrees) runs over a form's fields: the sheet was crossed out.

    ``ink`` is the page with the print dropped. Writing in comb boxes and ticks is upright or level
    and a few millimetres long; one stroke over half the height of the filled area is no value.
    """
    if not fields:
        return False
    x0, y0 = min(f.box[0] for f in fields), min(f.box[1] for f in fields)
    x1, y1 = max(f.box[0] + f.box[2] for f in fields), max(f.box[1] + f.box[3] for f in fields)
    area = crop(ink, (x0, y0, x1 - x0, y1 - y0))
    binary = _strokes(area, 4)
    scale = binary.shape[0] / (y1 - y0)  # px per mm
    length = CROSS_SHARE * binary.shape[0]
    lines = cv2.HoughLinesP(binary, 1, np.pi / 180, threshold=int(0.3 * length), minLineLength=int(length),
                            maxLineGap=max(2, round(CROSS_GAP_MM * scale)))
    if lines is None:
        return False
    for a, b, c, d in lines.reshape(-1, 4):
        angle = abs(np.degrees(np.arctan2(d - b, c - a))) % 180
        if 15 <= min(angle, 180 - angle) <= 75:
            return True
    return False


def signature(page: np.ndarray, form: FormDefinition) -> np.ndarray:
    """Ink per cell/option of the whole page: equal for rescans of one sheet, differs between sheets."""
    values = []
    for f in form.fields:
        for b in f.cells or tuple(o.box for o in f.options) or (f.box,):
            values.append(ink_fraction(page, b, 0.06))
    return np.array(values, np.float32)


def same_sheet(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two signatures come from the same filled sheet (a rescan) rather than two sheets."""
    if a.shape != b.shape or a.size == 0:
        return False
    inked_a, inked_b = a > 0.04, b > 0.04
    union = np.count_nonzero(inked_a | inked_b)
    if union == 0:
        return True
    agree = np.count_nonzero(inked_a & inked_b) / union
    return bool(agree > 0.85 and float(np.mean(np.abs(a - b))) < 0.03)

