"""Stored values and what people type: dates are stored ``YYYY-MM-DD`` and typed ``DD-MM-YYYY``, times ``HH:MM``.

Shared by the review app and ``susulan review import``: one reading of what a person wrote.
"""

from __future__ import annotations

import re
from datetime import date

_DATE_INPUT = re.compile(r"(\d{1,2})[-/. ]?(\d{1,2})[-/. ]?(\d{4})")
_TIME_INPUT = re.compile(r"(\d{1,2})[:. ]?(\d{2})")


class InputError(ValueError):
    """What a person typed cannot be stored; the message is for them (Bahasa Indonesia)."""


def to_display(kind: str, value: str) -> str:
    """Stored value -> what the person sees and edits (dates as ``DD-MM-YYYY``)."""
    if kind == "date" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value or ""):
        y, m, d = value.split("-")
        return f"{d}-{m}-{y}"
    return value or ""


def parse_input(kind: str, text: str) -> str:
    """What a person typed -> stored form; raises :class:`InputError` with a message for them."""
    text = (text or "").strip()
    if not text:
        return ""
    if kind == "digits":
        digits = re.sub(r"[\s.\-/]", "", text)
        if not digits.isdigit():
            raise InputError(f"Hanya angka yang boleh diisi (tertulis '{text}').")
        return digits
    if kind == "date":
        iso = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
        m = _DATE_INPUT.fullmatch(text)
        if iso:
            y, mo, d = (int(g) for g in iso.groups())
        elif m:
            d, mo, y = (int(g) for g in m.groups())
        else:
            raise InputError(f"Tulis tanggal sebagai tgl-bln-tahun, mis. 17-08-1985 (tertulis '{text}').")
        try:
            return date(y, mo, d).isoformat()
        except ValueError as e:
            raise InputError(f"Tanggal {d:02d}-{mo:02d}-{y} tidak ada di kalender.") from e
    if kind == "time":
        m = _TIME_INPUT.fullmatch(text)
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise InputError(f"Tulis jam sebagai jam:menit, mis. 07:45 (tertulis '{text}').")
        return f"{int(m.group(1)):02d}:{m.group(2)}"
    if kind == "letters":
        return re.sub(r"\s+", " ", text.upper())
    return re.sub(r"\s+", " ", text)
