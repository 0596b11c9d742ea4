"""How the "Impor ke ERM" page writes people, sheets, dates and disagreements (Indonesian, markdown-safe)."""

from __future__ import annotations

import re
from typing import Any

from pipeline.erm.reasons import field_name
from review_app import common
from review_app.common import md

PERSON_FIELDS = {"name": "Nama", "nik": "NIK", "bpjs_no": "No. BPJS", "rm_no": "No. RM", "birth_date": "Tgl lahir",
                 "sex": "Jenis kelamin", "village": "Desa", "address": "Alamat", "visit_type": "Kunjungan"}
SEX_LABEL = {"L": "Laki-laki", "P": "Perempuan"}


def tgl(iso: str) -> str:
    """``2026-01-05`` -> ``05-01-2026`` (as written on the form)."""
    return f"{iso[8:10]}-{iso[5:7]}-{iso[:4]}" if re.fullmatch(r"\d{4}-\d\d-\d\d", iso or "") else (iso or "")


def person_md(values: dict[str, Any], against: dict[str, Any] | None = None) -> str:
    """A person's data as markdown lines; values that differ from ``against`` (the paper) in orange."""
    lines = []
    for name, label in PERSON_FIELDS.items():
        if name not in values:
            continue
        raw = str(values.get(name) or "")
        value = tgl(raw) if name == "birth_date" else SEX_LABEL.get(raw, raw) if name == "sex" else raw
        text = md(value) if value else "–"
        other = str((against or {}).get(name) or "")
        if against is not None and value and other and other.lstrip("0") != raw.lstrip("0"):
            text = f":orange[**{text}**]"
        lines.append(f"{label}: {text}")
    return "  \n".join(lines)


def paper_label(row: dict[str, Any]) -> str:
    """``pendaftaran-000012`` or ``antrean-000003 baris 4``: what is printed on the sheet."""
    page_id = row.get("page_id") or ""
    tail = str(row["visit_key"]).rsplit("-", 1)[-1]
    if not page_id or not tail.isdigit():
        return str(row["visit_key"])
    form_id = row.get("form_id") or page_id.rsplit("-", 1)[0]
    return f"{page_id}{common.row_label(form_id, None, int(tail))}"


def flags_text(flags: list[dict[str, str]]) -> str:
    """Where the paper and the ERM disagree, one short phrase each."""
    return "; ".join(f"{f['message']} (kertas {f['paper'] or '–'}, ERM {f['master'] or '–'})" for f in flags)


def input_label(field: str) -> str:
    """A field's name as an input label: ``NIK``, ``No. BPJS``, ``Tanggal lahir``."""
    name = field_name(field)
    return name[:1].upper() + name[1:]


def head(r: dict[str, Any]) -> str:
    """The first line of a decision card: the sheet, the name, the day, the poli."""
    return f"**{paper_label(r)}** · {md(r['name'] or '–')} · {tgl(r['visit_date'])} · poli {md(r['poli'] or '–')}"
