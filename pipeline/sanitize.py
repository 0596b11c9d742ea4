"""Text from people and scans made safe: one entry point for person-set values, one for spreadsheet cells.

- :func:`person_value`: Unicode NFKC (``²`` -> ``2``, ``①`` -> ``1``, full-width -> ASCII),
  control and format characters removed (right-to-left overrides, zero-width characters),
  a length limit, and ASCII digits only in number fields; what cannot be made valid is
  refused with a plain reason.
- :func:`cell`: a value as a spreadsheet cell that can never run as a formula.
"""

from __future__ import annotations

import re
import unicodedata

from pipeline.errors import BadInput

MAX_VALUE_CHARS = 200
"""Longest value a person may set (the longest printed field holds about 60 characters)."""
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""Characters with which a spreadsheet cell starts a formula (OWASP CSV injection)."""
_SIGNED_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
_ASCII_ONLY_KINDS = ("date", "time")


def strip_invisible(text: str, keep_newlines: bool = False) -> str:
    """``text`` without control and format characters (bidi overrides/isolates, zero-width marks, NUL...)."""
    keep = "\n" if keep_newlines else ""
    return "".join(ch for ch in text if ch in keep or unicodedata.category(ch) not in ("Cc", "Cf"))


def person_value(value: str, kind: str) -> str:
    """A value a person typed, normalised for storing; raises :class:`BadInput` if it cannot be valid."""
    text = strip_invisible(unicodedata.normalize("NFKC", value)).strip()
    if len(text) > MAX_VALUE_CHARS:
        raise BadInput(f"the value is too long ({len(text)} characters; at most {MAX_VALUE_CHARS})")
    if kind == "digits" and text and not (text.isascii() and text.isdigit()):
        raise BadInput(f"only the digits 0-9 belong in this field, not {text!r}")
    if kind in _ASCII_ONLY_KINDS and not text.isascii():
        raise BadInput(f"write the {kind} with the digits 0-9, not {text!r}")
    return text


def cell(value: object) -> str:
    """A value as spreadsheet text: invisible characters removed, a formula start neutralised with ``'``.

    A plain signed number (``-12``, ``+6281234``) is left as it is: it cannot run anything.
    """
    text = strip_invisible("" if value is None else str(value), keep_newlines=True)
    if text.startswith(FORMULA_START) and not _SIGNED_NUMBER.fullmatch(text):
        return "'" + text
    return text
