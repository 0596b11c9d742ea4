"""What the ERM already knows: load its patient master and its visits (CSV/XLSX) into the store.

Each load replaces the previous one of its kind (a fresh export of the ERM is the truth). Values are
normalised to Susulan's export form through the profile: dates ``YYYY-MM-DD``, sex ``L``/``P``, poli
codes of ``forms/site.yaml``, names upper-case.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.erm import normalize as nz
from pipeline.erm.profiles import DATE_FIELDS, PATIENT_FIELDS, VISIT_FIELDS, Profile, TableSpec, header_key
from pipeline.errors import BadInput
from pipeline.store import Store
from pipeline.store.schema import now

DIGIT_FIELDS = ("nik", "bpjs_no", "rm_no", "rt", "rw", "phone")


@dataclass
class LoadReport:
    """What a load did: rows kept, rows skipped (with reasons), and warnings about the data."""

    kind: str
    rows: int = 0
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def text(self) -> str:
        """A short summary for the terminal."""
        lines = [f"loaded {self.rows} {self.kind} row(s); skipped {len(self.skipped)}"]
        lines += [f"  skipped: {s}" for s in self.skipped[:10]]
        if len(self.skipped) > 10:
            lines.append(f"  ... and {len(self.skipped) - 10} more")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def read_table(path: Path) -> pd.DataFrame:
    """A CSV (``,`` or ``;``, UTF-8 with or without BOM) or XLSX file as text cells."""
    if not path.exists():
        raise BadInput(f"file not found: {path}")
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            return pd.read_excel(path, dtype=str, keep_default_na=False)
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, sep=None, engine="python",
                               encoding="utf-8-sig")
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise BadInput(f"cannot read {path}: {e}") from e
    raise BadInput(f"{path}: expected a .csv or .xlsx file")


def map_columns(frame: pd.DataFrame, spec: TableSpec, known: tuple[str, ...]) -> dict[str, str]:
    """Susulan field -> column of the file, by the profile's header aliases."""
    by_key = {header_key(c): c for c in frame.columns}
    found = {}
    for name in known:
        for alias in (name, *spec.columns.get(name, ())):
            col = by_key.get(header_key(alias))
            if col is not None:
                found[name] = col
                break
    missing = [f for f in spec.required if f not in found]
    if missing:
        raise BadInput(f"no column for {', '.join(missing)}; the file has: {', '.join(map(str, frame.columns))} "
                       f"(add the header to the profile's columns)")
    return found


def normalise_row(raw: dict[str, Any], spec: TableSpec) -> dict[str, str]:
    """One ERM row in Susulan's export form."""
    out = {}
    for name, value in raw.items():
        text = "" if value is None else str(value).strip()
        if name in DATE_FIELDS:
            out[name] = nz.parse_date(text, spec.date_formats)
        elif name in DIGIT_FIELDS:
            out[name] = nz.digits(text)
        elif name in spec.codes:
            out[name] = spec.code(name, text)
        else:
            out[name] = nz.clean_text(text)
    return out


def _rows(path: Path, spec: TableSpec, known: tuple[str, ...], report: LoadReport) -> list[dict[str, Any]]:
    frame = read_table(path)
    cols = map_columns(frame, spec, known)
    for f in known:
        if f not in cols and f not in spec.required:
            report.warnings.append(f"no column for {f}")
    kept = []
    for i, raw in enumerate(frame.to_dict("records"), start=2):  # row 1 is the header
        row = normalise_row({f: raw[c] for f, c in cols.items()}, spec)
        bad = [f for f in DATE_FIELDS if f in cols and str(raw[cols[f]]).strip() and not row[f]]
        missing = [f for f in spec.required if not row.get(f)]
        if missing:
            report.skipped.append(f"row {i}: no {', '.join(missing)}")
            continue
        if bad:
            report.warnings.append(f"row {i}: unreadable date in {', '.join(bad)} "
                                   f"(formats tried: {', '.join(spec.date_formats)})")
        if "nik" in cols and str(raw[cols["nik"]]).strip() and not row["nik"]:
            report.warnings.append(f"row {i}: NIK stored as a number in the spreadsheet (digits lost); ignored")
        kept.append({**row, "source_row": i})
    return kept


def _replace(store: Store, kind: str, fields: tuple[str, ...], rows: list[dict[str, Any]], path: Path,
             profile: Profile, report: LoadReport, user: str) -> None:
    """Replace ``erm_<kind>`` with ``rows`` and record the load, in one transaction."""
    cols = ("source_row", *fields)
    with store.tx() as c:
        c.execute(f"DELETE FROM erm_{kind}")
        c.executemany(f"INSERT INTO erm_{kind} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                      [tuple(r.get(k, "") for k in cols) for r in rows])
        report.rows = len(rows)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        c.execute("DELETE FROM erm_loads WHERE kind=?", (kind,))
        c.execute("INSERT INTO erm_loads VALUES (?,?,?,?,?,?,?,?)",
                  (kind, str(path), sha, profile.name, report.rows, len(report.skipped), user, now()))


def load_patients(store: Store, path: Path, profile: Profile, user: str = "") -> LoadReport:
    """Replace the patient master with the rows of ``path``."""
    report = LoadReport("patient")
    rows = _rows(path, profile.patients, PATIENT_FIELDS, report)
    for r in rows:
        if not (r.get("rm_no") or r.get("nik") or r.get("bpjs_no")):
            report.warnings.append(f"row {r['source_row']}: no No. RM, NIK or BPJS number")
    _duplicates(rows, "nik", report)
    _duplicates(rows, "rm_no", report)
    _replace(store, "patients", PATIENT_FIELDS, rows, path, profile, report, user)
    return report


def load_visits(store: Store, path: Path, profile: Profile, user: str = "") -> LoadReport:
    """Replace the ERM's visits with the rows of ``path``."""
    report = LoadReport("visit")
    rows = _rows(path, profile.visits, VISIT_FIELDS, report)
    for r in rows:
        if not (r.get("rm_no") or r.get("nik") or r.get("name")):
            report.warnings.append(f"row {r['source_row']}: visit without No. RM, NIK or name cannot be matched")
        if "poli" in r and not r["poli"]:
            report.warnings.append(f"row {r['source_row']}: poli not in the profile's code list")
    _replace(store, "visits", VISIT_FIELDS, rows, path, profile, report, user)
    return report


def _duplicates(rows: list[dict[str, Any]], key: str, report: LoadReport) -> None:
    seen: dict[str, list[int]] = {}
    for r in rows:
        value = nz.rm_key(r[key]) if key == "rm_no" else r.get(key, "")
        if value:
            seen.setdefault(value, []).append(r["source_row"])
    dups = {v: rs for v, rs in seen.items() if len(rs) > 1}
    if dups:
        sample = "; ".join(f"{v} (rows {', '.join(map(str, rs))})" for v, rs in list(dups.items())[:5])
        report.warnings.append(f"{len(dups)} {key} value(s) appear more than once in the master: {sample}; "
                               "records matching them will need a person to decide")


def patients(store: Store) -> list[dict[str, Any]]:
    """The loaded patient master."""
    return [dict(r) for r in store.db.q("SELECT * FROM erm_patients ORDER BY id")]


def visits(store: Store) -> list[dict[str, Any]]:
    """The loaded ERM visits."""
    return [dict(r) for r in store.db.q("SELECT * FROM erm_visits ORDER BY id")]


def loads(store: Store) -> list[dict[str, Any]]:
    """What was loaded, from which file, when."""
    return [dict(r) for r in store.db.q("SELECT * FROM erm_loads ORDER BY kind")]
