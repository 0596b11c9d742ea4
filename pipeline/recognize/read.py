"""Read every field of an aligned page: ticks (omr), boxed handwriting (icr), free text (ocr).

Also decides which record rows of a multi-row sheet are filled in, applies the
NIK / birth date agreement, validates each record and sends values that break a
rule to review.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipeline import accept, extract, validate
from pipeline._exec import tesseract
from pipeline.accept import Policy
from pipeline.models import (
    BOXED_KINDS,
    HEAD_OF,
    HEADS,
    STRUCK_RULE,
    FieldDef,
    FieldImage,
    FormDefinition,
    Issue,
    Reading,
)
from pipeline.recognize import boxed, icr, omr, village


@dataclass(frozen=True)
class Recognised:
    """Readings and snippets of the filled records of one page, plus rule issues per record."""

    readings: tuple[Reading, ...]
    images: tuple[FieldImage, ...]
    records: tuple[int, ...]
    issues: tuple[tuple[int, Issue], ...]
    signature: np.ndarray


def filled_records(page: np.ndarray, form: FormDefinition) -> tuple[int, ...]:
    """Record rows that hold handwriting (a single-record form always has record 0)."""
    if form.records_per_page == 1:
        return (0,)
    return tuple(r for r in range(form.records_per_page) if extract.row_has_ink(page, form.record_fields(r)))


def read_choices(page: np.ndarray, fields: list[FieldDef], policy: Policy | None = None) -> dict[str, Reading]:
    """Tick fields, with one fill threshold for the whole page."""
    fills = {f.key: omr.fills(page, f) for f in fields}
    threshold = omr.page_threshold([v for vals in fills.values() for v in vals])
    return {f.key: omr.decide(f, fills[f.key], threshold, policy=policy) for f in fields}


def read_boxes(page: np.ndarray, fields: list[FieldDef], policy: Policy | None = None,
               model: Path = icr.MODEL_PATH) -> dict[str, tuple[Reading, list[icr.CellReading]]]:
    """Comb-box fields: all cells of the page classified in two batches (digits, letters) by ``model``."""
    out = {}
    letters = icr.letter_model(model)
    for alphabet, kinds in HEADS.items():
        chosen = [f for f in fields if f.kind in kinds]
        crops = [c for f in chosen for c in extract.cell_crops(page, f)]
        cells = icr.read_cells(crops, alphabet, model=model)
        i = 0
        for f in chosen:
            mine = cells[i:i + len(f.cells)]
            i += len(f.cells)
            out[f.key] = (boxed.reading(f, mine, policy=policy, letters=letters), mine)
    return out


def read_text(page: np.ndarray, fields: list[FieldDef], policy: Policy | None = None) -> dict[str, Reading]:
    """Free handwriting lines: Tesseract's guess, always for review (it does not read handwriting well).

    An empty line gets confidence 0.9 (the shipped ``text`` threshold), anything read 0.0.
    """
    out = {}
    for f in fields:
        img = extract.crop(page, f.box, 0.0)[4:-4, 4:-4]
        blank = np.count_nonzero(img < extract.INK_LEVEL) < 0.002 * img.size
        text = "" if blank else tesseract.read_line(img, "ind")
        conf = 0.9 if blank else 0.0
        out[f.key] = Reading(f.name, f.record, "text", text, conf,
                             accept.status_for("text", conf, held=not blank, policy=policy), "tesseract")
    return out


def apply_nik_agreement(readings: dict[str, Reading], cells: dict[str, list[icr.CellReading]],
                        fields: dict[str, FieldDef], site_kecamatan: str = "", policy: Policy | None = None,
                        keys: dict[str, str] | None = None) -> None:
    """NIK and birth date/sex made to agree, then the NIK's region code weighed against where patients live.

    If NIK and birth date disagree, the most probable agreeing combination of top-k cell
    readings is chosen; if they agree, both become surer. Works in place. ``keys`` maps the roles
    ``nik``, ``birth_date`` and ``sex`` to the fields' keys (default: keys named like the roles).
    """
    nik, born, sex = ((keys or {}).get(role, role) for role in ("nik", "birth_date", "sex"))
    if nik not in readings or nik not in cells:
        return
    agreed = _agree(readings, cells, fields, policy, (nik, born, sex))
    readings[nik] = boxed.with_region(readings[nik], cells[nik], site_kecamatan, policy)
    if agreed and _consistent(readings[nik].value, readings[born].value, readings[sex].value):
        readings[nik], readings[born] = boxed.confirm_by_agreement(readings[nik], readings[born], policy)


def _consistent(nik: str, born: str, sex: str) -> bool:
    return len(nik) == 16 and not validate.check_nik(nik, born, sex)


def _agree(readings: dict[str, Reading], cells: dict[str, list[icr.CellReading]],
           fields: dict[str, FieldDef], policy: Policy | None = None,
           keys: tuple[str, str, str] = ("nik", "birth_date", "sex")) -> bool:
    """Make NIK and birth date agree if they can (in place); returns whether they agree."""
    k_nik, k_born, k_sex = keys
    if k_born not in readings or k_sex not in readings:
        return False
    nik, born, sex = readings[k_nik].value, readings[k_born].value, readings[k_sex].value
    if len(nik) != 16 or not born:
        return False
    if _consistent(nik, born, sex):
        return True
    found = boxed.agree_nik(cells[k_nik], cells[k_born], sex, _consistent)
    if not found:
        return False
    for key, chars in ((k_nik, found[0]), (k_born, found[1])):
        r = boxed.reading(fields[key], cells[key], chars, policy)
        note = "dipilih agar NIK cocok dengan tanggal lahir dan jenis kelamin"
        readings[key] = replace(r, detail={**r.detail, "note": note})
    return True


def read_form(page: np.ndarray, ink: np.ndarray, form: FormDefinition, policy: Policy | None = None,
              model: Path = icr.MODEL_PATH) -> Recognised:
    """Read the page's filled records; unfilled rows of a queue sheet are skipped.

    ``page`` is the normalised page in the template frame, ``ink`` the same with the
    printed form dropped out (handwriting only), used for every ink measure. ``policy``
    decides ``auto``/``review`` (default: the shipped acceptance policy); ``model`` reads the
    comb cells (default: the shipped classifier).
    """
    records = filled_records(ink, form)
    fields = [f for f in form.fields if f.record is None or f.record in records]
    readings: dict[str, Reading] = {}
    readings.update(read_choices(ink, [f for f in fields if f.kind == "choice"], policy))
    boxes = read_boxes(page, [f for f in fields if f.kind in BOXED_KINDS], policy, model)
    villages = {f.key for f in fields if f.lexicon == "villages"}
    kecamatan, letters = str(form.site.get("kecamatan_code", "")), icr.letter_model(model)
    readings.update({k: village.read(r, cells, kecamatan, policy, letters) if k in villages else r
                     for k, (r, cells) in boxes.items()})
    readings.update(read_text(ink, [f for f in fields if f.kind == "text"], policy))
    records = tuple(r for r in records if form.records_per_page == 1 or _written(r, fields, readings, boxes))
    fields = [f for f in fields if f.record is None or f.record in records]
    boxes = {k: b for k, b in boxes.items() if k in {f.key for f in fields}}
    if form.records_per_page == 1:
        apply_nik_agreement(readings, {k: c for k, (_, c) in boxes.items()}, {f.key: f for f in fields},
                            kecamatan, policy,
                            {f.role: f.key for f in fields if f.role in ("nik", "birth_date", "sex")})
    kinds = {f.key: f.kind for f in fields}
    doubts = {head: accept.page_doubt([c.confidence for k, (_, cells) in boxes.items() if HEAD_OF[kinds[k]] == head
                                       for c in cells if c.char != icr.BLANK]) for head in HEADS}
    shift = policy or accept.shipped()
    for key, (_, cells) in boxes.items():  # a field without a pixel of ink is no handwriting: never held for it
        r, head = readings[key], HEAD_OF[kinds[key]]
        unlike = shift.unlike_seen(doubts[head], head) and any(c.ink for c in cells)
        readings[key] = hold_unlike(r, doubts[head], head) if unlike else \
            replace(r, detail={**r.detail, "page_doubt": round(doubts[head], 4)})
    ordered = [readings[f.key] for f in fields]
    images = [extract.field_image(page, f) for f in fields]
    if form.records_per_page == 1:  # on one-record forms every field belongs to record 0
        ordered = [replace(r, record=0) for r in ordered]
        images = [replace(im, record=0) for im in images]
        struck = records if extract.crossed_out(ink, tuple(fields)) else ()  # a spoilt form crossed out
    else:  # a queue-sheet row struck along
        struck = tuple(r for r in records if extract.struck_through(ink, form.record_fields(r)))
    ordered = [hold_struck(r) if r.record in struck else r for r in ordered]
    what = "Formulir ini" if form.records_per_page == 1 else "Baris {row}"
    issues = record_issues(form, ordered, records) + tuple(
        (r, Issue("", STRUCK_RULE, STRUCK_MESSAGE.format(what=what.format(row=r + 1)), False)) for r in struck)
    return Recognised(tuple(review_broken(ordered, issues)), tuple(images), records, issues,
                      extract.signature(ink, form))


STRUCK_MESSAGE = ("{what} tampak dicoret. Jika memang bukan pasien, tandai bukan pasien (Alt+X); "
                  "jika pasien, periksa nilainya.")


def hold_struck(r: Reading) -> Reading:
    """A value of a crossed-out row or form (:mod:`pipeline.extract`): never ``auto``."""
    return replace(r, status=accept.REVIEW, detail={**r.detail, "held": "struck"})


def _written(record: int, fields: list[FieldDef], readings: dict[str, Reading],
             boxes: dict[str, tuple[Reading, list[icr.CellReading]]]) -> bool:
    """Whether a queue-sheet row holds writing the readers saw: a value, or ink in one of its cells.

    :func:`filled_records` only measures ink; on a noisy black-and-white scan an empty row can pass it
    (specks in two cells) and would become a record with every value empty that no one can approve.
    """
    mine = [f for f in fields if f.record == record]
    return any(readings[f.key].value for f in mine) or \
        any(c.ink for f in mine if f.key in boxes for c in boxes[f.key][1])


UNLIKE_NOTES = {
    "digits": "angka tulisan tangan di lembar ini tidak mirip tulisan yang dikenal mesin: periksa semua angkanya",
    "letters": "huruf tulisan tangan di lembar ini tidak mirip tulisan yang dikenal mesin: periksa semua hurufnya",
}
"""Review note, per classifier head, of the values a page's shift check held back
(:meth:`pipeline.accept.Policy.unlike_seen`)."""


def hold_unlike(r: Reading, doubt: float, head: str) -> Reading:
    """A value on a page whose cells read by ``head`` look unlike what the reader knows: for review, saying why."""
    return replace(r, status=accept.REVIEW, detail={**r.detail, "page_doubt": round(doubt, 4), "held": "page",
                                                    "note": UNLIKE_NOTES[head]})


def record_issues(form: FormDefinition, readings: list[Reading], records: tuple[int, ...]
                  ) -> tuple[tuple[int, Issue], ...]:
    """Validation issues of every record, from the machine readings."""
    out = []
    for r in records:
        values = {rd.name: rd.value for rd in readings if rd.record in (None, r)}
        out += [(r, issue) for issue in validate.validate_record(form.form_id, values)]
    return tuple(out)


def review_broken(readings: list[Reading], issues: tuple[tuple[int, Issue], ...]) -> list[Reading]:
    """A value that breaks a blocking rule is never ``auto``."""
    broken = {(r, i.field) for r, i in issues if i.blocking}
    out = []
    for rd in readings:
        hit = (rd.record, rd.name) in broken or (rd.record is None and any(f == rd.name for _, f in broken))
        out.append(replace(rd, status=accept.REVIEW) if hit and rd.status == accept.AUTO else rd)
    return out
