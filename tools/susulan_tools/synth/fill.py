"""Write handwritten values onto a rasterised blank form: the *unaged* filled page.

Pages are RGB uint8 images at ``dpi`` (default 200), pixel origin top-left; form
geometry (mm from the top-left) converts with ``dpi / 25.4``.

How values are written, i.e. what a truth value means on paper:

- ``digits``/``date``/``time``/``letters``: one character per comb cell. Dates fill all
  8 cells ``DDMMYYYY``, times all 4 cells ``HHMM``. A digit value shorter than its
  field (phone, ``rt`` written ``3``) starts in the first cell, except that a hand
  that right-aligns writes short ``rt``/``rw``/``queue_no`` in the last cells; the
  truth is the digits in reading order with blank cells dropped. Letters start in the
  first cell, words separated by one blank cell; the truth is the words joined by one
  space.
- ``choice``: one mark in the box of the value (check, cross, filled, circle or slash).
  About 3% of choice fields carry a correction, as the form tells people to do: a
  wrong box blacked out completely, then the right one marked with a non-filled tick;
  the truth is the ticked value (the blacked-out one is in ``detail["crossed_out"]``).
  So a filled box alone is a choice; a filled box next to another marked box is a
  cancelled choice.
- ``text``: one line of mixed-case handwriting; the truth is the text as written.
- Blank value ``""``: nothing is written in that field.

One page is written by one *hand*: one pen, glyph size, stroke width, slant, tick style
and font (free text). Digits are real handwriting: UNIPEN pen strokes of the split's
sites drawn as ballpoint ink (65 % of hands) or MNIST digits of the split's columns;
capitals are UNIPEN pen strokes. A *fixed writer* (``writer=N``) writes every page with
the same few samples per character of one site and the same pen (see
:func:`susulan_tools.datasets.writer`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline import render
from pipeline._exec import poppler
from pipeline.models import Box, FieldDef, FormDefinition, PageId
from susulan_tools import datasets
from susulan_tools.synth import glyphs

DPI = 200
CORRECTION_RATE = 0.03
RIGHT_ALIGNABLE = ("rt", "rw", "queue_no")


@dataclass(frozen=True)
class Hand:
    """How one writer fills one page."""

    font: Path
    pen: tuple[int, int, int]
    pen_name: str
    size: float
    width_px: float
    tick: str
    right_align: bool
    split: str
    digits: str = "unipen"
    """Where digits come from: ``unipen`` (pen strokes) or ``mnist``."""
    slant: float = 0.0
    writer: int | None = None
    """A fixed writer's ident (:func:`susulan_tools.datasets.writer`), or None for the split's whole pool."""

    @property
    def label(self) -> str:
        """Short description for truth ``detail``, e.g. ``kalam/blue/check``."""
        who = f"writer{self.writer}" if self.writer is not None else self.digits
        return f"{who}/{self.font.stem}/{self.pen_name}/{self.tick}"


@dataclass
class FilledPage:
    """A filled, not yet aged page and what was written on it."""

    form: FormDefinition
    serial: int
    image: np.ndarray
    dpi: int
    records: dict[int, dict[str, str]]
    detail: dict[int, dict[str, Any]] = field(default_factory=dict)
    hand: Hand | None = None

    @property
    def page_id(self) -> str:
        """``<form_id>-<serial:06d>``."""
        return PageId(self.form.form_id, self.form.version, self.serial).page_id


def new_hand(rng: np.random.Generator, split: str = "test", writer: int | None = None) -> Hand:
    """A writer: one font of ``split``, a black or blue pen, glyph size 55-80% of the cell.

    With ``writer``, every choice comes from that ident, so all its pages look alike.
    """
    if writer is not None:
        rng = np.random.default_rng([writer, 11])
    fonts = datasets.font_paths(split)
    pen_name = str(rng.choice(list(glyphs.PENS), p=[0.45, 0.4, 0.15]))
    pen = tuple(int(np.clip(c + rng.integers(-12, 13), 0, 255)) for c in glyphs.PENS[pen_name])
    tick = str(rng.choice(glyphs.TICK_STYLES, p=[0.5, 0.25, 0.08, 0.07, 0.1]))
    return Hand(font=fonts[int(rng.integers(len(fonts)))], pen=pen, pen_name=pen_name,  # type: ignore[arg-type]
                size=float(rng.uniform(0.58, 0.77)), width_px=float(rng.uniform(0.35, 0.65)) * DPI / 25.4,
                tick=tick, right_align=bool(rng.random() < 0.3), split=split,
                digits="unipen" if writer is not None or rng.random() < 0.65 else "mnist",
                slant=float(rng.uniform(-0.2, 0.25)), writer=writer)


def rasterise(pages: list[tuple[FormDefinition, int]], dpi: int = DPI) -> list[np.ndarray]:
    """Blank printed pages ``(form, serial)`` as RGB uint8 images, via the real PDF and poppler."""
    with tempfile.TemporaryDirectory(prefix="susulan-blank-") as tmp:
        pdf = Path(tmp) / "blank.pdf"
        render.write_pdf(pdf, pages)
        return [cv2.cvtColor(poppler.rasterise(pdf, i + 1, dpi), cv2.COLOR_GRAY2RGB) for i in range(len(pages))]


def cell_chars(value: str, kind: str, n: int, right: bool = False) -> list[str]:
    """What goes in each of ``n`` comb cells for an export ``value`` ("" = blank cell)."""
    if kind == "date" and value:
        value = value[8:10] + value[5:7] + value[0:4]
    elif kind == "time" and value:
        value = value.replace(":", "")
    text = " ".join(value.split()) if kind == "letters" else value
    if len(text) > n:
        raise ValueError(f"{text!r} does not fit in {n} cells")
    cells = [c if c != " " else "" for c in text]
    pad = [""] * (n - len(cells))
    return pad + cells if right else cells + pad


def mm_to_px(box: Box, dpi: int) -> tuple[float, float, float, float]:
    """A box in mm from the top-left as pixels at ``dpi``."""
    k = dpi / 25.4
    return (box[0] * k, box[1] * k, box[2] * k, box[3] * k)


def set_width(mask: np.ndarray, width_px: float) -> np.ndarray:
    """Thin or thicken an ink mask so its strokes are about ``width_px`` wide (one pen for the page)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    ink = mask > 0.5
    area = int(ink.sum())
    edge = int((ink & ~cv2.erode(ink.astype(np.uint8), kernel).astype(bool)).sum())
    if area == 0 or edge == 0:
        return mask
    steps = round((2 * area / edge - width_px) / 2)
    out = mask
    for _ in range(min(abs(steps), 3)):
        nxt = cv2.erode(out, kernel) if steps > 0 else cv2.dilate(out, kernel)
        if steps > 0 and (nxt > 0.5).sum() < 0.5 * area:
            break
        out = nxt
    return out


def _ink(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Ballpoint texture: slightly uneven ink density."""
    return mask * (0.82 + 0.18 * rng.random(mask.shape, dtype=np.float32))


def _glyph(rng: np.random.Generator, page: np.ndarray, ch: str, cell: tuple[float, ...], hand: Hand) -> None:
    x, y, w, h = cell
    height = h * float(np.clip(hand.size * rng.uniform(0.92, 1.08), 0.55, 0.8))
    kind = "digits" if ch.isdigit() else "letters"
    if kind == "letters" or hand.digits == "unipen":
        pool = datasets.writer(kind, hand.split, hand.writer) if hand.writer is not None else None
        m = glyphs.unipen_mask(rng, ch, kind, hand.split, height, hand.width_px * rng.uniform(0.9, 1.1),
                               hand.slant + rng.uniform(-0.05, 0.05), pool)
    else:
        m = glyphs.digit_mask(rng, int(ch), hand.split, height)
        m = np.clip((m - 0.5) * 2.5 + 0.5, 0, 1)  # MNIST strokes upscaled are soft; a pen line is crisp
        m = set_width(m, hand.width_px)
    if m.shape[1] > 0.9 * w:
        m = cv2.resize(m, (max(1, int(0.9 * w)), m.shape[0]), interpolation=cv2.INTER_AREA)
    reach = 0.22 if rng.random() < 0.05 else 0.1
    cx = x + w / 2 + rng.uniform(-reach, reach) * w
    cy = y + h / 2 + rng.uniform(-reach, reach) * h
    glyphs.paste_ink(page, _ink(rng, m), round(cx - m.shape[1] / 2), round(cy - m.shape[0] / 2), hand.pen,
                     float(rng.uniform(0.86, 0.96)))


def _tick(rng: np.random.Generator, page: np.ndarray, box: tuple[float, ...], hand: Hand, style: str) -> None:
    x, y, w, h = box
    s = max(8, round(w))
    m = glyphs.tick_mask(rng, s, style)
    if style != "filled":
        m = set_width(m, hand.width_px * rng.uniform(1.0, 1.3))
    f = rng.uniform(0.95, 1.08) if style == "filled" else rng.uniform(0.85, 1.2)
    m = cv2.resize(m, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR)
    cx = x + w / 2 + rng.uniform(-0.08, 0.08) * w
    cy = y + h / 2 + rng.uniform(-0.08, 0.08) * h
    glyphs.paste_ink(page, _ink(rng, m), round(cx - m.shape[1] / 2), round(cy - m.shape[0] / 2), hand.pen,
                     float(rng.uniform(0.88, 0.97)))


def _choice(rng: np.random.Generator, page: np.ndarray, f: FieldDef, value: str, hand: Hand, dpi: int,
            detail: dict[str, Any]) -> None:
    boxes = {o.value: mm_to_px(o.box, dpi) for o in f.options}
    if value not in boxes:
        raise ValueError(f"{f.key}: {value!r} is not an option ({', '.join(boxes)})")
    others = [v for v in boxes if v != value]
    if others and rng.random() < CORRECTION_RATE:
        wrong = others[int(rng.integers(len(others)))]
        _tick(rng, page, boxes[wrong], hand, "filled")
        detail.setdefault("crossed_out", {})[f.name] = wrong
    style = hand.tick if rng.random() < 0.9 else str(rng.choice([t for t in glyphs.TICK_STYLES if t != "filled"]))
    if "crossed_out" in detail and f.name in detail["crossed_out"] and style == "filled":
        style = "check"
    _tick(rng, page, boxes[value], hand, style)


def _text(rng: np.random.Generator, page: np.ndarray, f: FieldDef, value: str, hand: Hand, dpi: int) -> None:
    x, y, w, h = mm_to_px(f.box, dpi)
    m = glyphs.text_mask(rng, value, hand.split, h * rng.uniform(0.4, 0.55), font=hand.font)
    margin = dpi / 25.4 * rng.uniform(1.5, 6)
    room = w - margin - dpi / 25.4 * 2
    if m.shape[1] > room:
        m = cv2.resize(m, None, fx=room / m.shape[1], fy=room / m.shape[1], interpolation=cv2.INTER_AREA)
    m = set_width(m, hand.width_px)
    angle = rng.uniform(-1.5, 1.5)
    pad = 8
    m = cv2.copyMakeBorder(m, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    rot = cv2.getRotationMatrix2D((m.shape[1] / 2, m.shape[0] / 2), angle, 1.0)
    m = cv2.warpAffine(m, rot, (m.shape[1], m.shape[0]))
    top = y + h / 2 - m.shape[0] / 2 + rng.uniform(-0.1, 0.1) * h
    glyphs.paste_ink(page, _ink(rng, m), round(x + margin - pad), round(top), hand.pen, float(rng.uniform(0.86, 0.96)))


def write_field(rng: np.random.Generator, page: np.ndarray, f: FieldDef, value: str, hand: Hand,
                dpi: int = DPI, detail: dict[str, Any] | None = None) -> None:
    """Write one export ``value`` into field ``f`` of ``page`` (in place); ``""`` writes nothing."""
    if not value:
        return
    if f.kind == "choice":
        _choice(rng, page, f, value, hand, dpi, detail if detail is not None else {})
    elif f.kind == "text":
        _text(rng, page, f, value, hand, dpi)
    else:
        right = hand.right_align and f.name in RIGHT_ALIGNABLE
        for ch, cell in zip(cell_chars(value, f.kind, len(f.cells), right), f.cells):
            if ch:
                _glyph(rng, page, ch, mm_to_px(cell, dpi), hand)


def fill_page(rng: np.random.Generator, blank: np.ndarray, form: FormDefinition,
              records: dict[int, dict[str, str]], hand: Hand, dpi: int = DPI) -> tuple[np.ndarray, dict]:
    """Write ``records`` (record number -> export values) on a copy of ``blank``; returns ``(page, detail)``.

    Page-level fields of multi-record forms (the queue sheet's ``visit_date``) are taken
    from the first record. ``detail`` maps record number -> notes (corrections, hand).
    """
    page = blank.copy()
    detail: dict[int, dict[str, Any]] = {r: {"hand": hand.label} for r in records}
    if form.records_per_page > 1 and records:
        first = records[min(records)]
        for f in form.page_fields():
            write_field(rng, page, f, first.get(f.name, ""), hand, dpi, detail[min(records)])
    for r, values in records.items():
        for f in form.record_fields(r):
            if form.records_per_page == 1 or f.record is not None:
                write_field(rng, page, f, values.get(f.name, ""), hand, dpi, detail[r])
    return page, detail


def filled_pages(seed: int, pages: list[tuple[FormDefinition, int, dict[int, dict[str, str]]]],
                 split: str = "test", dpi: int = DPI, writer: int | None = None) -> list[FilledPage]:
    """Render, rasterise and fill ``(form, serial, records)`` pages; one hand per page, seeded by serial.

    ``writer``: every page by that one fixed writer.
    """
    blanks = rasterise([(form, serial) for form, serial, _ in pages], dpi)
    out = []
    for blank, (form, serial, records) in zip(blanks, pages):
        rng = np.random.default_rng([seed, 3, serial])
        hand = new_hand(rng, split, writer)
        image, detail = fill_page(rng, blank, form, records, hand, dpi)
        out.append(FilledPage(form, serial, image, dpi, records, detail, hand))
    return out
