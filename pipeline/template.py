"""What the printer put on a blank page, in the template frame: used to drop printed lines before measuring ink.

The blank form is rendered once per form version (real PDF, rasterised by poppler at
``PX_PER_MM``) and cached in memory; dark print is dilated to absorb alignment error.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from pipeline import forms, render
from pipeline._exec import poppler
from pipeline.models import PX_PER_MM, FormDefinition

PRINT_LEVEL = 215
DILATE_PX = 5


@lru_cache(maxsize=8)
def _blank(form_id: str, version: int) -> np.ndarray:
    form = forms.load(form_id, version)
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "blank.pdf"
        render.write_pdf(pdf, [(form, 0)])
        img = poppler.rasterise(pdf, 1, round(PX_PER_MM * 25.4))
    size = (round(form.page_mm[0] * PX_PER_MM), round(form.page_mm[1] * PX_PER_MM))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def blank(form: FormDefinition) -> np.ndarray:
    """The blank form as printed (grey, template frame, ``PX_PER_MM``): the reference for aligning on print."""
    return _blank(form.form_id, form.version)


@lru_cache(maxsize=8)
def _mask(form_id: str, version: int) -> np.ndarray:
    printed = (_blank(form_id, version) < PRINT_LEVEL).astype(np.uint8)
    return cv2.dilate(printed, np.ones((DILATE_PX, DILATE_PX), np.uint8)).astype(bool)


def printed_mask(form: FormDefinition) -> np.ndarray:
    """True where the blank form has print (lines, labels), widened by a few pixels."""
    return _mask(form.form_id, form.version)


def drop_print(page: np.ndarray, form: FormDefinition) -> np.ndarray:
    """The page with everything the printer put there turned white: what remains is handwriting."""
    out = page.copy()
    out[printed_mask(form)] = 255
    return out
