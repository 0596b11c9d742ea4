"""What the ERM already knows: load its patient master and its visits (CSV/XLSX) into the store.

Each load replaces the previous one of its kind (a fresh export of the ERM is the truth), all or
nothing: a file with wrong columns, an unreadable encoding or rows that cannot be read (a required
value missing, a date in no known format, a NIK that a spreadsheet turned into a number) is refused
with one line per problem and its row number, and nothing is loaded, unless ``skip_bad_rows`` says to
load the good rows and list the others. CSV may be UTF-8 (with or without BOM), UTF-16 or
Windows-1252. Values are normalised to Susulan's export form through the profile: dates
``YYYY-MM-DD`` (every format the profile lists, mixed within a file), sex ``L``/``P``, poli codes of
``forms/site.yaml``, names upper-case. Problems and warnings are :class:`~pipeline.erm.reasons.Reason`
codes (English for the terminal, Indonesian for the app).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.erm import normalize as nz
from pipeline.erm.profiles import DATE_FIELDS, PATIENT_FIELDS, VISIT_FIELDS, Profile, TableSpec, header_key
from pipeline.erm.reasons import Reason
from pipeline.errors import BadInput
from pipeline.store import Store

DIGIT_FIELDS = ("nik", "bpjs_no", "rm_no", "rt", "rw", "phone", "no_kartu")
DATES = (*DATE_FIELDS, "tgl_daftar")
SHOWN = 20  # problem lines in one message


class LoadError(BadInput):
    """A file that was not loaded; ``problems`` say why (a file-level reason, or one per row)."""

    def __init__(self, path: Path, problems: list[Reason], summary: Reason | None = None) -> None:
        self.path, self.problems, self.summary = path, problems, summary
        super().__init__(self.text("en"))

    def text(self, lang: str = "en") -> str:
        """The whole message: what was refused and a line per problem."""
        head = f"{self.path.name}: " + (self.summary or self.problems[0]).text(lang)
        lines = [p.text(lang) for p in (self.problems if self.summary else self.problems[1:])]
        more = len(lines) - SHOWN
        return "\n".join([head, *(f"  {x}" for x in lines[:SHOWN])] + ([f"  ... and {more} more"] if more > 0 else []))


@dataclass
class LoadReport:
    """What a load did: rows kept, rows left out (with ``skip_bad_rows``), warnings about the data."""

    kind: str
    rows: int = 0
    skipped: list[Reason] = field(default_factory=list)
    warnings: list[Reason] = field(default_factory=list)
    checked: str = ""
    """What checking the identity fields read from paper against the new master did (patients only)."""

    def lines(self, lang: str = "en") -> list[str]:
        """Each left-out row and each warning, one line each."""
        return [r.text(lang) for r in (*self.skipped, *self.warnings)]

    def text(self) -> str:
        """A short summary for the terminal."""
        out = [f"loaded {self.rows} {self.kind} row(s); skipped {len(self.skipped)}"]
        out += [f"  skipped: {s.text('en')}" for s in self.skipped[:SHOWN]]
        if len(self.skipped) > SHOWN:
            out.append(f"  ... and {len(self.skipped) - SHOWN} more")
        out += [f"  warning: {w.text('en')}" for w in self.warnings[:SHOWN]]
        if len(self.warnings) > SHOWN:
            out.append(f"  ... and {len(self.warnings) - SHOWN} more warnings")
        if self.checked:
            out.append(self.checked)
        return "\n".join(out)


def decode(path: Path, data: bytes) -> tuple[str, str]:
    """Text of a CSV file and the encoding it was read with (UTF-8/BOM, UTF-16 with BOM, Windows-1252)."""
    candidates: tuple[str, ...] = ("utf-16",) if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig", "cp1252")
    for enc in candidates:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise LoadError(path, [Reason("unreadable", {"why": "not UTF-8, UTF-16 or Windows-1252 text"})])


def read_table(path: Path) -> tuple[pd.DataFrame, str]:
    """A CSV (``,`` ``;`` or tab) or XLSX file as text cells, and the encoding a CSV was read with."""
    if not path.exists():
        raise BadInput(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".txt", ".xlsx", ".xlsm"):
        raise LoadError(path, [Reason("not_a_table")])
    encoding = ""
    try:
        if suffix in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, dtype=str, keep_default_na=False)
        else:
            text, encoding = decode(path, path.read_bytes())
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=None, engine="python")
    except (ValueError, OSError, pd.errors.ParserError, KeyError) as e:
        raise LoadError(path, [Reason("unreadable", {"why": str(e).splitlines()[0][:200]})]) from None
    frame = frame.loc[~(frame.astype(str).apply(lambda c: c.str.strip()) == "").all(axis=1)]  # blank lines
    if frame.empty:
        raise LoadError(path, [Reason("empty_file")])
    return frame, encoding


def map_columns(path: Path, frame: pd.DataFrame, spec: TableSpec, known: tuple[str, ...]) -> dict[str, str]:
    """Susulan field -> column of the file, by the spec's header aliases; refuses a file without a required one."""
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
        raise LoadError(path, [Reason("missing_columns", {"fields": missing,
                                                          "found": ", ".join(map(str, frame.columns))})])
    return found


def normalise_row(raw: dict[str, Any], spec: TableSpec) -> dict[str, str]:
    """One row in Susulan's export form."""
    out = {}
    for name, value in raw.items():
        text = "" if value is None else str(value).strip()
        if name in DATES:
            out[name] = nz.parse_date(text, spec.date_formats)
        elif name in DIGIT_FIELDS:
            out[name] = nz.digits(text)
        elif name in spec.codes:
            out[name] = spec.code(name, text)
        else:
            out[name] = nz.clean_text(text)
    return out


RowCheck = Callable[[dict[str, str], dict[str, str], int], tuple[list[Reason], list[Reason]]]


def read_rows(path: Path, spec: TableSpec, known: tuple[str, ...], report: LoadReport, skip_bad_rows: bool,
              check: RowCheck | None = None, frame: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """The file's rows normalised; every problem found, then refuse (or, with ``skip_bad_rows``, leave out) bad rows.

    ``check(row, raw, line)`` adds ``(problems, warnings)`` of one row (after the generic checks).
    """
    encoding = ""
    if frame is None:
        frame, encoding = read_table(path)
    if encoding == "cp1252":
        report.warnings.append(Reason("encoding", {"encoding": "Windows-1252"}))
    cols = map_columns(path, frame, spec, known)
    report.warnings += [Reason("no_column", {"field": f}) for f in known if f not in cols and f not in spec.required]
    kept, problems = [], []
    for i, raw in enumerate(frame.to_dict("records"), start=2):  # line 1 is the header
        cells = {f: "" if raw[c] is None else str(raw[c]).strip() for f, c in cols.items()}
        row = normalise_row(cells, spec)
        missing = [f for f in spec.required if not row.get(f) and not (f in DATES and cells.get(f))]
        bad = [Reason("missing_required", {"row": i, "fields": missing})] if missing else []
        bad += [Reason("bad_date", {"row": i, "field": f, "value": cells[f], "formats": ", ".join(spec.date_formats)})
                for f in DATES if f in cells and cells[f] and not row[f]]
        if cells.get("nik") and not row["nik"]:
            bad.append(Reason("nik_as_number", {"row": i}))
        if check:
            more, warn = check(row, cells, i)
            bad += more
            report.warnings += warn
        if bad:
            problems += bad
            continue
        kept.append({**row, "source_row": i})
    if problems and not skip_bad_rows:
        raise LoadError(path, problems, Reason("bad_rows", {"n": len({p.params["row"] for p in problems})}))
    report.skipped += problems
    return kept


def _patient_check(row: dict[str, str], cells: dict[str, str], i: int) -> tuple[list[Reason], list[Reason]]:
    warn = []
    if row.get("nik") and not nz.valid_nik(row["nik"]):
        warn.append(Reason("bad_nik", {"row": i, "value": row["nik"]}))
        row["nik"] = ""
    if not (row.get("rm_no") or row.get("nik") or row.get("bpjs_no")):
        warn.append(Reason("no_identifier", {"row": i}))
    return [], warn


def _visit_check(row: dict[str, str], cells: dict[str, str], i: int) -> tuple[list[Reason], list[Reason]]:
    warn = []
    if not (row.get("rm_no") or row.get("nik") or row.get("name")):
        warn.append(Reason("visit_unmatchable", {"row": i}))
    if cells.get("poli") and not row.get("poli"):
        warn.append(Reason("unknown_poli", {"row": i, "value": cells["poli"]}))
    return [], warn


def duplicates(rows: list[dict[str, Any]], key: str, report: LoadReport, keyf: Callable[[str], str] = str) -> None:
    """A warning per value of ``key`` that several rows share, with their row numbers."""
    seen: dict[str, list[int]] = {}
    for r in rows:
        value = keyf(r.get(key, ""))
        if value:
            seen.setdefault(value, []).append(r["source_row"])
    for value, where in seen.items():
        if len(where) > 1:
            report.warnings.append(Reason("duplicate", {"field": key, "value": value, "rows": where}))


def save(store: Store, kind: str, fields: tuple[str, ...], rows: list[dict[str, Any]], path: Path, profile: str,
         report: LoadReport, user: str) -> None:
    """Replace the load of ``kind`` with ``rows`` and record it, in one transaction."""
    store.erm_replace(kind, ("source_row", *fields), rows, str(path), hashlib.sha256(path.read_bytes()).hexdigest(),
                      profile, len(report.skipped), user)
    report.rows = len(rows)


def load_patients(store: Store, path: Path, profile: Profile, user: str = "",
                  skip_bad_rows: bool = False) -> LoadReport:
    """Replace the patient master with the rows of ``path``."""
    report = LoadReport("patient")
    rows = read_rows(path, profile.patients, PATIENT_FIELDS, report, skip_bad_rows, _patient_check)
    duplicates(rows, "nik", report)
    duplicates(rows, "rm_no", report, nz.rm_key)
    save(store, "patients", PATIENT_FIELDS, rows, path, profile.name, report, user)
    from pipeline.learn import identity  # the paper's NIK, No. RM, BPJS number and names checked against it

    report.checked = identity.check(store).text()
    return report


def load_visits(store: Store, path: Path, profile: Profile, user: str = "", skip_bad_rows: bool = False) -> LoadReport:
    """Replace the ERM's visits with the rows of ``path``."""
    report = LoadReport("visit")
    rows = read_rows(path, profile.visits, VISIT_FIELDS, report, skip_bad_rows, _visit_check)
    save(store, "visits", VISIT_FIELDS, rows, path, profile.name, report, user)
    return report


def patients(store: Store) -> list[dict[str, Any]]:
    """The loaded patient master."""
    return store.erm_rows("patients")


def visits(store: Store) -> list[dict[str, Any]]:
    """The loaded ERM visits."""
    return store.erm_rows("visits")


def loads(store: Store) -> list[dict[str, Any]]:
    """What was loaded, from which file, when."""
    return store.erm_loads()
