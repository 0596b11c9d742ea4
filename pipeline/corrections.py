"""Corrections from a spreadsheet: ``review export`` writes the values to check, ``review import`` reads them back.

One row per value: ``page_id``, ``record`` (row on the sheet, from 0), ``field``, ``label``,
``value`` (as stored now, dates ``DD-MM-YYYY``), ``machine_value``, ``confidence``,
``version``, ``confirm`` (empty), ``bukan_pasien`` (empty), ``snippet`` (link to the field's PNG,
written beside the file) and ``field_id``. On import a row whose ``value`` differs from the stored
one is a correction; an unchanged row with ``confirm`` = ``ya`` confirms the value; ``ya`` under
``bukan_pasien`` says the row (the form) that value belongs to is no patient, as Alt+X in the app:
the record becomes ``void`` and its values are left as they are. Each row is
checked like an edit in the app (same field and version as exported, record still open,
value valid); if any row is refused, nothing is applied and every refused row is listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import forms
from pipeline.errors import BadInput, SusulanError
from pipeline.store import Store, sheets
from pipeline.store import review as rv
from pipeline.store.records import Conflict
from pipeline.values import InputError, parse_input, to_display

COLUMNS = ["page_id", "record", "field", "label", "value", "machine_value", "confidence", "version", "confirm",
           "bukan_pasien", "snippet", "field_id"]
YES = {"ya", "y", "yes", "v", "x", "1", "benar"}
FORMATS = ("csv", "xlsx")


@dataclass
class Plan:
    """What an import would do: changes to apply, and the rows refused with their reason."""

    changes: list[rv.Change] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    corrections: int = 0
    confirmations: int = 0
    unchanged: int = 0
    void: dict[int, int] = field(default_factory=dict)
    """Records to mark as no patient: id -> version read when planned."""


def _fmt(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise BadInput(f"{path.name}: use a .csv or .xlsx file")
    return fmt


def _options(form_id: str, version: int | None, name: str) -> dict[str, str]:
    """Value -> label of a tick-box field."""
    try:
        form = forms.load(form_id, version)
    except SusulanError:
        return {}
    fd = next((f for f in form.fields if f.name == name), None)
    return {o.value: o.label for o in fd.options} if fd else {}


def _labels(form_id: str, version: int | None) -> dict[str, str]:
    try:
        return {f.name: f.label for f in forms.load(form_id, version).fields if f.label}
    except SusulanError:
        return {}


def export(store: Store, out: Path, everything: bool = False) -> int:
    """Write the values to check (all values of open records with ``everything``); returns rows written.

    Snippets go to ``<out stem>-potongan/<field id>.png`` beside the file; the ``snippet``
    column links to them (a hyperlink in XLSX).
    """
    fmt = _fmt(out)
    values = sheets.values_to_check(store, everything)
    folder = out.parent / f"{out.stem}-potongan"
    folder.mkdir(parents=True, exist_ok=True)
    crops = sheets.crops(store, [v["id"] for v in values])
    rows = []
    for v in values:
        png = crops.get(v["id"]) or b""
        link = ""
        if png:
            (folder / f"{v['id']}.png").write_bytes(png)
            link = f"{folder.name}/{v['id']}.png"
        label = _labels(v["form_id"], v["form_version"]).get(v["name"], v["name"])
        rows.append({"page_id": v["page_key"], "record": str(v["record_no"]), "field": v["name"], "label": label,
                     "value": to_display(v["kind"], v["final_value"]),
                     "machine_value": to_display(v["kind"], v["machine_value"]),
                     "confidence": f"{float(v['confidence']):.2f}", "version": str(v["version"]), "confirm": "",
                     "bukan_pasien": "", "snippet": link, "field_id": str(v["id"])})
    frame = pd.DataFrame(rows, columns=COLUMNS, dtype=str)
    if fmt == "csv":
        frame.to_csv(out, index=False, encoding="utf-8-sig")
    else:
        _write_xlsx(frame, out)
    return len(rows)


def _write_xlsx(frame: pd.DataFrame, out: Path) -> None:
    """Every cell as text; snippet cells link to their PNG."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "periksa"
    ws.append(list(frame.columns))
    link_col = list(frame.columns).index("snippet") + 1
    for n, row in enumerate(frame.itertuples(index=False), start=2):
        for col, value in enumerate(row, start=1):
            cell = ws.cell(row=n, column=col, value=str(value))
            cell.data_type = "s"
            if col == link_col and value:
                cell.hyperlink = str(value)
    wb.save(out)


def read(path: Path) -> list[dict[str, str]]:
    """The rows of an exported (and edited) file, every cell as text."""
    fmt = _fmt(path)
    if not path.exists():
        raise BadInput(f"no such file: {path}")
    try:
        frame = (pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig") if fmt == "csv"
                 else pd.read_excel(path, dtype=str, keep_default_na=False))
    except (ValueError, OSError, KeyError) as e:
        raise BadInput(f"cannot read {path.name}: {e}") from e
    missing = [c for c in ("field_id", "version", "value") if c not in frame.columns]
    if missing:
        raise BadInput(f"{path.name} lacks the column(s) {', '.join(missing)}; export it with "
                       "'susulan review export' and edit only the value and confirm columns")
    return [{k: str(v).strip() if v is not None else "" for k, v in r.items()} for r in frame.to_dict("records")]


def plan(store: Store, rows: list[dict[str, str]]) -> Plan:
    """Check every row like an edit in the app; the changes to apply and the rows refused (line numbers as in Excel)."""
    out = Plan()
    now = sheets.fields_now(store, [i for i in map(_id, rows) if i is not None])
    gone = _no_patient(store, rows, now, out)
    seen: set[int] = set()
    for line, r in enumerate(rows, start=2):
        fid = _id(r)
        f = now.get(fid) if fid is not None else None
        if f is not None and (f["page_key"], f["record_no"]) in gone:
            out.unchanged += 1  # a row that is no patient keeps its values as read
            continue
        try:
            change = _row_change(r, now, seen)
        except InputError as e:
            out.refused.append((line, str(e)))
            continue
        if change is None:
            out.unchanged += 1
        else:
            out.changes.append(change)
            if change.value is None:
                out.confirmations += 1
            else:
                out.corrections += 1
    return out


def _id(r: dict[str, str]) -> int | None:
    try:
        return int(r.get("field_id", ""))
    except ValueError:
        return None


def _no_patient(store: Store, rows: list[dict[str, str]], now: dict[int, dict[str, Any]], out: Plan
                ) -> set[tuple[str, int]]:
    """The rows (sheet, record) marked ``bukan_pasien``; open ones go into ``out.void``, the others are refused."""
    gone: set[tuple[str, int]] = set()
    for line, r in enumerate(rows, start=2):
        fid = _id(r)
        if r.get("bukan_pasien", "").strip().lower() not in YES or fid is None or fid not in now:
            continue
        f = now[fid]
        if f["record_no"] is None:
            out.refused.append((line, f"{f['page_key']} {f['name']}: belongs to the whole sheet; write 'ya' under "
                                      "bukan_pasien on a value of the row itself"))
            continue
        gone.add((f["page_key"], f["record_no"]))
        rec = store.record(rv.records_of_field(store, fid)[0])
        if rec["state"] in rv.OPEN_STATES:
            out.void[rec["id"]] = rec["version"]
        elif rec["state"] != rv.VOID:
            out.refused.append((line, f"{f['page_key']} record {f['record_no']}: already approved; reopen it in "
                                      "the app first"))
    return gone


def _row_change(r: dict[str, str], now: dict[int, dict[str, Any]], seen: set[int]) -> rv.Change | None:
    """The change one row asks for (None: nothing to do); :class:`InputError` says why it is refused."""
    try:
        fid, version = int(r.get("field_id", "")), int(r.get("version", ""))
    except ValueError as e:
        raise InputError("field_id and version must be whole numbers, as exported") from e
    f = now.get(fid)
    if f is None:
        raise InputError(f"no value with field_id {fid} in this store")
    if fid in seen:
        raise InputError(f"field_id {fid} appears twice")
    seen.add(fid)
    where = f"{f['page_key']} record {r.get('record', '')} {f['name']}"
    if (r.get("page_id") or f["page_key"]) != f["page_key"] or (r.get("field") or f["name"]) != f["name"]:
        raise InputError(f"field_id {fid} is {f['page_key']} {f['name']}, not {r.get('page_id')} {r.get('field')}")
    raw = r.get("value", "")
    if f["kind"] == "choice":
        options = _options(f["form_id"], f["form_version"], f["name"])
        by_label = {label.lower(): value for value, label in options.items()}
        new = raw if raw in options or raw == "" else by_label.get(raw.lower())
        if new is None:
            raise InputError(f"{where}: {raw!r} is not an option ({', '.join(options)})")
    else:
        try:
            new = parse_input(f["kind"], raw)
        except InputError as e:
            raise InputError(f"{where}: {e}") from e
    confirm = r.get("confirm", "").strip().lower() in YES
    if version != f["version"]:
        if new == f["final_value"] and (f["status"] in ("corrected", "confirmed") or not confirm):
            return None  # nothing asked, or a person already set it so (e.g. this file imported before)
        raise InputError(f"{where}: changed since the export (version {version}, now {f['version']}, by "
                         f"{f['changed_by'] or 'the software'}): now {to_display(f['kind'], f['final_value'])!r}; "
                         "export again")
    if new == f["final_value"] and not confirm:
        return None
    if not f["is_open"]:
        raise InputError(f"{where}: the record is already approved; reopen it in the app first")
    return rv.Change(fid, version, None if new == f["final_value"] else new)


def apply(store: Store, p: Plan, user: str) -> rv.Applied:
    """Apply a plan with no refused row in one transaction (audited as ``user``, records re-validated).

    If someone changed one of the values meanwhile, nothing is applied and the clash is returned.
    """
    if p.refused:
        raise BadInput("refused rows: nothing applied")
    try:
        with store.tx():
            applied = rv.apply_changes(store, p.changes, user)
            if applied.conflicts:
                raise _RolledBack(applied)
            for rid, version in p.void.items():
                rv.void(store, rid, user, version)
    except _RolledBack as e:
        return rv.Applied([], e.applied.conflicts, [])
    except Conflict as e:
        raise BadInput(f"a row marked bukan_pasien was changed in the app meanwhile ({e}); nothing applied. "
                       "Export again") from e
    return applied


class _RolledBack(Exception):
    def __init__(self, applied: rv.Applied) -> None:
        super().__init__("rolled back")
        self.applied = applied
