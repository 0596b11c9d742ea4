"""Confirmed plan rows -> the CSV/XLSX file an ERM's import tool accepts (columns, formats, codes per profile)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.erm.profiles import DATE_FIELDS, Profile
from pipeline.export.rows import write_table


def values(row: dict[str, Any]) -> dict[str, str]:
    """Every exportable Susulan field of a plan row (``PlanRow.data()`` shape), in export form."""
    out = {k: str(v) for k, v in row["patient"].items()}
    out.update({k: str(v) for k, v in row["visit"].items()})
    out["new_patient"] = "yes" if row["match"]["outcome"] == "new" else "no"
    out["patient_key"] = row["patient_key"]
    out["visit_key"] = row["visit_key"]
    out["page_id"] = row["page_id"]
    out["record_id"] = str(row["record_id"])
    return out


def formatted(row: dict[str, Any], profile: Profile) -> dict[str, str]:
    """One output row: the profile's headers, date/time formats and code lists applied."""
    spec = profile.export
    vals = values(row)
    out = {}
    for col in spec.columns:
        v = vals.get(col.field, "")
        if v and col.field in DATE_FIELDS:
            v = _reformat(v, "%Y-%m-%d", spec.date_format)
        elif v and col.field == "arrival_time":
            v = _reformat(v, "%H:%M", spec.time_format)
        elif col.field in spec.codes:
            v = spec.codes[col.field].get(v, v)
        out[col.header] = v
    return out


def _reformat(value: str, source: str, target: str) -> str:
    """A date/time in the ERM's format; a value that does not parse is written as it is."""
    try:
        return datetime.strptime(value, source).strftime(target)
    except ValueError:
        return value


def write(rows: list[dict[str, Any]], profile: Profile, out: Path, fmt: str) -> int:
    """Write the rows as ``csv`` (UTF-8 with BOM, for Excel) or ``xlsx``, all cells text; returns the count."""
    columns = [c.header for c in profile.export.columns]
    frame = pd.DataFrame([formatted(r, profile) for r in rows], columns=columns, dtype=str)
    write_table(frame, out, fmt)  # spreadsheet-safe text cells, as every CSV/XLSX Susulan writes
    return len(frame)
