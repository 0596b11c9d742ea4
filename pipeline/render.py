"""Print-ready PDF of blank forms (reportlab): markers, QR code, comb boxes, labels.

Geometry comes from :class:`FormDefinition` in millimetres from the top-left;
reportlab's origin is bottom-left, so every y is flipped here and nowhere else.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.colors import Color, black, white
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from pipeline.models import FieldDef, FormDefinition, PageId

ARUCO_DICT = cv2.aruco.DICT_4X4_50
BOX_GREY = Color(0.55, 0.55, 0.55)
"""Comb-box grey: visible after B/W printing and photocopying, lighter than pen ink."""
BOX_LINE_PT = 0.7


@lru_cache(maxsize=16)
def marker_bits(marker_id: int) -> np.ndarray:
    """The ArUco marker as a 6x6 0/1 matrix (1 = black), border included."""
    dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICT)
    img = cv2.aruco.generateImageMarker(dictionary, marker_id, 6)
    return (img < 128).astype(np.uint8)


class _Page:
    """Drawing helpers in millimetres from the top-left."""

    def __init__(self, canvas: Canvas, page_h: float) -> None:
        self.c = canvas
        self.h = page_h

    def rect(self, x: float, y: float, w: float, h: float, fill: bool = False) -> None:
        self.c.rect(x * mm, (self.h - y - h) * mm, w * mm, h * mm, stroke=0 if fill else 1, fill=1 if fill else 0)

    def text(self, x: float, y: float, s: str, size: float = 9, bold: bool = False, align: str = "left") -> None:
        self.c.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        draw = {"left": self.c.drawString, "center": self.c.drawCentredString, "right": self.c.drawRightString}[align]
        draw(x * mm, (self.h - y) * mm, s)


def _draw_marker(p: _Page, marker_id: int, box: tuple[float, float, float, float]) -> None:
    bits = marker_bits(marker_id)
    n = bits.shape[0]
    step = box[2] / n
    p.c.setFillColor(black)
    for r in range(n):
        for c in range(n):
            if bits[r, c]:
                p.rect(box[0] + c * step, box[1] + r * step, step + 0.02, step + 0.02, fill=True)


def _draw_qr(p: _Page, text: str, box: tuple[float, float, float, float]) -> None:
    widget = QrCodeWidget(text, barLevel="M", barBorder=0)
    x0, y0, x1, y1 = widget.getBounds()
    size = box[2] * mm
    d = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    d.add(widget)
    renderPDF.draw(d, p.c, box[0] * mm, (p.h - box[1] - box[3]) * mm)


def _draw_field(p: _Page, f: FieldDef) -> None:
    c = p.c
    c.setStrokeColor(BOX_GREY)
    c.setLineWidth(BOX_LINE_PT)
    if f.kind == "choice":
        for o in f.options:
            p.rect(*o.box)
            c.setFillColor(black)
            if f.option_labels == "above":
                if f.record in (None, 0):
                    p.text(o.box[0] + o.box[2] / 2, o.box[1] - 1.3, o.label, size=6, align="center")
            else:
                p.text(o.box[0] + o.box[2] + 1.8, o.box[1] + o.box[3] / 2 + 1.3, o.label, size=9.5)
    else:
        boxes = [f.box] if f.kind == "text" else f.cells
        for b in boxes:
            p.rect(*b)
        c.setFillColor(BOX_GREY)
        sep = {"date": "/", "time": ":"}.get(f.kind)
        if sep and f.groups:
            i = 0
            for g in f.groups[:-1]:
                i += g
                prev = f.cells[i - 1]
                p.text(prev[0] + prev[2] + 1.5, prev[1] + prev[3] / 2 + 1.6, sep, size=11, bold=True, align="center")
    c.setFillColor(black)
    if f.label and f.label_at and f.record in (None, 0) or (f.label and f.label_at and f.record is None):
        p.text(f.label_at[0], f.label_at[1], f.label, size=9.5, bold=True)
    if f.hint:
        p.text(f.box[0] + f.box[2] + 2.5, f.box[1] + f.box[3] / 2 + 1.2, f"({f.hint})", size=7)


def _draw_decor(p: _Page, form: FormDefinition) -> None:
    site = {k: v for k, v in form.site.items() if isinstance(v, str)}
    for d in form.decor:
        p.c.setFillColor(black)
        p.c.setStrokeColor(black)
        if "text" in d:
            p.text(d["at"][0], d["at"][1], str(d["text"]).format(**site), size=d.get("size", 9),
                   bold=d.get("bold", False), align=d.get("align", "left"))
        elif "section" in d:
            p.text(d["at"][0], d["at"][1], d["section"], size=10.5, bold=True)
            p.c.setLineWidth(0.6)
            y = d["at"][1] + 1.2
            p.c.line(d["at"][0] * mm, (p.h - y) * mm, (form.page_mm[0] - 10) * mm, (p.h - y) * mm)
        elif "rect" in d:
            p.c.setLineWidth(0.5)
            p.rect(*d["rect"])
        elif "row_numbers" in d:
            x, y = d["row_numbers"]["at"]
            pitch = _record_pitch(form)
            for i in range(form.records_per_page):
                p.text(x, y + i * pitch, str(i + 1), size=8, bold=True)


def _record_pitch(form: FormDefinition) -> float:
    rows = [f for f in form.fields if f.record is not None]
    first = [f for f in rows if f.record == 0]
    second = [f for f in rows if f.record == 1]
    return second[0].box[1] - first[0].box[1] if first and second else 0.0


def draw_page(canvas: Canvas, form: FormDefinition, serial: int) -> None:
    """Draw one blank page of ``form`` with ``serial`` in its QR code and in print."""
    w, h = form.page_mm
    canvas.setPageSize((w * mm, h * mm))
    p = _Page(canvas, h)
    pid = PageId(form.form_id, form.version, serial, form.fingerprint)
    for marker_id, box in zip(form.marker_ids, form.marker_boxes):
        _draw_marker(p, marker_id, box)
    _draw_qr(p, pid.qr_text(), form.qr_box)
    canvas.setFillColor(black)
    p.text(form.serial_at[0], form.serial_at[1], f"No. lembar {serial:06d}", size=7.5, bold=True, align="center")
    p.text(w / 2, h - 4.5, f"Susulan {form.form_id} v{form.version} - {pid.page_id}", size=6, align="center")
    _draw_decor(p, form)
    for f in form.fields:
        _draw_field(p, f)
    canvas.setFillColor(white)
    canvas.showPage()


def write_pdf(out: Path, pages: list[tuple[FormDefinition, int]]) -> None:
    """Write a PDF with one page per ``(form, serial)``."""
    canvas = Canvas(str(out), pagesize=(210 * mm, 297 * mm), pageCompression=1)
    canvas.setTitle("Susulan - formulir cadangan")
    canvas.setAuthor("Susulan")
    for form, serial in pages:
        draw_page(canvas, form, serial)
    canvas.save()
