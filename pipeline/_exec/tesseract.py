"""Tesseract through pytesseract: a probe with a clear error, and a timeout on every call."""

from __future__ import annotations

import shutil
from functools import lru_cache

import numpy as np
import pytesseract

from pipeline.errors import MissingDependency

TIMEOUT_S = 30


@lru_cache(maxsize=1)
def probe(lang: str = "ind") -> str:
    """Tesseract's version; raises MissingDependency if it or the language pack is missing."""
    if not shutil.which("tesseract"):
        raise MissingDependency("tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-ind)")
    langs = pytesseract.get_languages(config="")
    if lang not in langs:
        raise MissingDependency(f"Tesseract language '{lang}' is missing (apt-get install tesseract-ocr-{lang})")
    return str(pytesseract.get_tesseract_version())


def read_line(img: np.ndarray, lang: str = "ind", whitelist: str | None = None) -> str:
    """Text of a single printed or handwritten line image (psm 7)."""
    probe(lang)
    config = "--psm 7"
    if whitelist:
        config += f" -c tessedit_char_whitelist={whitelist}"
    try:
        return str(pytesseract.image_to_string(img, lang=lang, config=config, timeout=TIMEOUT_S)).strip()
    except RuntimeError:
        return ""


def read_page(img: np.ndarray, lang: str = "ind") -> str:
    """Whole-page OCR (the naive approach, used only as a benchmark baseline)."""
    probe(lang)
    return str(pytesseract.image_to_string(img, lang=lang, timeout=TIMEOUT_S * 4))
