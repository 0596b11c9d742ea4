"""ERM profiles: how one ERM's exports are read and what files its import tool accepts (YAML).

A profile lives in ``forms/erm/profiles/<name>.yaml``; ``generic`` is shipped. See docs/erm.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline import forms
from pipeline.errors import BadInput

PATIENT_FIELDS = ("rm_no", "nik", "bpjs_no", "name", "birth_date", "sex", "address", "rt", "rw", "village", "phone")
VISIT_FIELDS = ("visit_date", "rm_no", "nik", "bpjs_no", "name", "birth_date", "poli", "reg_no")
EXPORT_FIELDS = (*PATIENT_FIELDS, "new_patient", "patient_key", "visit_date", "arrival_time", "queue_no",
                 "visit_type", "poli", "payment", "complaint", "visit_key", "page_id", "record_id")
DATE_FIELDS = ("birth_date", "visit_date")


@dataclass(frozen=True)
class TableSpec:
    """How to read one kind of ERM export: column aliases, required fields, date formats, code lists."""

    columns: dict[str, tuple[str, ...]]
    required: tuple[str, ...]
    date_formats: tuple[str, ...]
    codes: dict[str, dict[str, tuple[str, ...]]]

    def code(self, field: str, raw: str) -> str:
        """The Susulan code for a raw ERM value (``""`` if the list has none); fields without a list pass."""
        table = self.codes.get(field)
        if table is None:
            return raw
        wanted = header_key(raw)
        for value, aliases in table.items():
            if wanted in {header_key(a) for a in (value, *aliases)}:
                return value
        return ""


@dataclass(frozen=True)
class ExportColumn:
    """One column of the import file."""

    header: str
    field: str


@dataclass(frozen=True)
class ExportSpec:
    """The file the ERM's import tool accepts."""

    columns: tuple[ExportColumn, ...]
    date_format: str
    time_format: str
    codes: dict[str, dict[str, str]]


@dataclass(frozen=True)
class Profile:
    """One ERM."""

    name: str
    description: str
    patients: TableSpec
    visits: TableSpec
    export: ExportSpec
    path: Path


def header_key(text: object) -> str:
    """A header or code compared loosely: lower-case letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def profiles_dir() -> Path:
    """``forms/erm/profiles``."""
    return forms.forms_dir() / "erm" / "profiles"


def available() -> list[str]:
    """Names of the shipped/installed profiles."""
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def load(name_or_path: str) -> Profile:
    """A profile by name (``forms/erm/profiles/<name>.yaml``) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = profiles_dir() / f"{name_or_path}.yaml"
    if not path.exists():
        raise BadInput(f"no ERM profile {name_or_path!r} (known: {', '.join(available()) or 'none'}; "
                       f"or give a path to a .yaml file)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return _build(raw, path)
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as e:
        raise BadInput(f"ERM profile {path} is not valid: {e}") from e


def _table(raw: dict[str, Any], known: tuple[str, ...], where: str) -> TableSpec:
    cols = {str(k): tuple(str(a) for a in (v if isinstance(v, list) else [v])) for k, v in raw["columns"].items()}
    unknown = sorted(set(cols) - set(known))
    if unknown:
        raise BadInput(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(known)})")
    codes = {str(f): {str(c): tuple(str(a) for a in (al or [])) for c, al in table.items()}
             for f, table in (raw.get("codes") or {}).items()}
    return TableSpec(cols, tuple(raw.get("required") or ()), tuple(raw.get("date_formats") or ()), codes)


def _build(raw: dict[str, Any], path: Path) -> Profile:
    exp = raw["export"]
    columns = tuple(ExportColumn(str(c["header"]), str(c["field"])) for c in exp["columns"])
    unknown = sorted({c.field for c in columns} - set(EXPORT_FIELDS))
    if unknown:
        raise BadInput(f"{path}: export column field(s) {', '.join(unknown)} unknown "
                       f"(known: {', '.join(EXPORT_FIELDS)})")
    codes = {str(f): {str(k): str(v) for k, v in t.items()} for f, t in (exp.get("codes") or {}).items()}
    return Profile(
        name=str(raw.get("name") or path.stem), description=str(raw.get("description") or ""),
        patients=_table(raw["patients"], PATIENT_FIELDS, f"{path} patients"),
        visits=_table(raw["visits"], VISIT_FIELDS, f"{path} visits"),
        export=ExportSpec(columns, str(exp.get("date_format") or "%Y-%m-%d"), str(exp.get("time_format") or "%H:%M"),
                          codes),
        path=path)
