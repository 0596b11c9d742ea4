"""Store -> export rows: one dict per record, page-level fields repeated in each row; spreadsheet-safe tables.

JSONL shape: ``{"page_id", "form_id", "record", "source": {"file", "page"},
"fields": {name: {"value", "confidence", "status"}}, "issues": [...]}``.

Every CSV/XLSX Susulan writes goes through :func:`write_table`: XLSX cells are text
cells (never formulas), CSV cells that would start a formula are neutralised
(:func:`pipeline.sanitize.cell`), invisible characters are dropped from both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import BadInput
from pipeline.sanitize import cell, strip_invisible
from pipeline.store import Store, audit

STAGES = ("recognized", "reviewed")


def record_row(store: Store, record_id: int) -> dict[str, Any]:
    """One record in export form."""
    rec = store.record(record_id)
    fields = {
        f["name"]: {"value": f["final_value"], "confidence": round(float(f["confidence"]), 4), "status": f["status"]}
        for f in store.record_fields(record_id)
    }
    issues = [{"field": i["field"], "rule": i["rule"], "message": i["message"]} for i in store.issues(record_id)]
    return {
        "page_id": rec["page_key"], "form_id": rec["form_id"], "record": rec["record_no"],
        "source": {"file": rec["file_name"], "page": rec["page_no"]},
        "state": rec["state"], "fields": fields, "issues": issues,
    }


def rows(store: Store, stage: str = "recognized", form_id: str | None = None) -> list[dict[str, Any]]:
    """Every record (``recognized``) or only approved ones (``reviewed``), in scan order.

    A row a person said is no patient (state ``void``) is in neither.
    """
    if stage not in STAGES:
        raise BadInput(f"--stage must be one of {', '.join(STAGES)}")
    ids = store.record_ids(("approved", "exported") if stage == "reviewed" else ("review", "flagged", "approved",
                                                                                 "exported"))
    out = [record_row(store, i) for i in ids]
    return [r for r in out if form_id is None or r["form_id"] == form_id]


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """A row for CSV/XLSX: identity columns, then one column per field value."""
    out = {"page_id": row["page_id"], "form_id": row["form_id"], "record": row["record"],
           "source_file": row["source"]["file"], "source_page": row["source"]["page"], "state": row["state"]}
    out.update({name: v["value"] for name, v in row["fields"].items()})
    out["needs_review"] = ";".join(n for n, v in row["fields"].items() if v["status"] == "review")
    out["issues"] = "; ".join(f"{i['field']}: {i['message']}" for i in row["issues"])
    return out


def write(data: list[dict[str, Any]], out: Path, fmt: str) -> None:
    """Write rows as ``jsonl``, ``csv`` (UTF-8 with BOM, for Excel) or ``xlsx``; all values as text."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        with out.open("w", encoding="utf-8") as f:
            for r in data:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        return
    if fmt not in ("csv", "xlsx"):
        raise BadInput(f"unknown format {fmt!r} (jsonl, csv or xlsx)")
    write_table(pd.DataFrame([flat(r) for r in data], dtype=str), out, fmt)


def write_table(frame: pd.DataFrame, out: Path, fmt: str) -> None:
    """Write a table as ``csv`` (UTF-8 with BOM, for Excel) or ``xlsx``, every cell text that cannot run."""
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = frame.fillna("").astype(str)
    if fmt == "csv":
        frame.map(cell).rename(columns=cell).to_csv(out, index=False, encoding="utf-8-sig")
    elif fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        for r, values in enumerate([list(frame.columns), *frame.itertuples(index=False, name=None)], start=1):
            for col, value in enumerate(values, start=1):
                target = sheet.cell(row=r, column=col)
                target.value = strip_invisible(str(value), keep_newlines=True)
                target.data_type = "s"  # text, never a formula, whatever the value starts with
        book.save(out)
    else:
        raise BadInput(f"unknown format {fmt!r} (csv or xlsx)")


def audit_export(store: Store, user: str, what: str, count: int, fmt: str) -> None:
    """Record that ``user`` exported or downloaded ``count`` records (patient data leaving the store)."""
    with store.tx() as c:
        audit.write(c, user or "-", "export", field=what, new=str(count), note=fmt)
