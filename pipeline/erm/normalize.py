"""Normalisers shared by master loading and matching: names, digit strings, dates, identifiers.

Everything returns plain strings in export form (dates ``YYYY-MM-DD``, names upper-case with single
spaces); ``""`` means unknown. Nothing here raises on bad data: unusable values become ``""``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

# Spelling variants of common name parts, folded to one form before comparing.
NAME_VARIANTS = {
    "MOH": "MUHAMMAD", "MOCH": "MUHAMMAD", "MOHD": "MUHAMMAD", "MUH": "MUHAMMAD", "MOHAMAD": "MUHAMMAD",
    "MOHAMMAD": "MUHAMMAD", "MOCHAMMAD": "MUHAMMAD", "MUHAMAD": "MUHAMMAD", "MUCHAMMAD": "MUHAMMAD",
    "MOHAMMED": "MUHAMMAD", "MOCHAMAD": "MUHAMMAD", "M": "MUHAMMAD",
    "ABD": "ABDUL", "SITTI": "SITI", "ST": "SITI",
}
# Titles that are written inconsistently and say nothing about identity.
NAME_TITLES = {"H", "HJ", "KH", "NY", "TN", "SDR", "SDRI", "BPK", "IBU", "IR", "DR", "DRS", "SPD", "SKM", "AMD"}


def clean_text(value: object) -> str:
    """Upper-case, accents removed, anything but letters/digits/space/.,'- dropped, spaces collapsed."""
    text = "" if value is None else str(value)
    text = re.sub("[\u2018\u2019\u02bc\u0060\u00b4]", "'", text)  # typographic apostrophes (Windows-1252, Word)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9 .,'/-]", " ", text).upper()
    return re.sub(r"\s+", " ", text).strip()


def name_key(value: object) -> str:
    """A name folded for comparison: letters only, titles dropped, spelling variants unified."""
    words = re.sub(r"[^A-Z ]", " ", clean_text(value)).split()
    return " ".join(NAME_VARIANTS.get(w, w) for w in words if w not in NAME_TITLES)


def place_key(value: object) -> str:
    """A village name folded for comparison (``DESA``/``KEL.`` prefixes dropped)."""
    words = re.sub(r"[^A-Z0-9 ]", " ", clean_text(value)).split()
    while words and words[0] in ("DESA", "DS", "KEL", "KELURAHAN"):
        words = words[1:]
    return " ".join(words)


def digits(value: object) -> str:
    """Only the digits; spreadsheet artefacts (``123.0``) repaired, scientific notation rejected."""
    text = "" if value is None else str(value).strip()
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    if re.search(r"[eE][+-]?\d+$", text):
        return ""  # 3.52905E+15: the spreadsheet stored it as a number and lost digits
    return re.sub(r"\D", "", text)


def rm_key(value: object) -> str:
    """A medical-record number for comparison: digits without leading zeros."""
    return digits(value).lstrip("0")


def valid_nik(nik: str) -> bool:
    """A plausible 16-digit NIK: region code set, day 01-31 (+40 for women), month 01-12."""
    if not re.fullmatch(r"\d{16}", nik) or nik[:6] == "000000" or nik[12:] == "0000":
        return False
    day, month = int(nik[6:8]), int(nik[8:10])
    return (1 <= day <= 31 or 41 <= day <= 71) and 1 <= month <= 12


def valid_bpjs(number: str) -> bool:
    """A 13-digit JKN card number that is not all zeros."""
    return bool(re.fullmatch(r"\d{13}", number)) and number.strip("0") != ""


def parse_date(value: object, formats: tuple[str, ...] | list[str] = ()) -> str:
    """A date as ``YYYY-MM-DD`` from the given ``strptime`` formats (ISO always tried); ``""`` if none fit."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    for fmt in (*formats, "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return ""


def date_similarity(a: str, b: str) -> float | None:
    """1 for equal dates, partial credit for typical misreadings, ``None`` if either is unknown."""
    if not a or not b:
        return None
    if a == b:
        return 1.0
    ya, ma, da = a.split("-")
    yb, mb, db = b.split("-")
    if ya == yb and ma == db and da == mb:
        return 0.8  # day and month swapped
    differing = sum(x != y for x, y in zip(a.replace("-", ""), b.replace("-", ""), strict=False))
    if differing == 1:
        return 0.7  # one digit misread
    if ya == yb and (ma == mb or da == db):
        return 0.4
    return 0.0
