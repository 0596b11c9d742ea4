"""Read every field of an aligned page: ticks (omr), boxed handwriting (icr), free text (ocr).

Also decides which record rows of a multi-row sheet are filled in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline import extract, validate
from pipeline.models import FieldDef, FieldImage, FormDefinition, Issue, Reading
from pipeline.recognize import omr


@dataclass(frozen=True)
class Recognised:
    """Readings and snippets of the filled records of one page, plus rule issues per record."""

    readings: tuple[Reading, ...]
    images: tuple[FieldImage, ...]
    records: tuple[int, ...]
    issues: tuple[tuple[int, Issue], ...]


def filled_records(page: np.ndarray, form: FormDefinition) -> tuple[int, ...]:
    """Record rows that hold handwriting (a single-record form always has record 0)."""
    if form.records_per_page == 1:
        return (0,)
    return tuple(r for r in range(form.records_per_page) if extract.row_has_ink(page, form.record_fields(r)))


def _fields_to_read(form: FormDefinition, records: tuple[int, ...]) -> list[FieldDef]:
    return [f for f in form.fields if f.record is None or f.record in records]


def read_form(page: np.ndarray, form: FormDefinition) -> Recognised:
    """Read the page's filled records; unfilled rows of a queue sheet are skipped."""
    records = filled_records(page, form)
    fields = _fields_to_read(form, records)
    choice = [f for f in fields if f.kind == "choice"]
    all_fills = {f.key: omr.fills(page, f) for f in choice}
    threshold = omr.page_threshold([v for vals in all_fills.values() for v in vals])
    readings = []
    for f in fields:
        if f.kind == "choice":
            readings.append(omr.decide(f, all_fills[f.key], threshold))
        else:
            readings.append(Reading(f.name, f.record, f.kind))
    images = [extract.field_image(page, f) for f in fields]
    if form.records_per_page == 1:  # on one-record forms every field belongs to record 0
        readings = [Reading(**{**r.__dict__, "record": 0}) for r in readings]
        images = [FieldImage(**{**im.__dict__, "record": 0}) for im in images]
    return Recognised(tuple(readings), tuple(images), records, record_issues(form, readings, records))


def record_issues(form: FormDefinition, readings: list[Reading], records: tuple[int, ...]
                  ) -> tuple[tuple[int, Issue], ...]:
    """Validation issues of every record, from the machine readings."""
    out = []
    for r in records:
        values = {rd.name: rd.value for rd in readings if rd.record in (None, r)}
        out += [(r, issue) for issue in validate.validate_record(form.form_id, values)]
    return tuple(out)
