"""Kemendagri region codes (``pipeline/data/wilayah.csv``, dotted ``kode,nama``) and desa name lookup."""

from __future__ import annotations

import csv
import re
from difflib import get_close_matches
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

SUMENEP = "35.29"


@lru_cache(maxsize=1)
def codes() -> dict[str, str]:
    """All region codes -> names."""
    with (DATA / "wilayah.csv").open(encoding="utf-8") as f:
        return {row["kode"]: row["nama"] for row in csv.DictReader(f)}


def kecamatan_exists(nik_prefix: str) -> bool:
    """Whether the first 6 NIK digits (PPKKCC) name a real kecamatan."""
    if len(nik_prefix) != 6 or not nik_prefix.isdigit():
        return False
    return f"{nik_prefix[:2]}.{nik_prefix[2:4]}.{nik_prefix[4:6]}" in codes()


def squash(name: str) -> str:
    """Upper-case letters only: ``Aeng Baja`` and ``AENGBAJA`` compare equal."""
    return re.sub(r"[^A-Z]", "", name.upper())


@lru_cache(maxsize=4)
def desa(prefix: str = SUMENEP) -> dict[str, list[tuple[str, str]]]:
    """Squashed desa name -> [(official upper-case name, code), ...] for villages under ``prefix`` ("" = all)."""
    out: dict[str, list[tuple[str, str]]] = {}
    for code, name in codes().items():
        if code.startswith(prefix + "." if prefix else "") and code.count(".") == 3:
            out.setdefault(squash(name), []).append((name.upper(), code))
    return out


def canonical_village(text: str, prefix: str = SUMENEP, near: str | None = None) -> tuple[str, str] | None:
    """Official ``(NAME, code)`` for a written village name (spacing/typos tolerated), or None.

    ``near`` (a kecamatan code such as ``35.29.05``) breaks ties in favour of local villages.
    """
    key = squash(text)
    if not key:
        return None
    table = desa(prefix)
    keys = [key] if key in table else get_close_matches(key, list(table), n=3, cutoff=0.8)
    found = [entry for k in keys for entry in table[k]]
    if near:
        found = [e for e in found if e[1].startswith(near + ".")] or found
    return found[0] if found else None


def kabupaten_of_village(text: str) -> str | None:
    """The kabupaten/kota (``Kabupaten Pamekasan``) of a desa named exactly ``text`` anywhere in Indonesia."""
    found = desa("").get(squash(text))
    return codes()[found[0][1][:5]] if found else None
