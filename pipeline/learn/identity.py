"""Identity fields checked against the ERM's patient master: numbers one digit off, names read against the master.

For every record whose NIK, No. RM or BPJS number lies within one digit of a master
patient, that patient is *linked* when the record's name agrees with the master's (read
as written, or the name's cells support the master's spelling) and, where the form
has one, the birth date is the master's. With exactly one patient linked:

- each of those numbers within one digit is set to the master's value (a misread or
  miswritten digit), with the probability the cells give it against everything else
  under a strong prior (:data:`NUMBER_PRIOR`); equal numbers only become surer;
- the name, and the address and village where the form has them, are read against the
  master's spelling (:data:`NAME_PRIOR`): where the cells support it, the value becomes the
  master's (on queue sheets of returning patients, which carry no birth date, the name is
  the big win; an address the patient has since changed is not supported, so it stays).

Only machine values no person has touched change (``Store.revise_machine``), audited as
the machine with the reason, which the review screen shows. A value decided here is judged
by the ``identity`` acceptance kind's threshold (:func:`accept_kind`), calibrated on calib
pages with a master loaded: the master is evidence the cells alone do not have. Re-running starts from the
first reading kept in the value's detail, so a new master never compounds an old one.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pipeline import accept
from pipeline.accept import Policy
from pipeline.erm import normalize as nz
from pipeline.erm.match import name_similarity
from pipeline.learn.labels import placements
from pipeline.models import IDENTITY_KIND, MASTER_KEY
from pipeline.recognize import boxed
from pipeline.store import HUMAN_STATUSES, Store, spotchecks
from pipeline.store.review import revalidate

NUMBERS = ("nik", "rm_no", "bpjs_no")
FIELDS = {"nik": "digits", "rm_no": "digits", "bpjs_no": "digits", "name": "letters", "birth_date": "date",
          "address": "letters", "village": "letters"}
TEXTS = {"name": "nama", "address": "alamat", "village": "desa"}
"""Letters read against the linked patient's spelling in the master (what the review screen calls them)."""
NUMBER_PRIOR = 0.99
"""Prior that a number one digit off is the linked patient's (their name and birth date agree)."""
NAME_PRIOR = 0.999
"""Prior that a linked patient's name is written as the master spells it (variants such as MOH for
MUHAMMAD are left to the cells: they do not support the master's spelling then)."""
NAME_SUPPORT = 1e-5
"""A machine-read name agrees with the master's when the cells give the master's spelling at least
this share of the probability of their own reading (about one letter the cells did not offer).
Chosen with :data:`NAME_PRIOR` on the calib pages with a master (most identity values auto within the
calibrated error): 1e-3 / 0.97 gave 9,755 auto (0 wrong), 1e-5 / 0.999 10,681 (2 wrong),
1e-8 / 0.99999 10,603 (6 wrong, 61 names wrong below the threshold)."""
SAME_NAME = 0.9
"""A name a person typed agrees with the master's from this similarity (spelling variants folded)."""
DOMINANCE = 1000.0
"""Of namesakes whose numbers are all within one digit of the record's, one is linked when the number cells
are this many times likelier written as its numbers than as any other's (else the record is ambiguous)."""
KEY = MASTER_KEY


@dataclass
class Report:
    """What one check did."""

    records: int = 0
    linked: int = 0
    confirmed: int = 0
    corrected: int = 0
    ambiguous: int = 0
    restored: int = 0
    """Values an earlier master had changed, put back as first read (the record no longer links)."""
    changes: list[tuple[int, str, str, str]] = field(default_factory=list)
    """``(field id, field name, value as read, new value)`` of each correction."""
    pages: set[int] = field(default_factory=set)
    """Pages with a value changed (their records are validated again)."""

    def text(self) -> str:
        """One line for the terminal."""
        return (f"checked {self.records} record(s) against the patient master: {self.linked} linked to one patient, "
                f"{self.corrected} value(s) corrected, {self.confirmed} confirmed, {self.ambiguous} ambiguous"
                + (f", {self.restored} put back as first read" if self.restored else ""))


def accept_kind(detail: str | dict[str, Any] | None, field_kind: str) -> str:
    """A value's acceptance kind: ``identity`` when a master patient decided it, else its field's."""
    if isinstance(detail, str):
        detail = json.loads(detail or "{}")
    return IDENTITY_KIND if detail and KEY in detail else field_kind


def _original(row: Any) -> tuple[str, float, str]:
    """(value, confidence, status) as first read, before any earlier check against a master."""
    detail = json.loads(row["detail"] or "{}")
    first = detail.get(KEY, {})
    return (first.get("read", row["machine_value"]), float(first.get("confidence", row["confidence"])),
            first.get("status", row["status"]))


def _cells(row: Any) -> list:
    return json.loads(row["detail"] or "{}").get("cells", [])


def _chars(kind: str, value: str, cells: list) -> str | None:
    """Cell characters of ``value`` placed as the machine's empty cells show (else the likeliest placement)."""
    options = placements(kind, value, len(cells))
    if not options:
        return None
    empty = [bool(c) and c[0][0] == " " for c in cells]
    fitting = [o for o in options if [ch == " " for ch in o] == empty]
    best = max(fitting or options, key=lambda o: boxed.likelihood(cells, o))
    return "".join(best)


def _digits_apart(a: str, b: str) -> int | None:
    """Positions in which two digit strings differ (leading zeros ignored), None if not comparable."""
    if not a or not b or not a.isdigit() or not b.isdigit():
        return None
    n = max(len(a), len(b))
    a, b = a.zfill(n), b.zfill(n)
    return sum(x != y for x, y in zip(a, b))


def _paper_form(read: str, master: str) -> str:
    """The master's number written as the paper's field holds it (leading zeros as read)."""
    return master.zfill(len(read)) if len(master) < len(read) else master


class Master:
    """The patient master indexed by each identity number (and every one-digit variant read against it)."""

    def __init__(self, patients: list[dict[str, Any]]) -> None:
        self.patients = patients
        self.index: dict[str, dict[str, list[int]]] = {f: defaultdict(list) for f in NUMBERS}
        for i, p in enumerate(patients):
            for f in NUMBERS:
                key = self._key(f, p.get(f, ""))
                if key:
                    self.index[f][key].append(i)

    @staticmethod
    def _key(name: str, value: str) -> str:
        return nz.rm_key(value) if name == "rm_no" else nz.digits(value)

    def near(self, name: str, value: str) -> set[int]:
        """Patients whose number ``name`` equals ``value`` or differs from it in one digit."""
        if not value.isdigit():
            return set()
        found = set(self.index[name].get(self._key(name, value), []))
        for i, ch in enumerate(value):
            for d in "0123456789":
                if d != ch:
                    found.update(self.index[name].get(self._key(name, value[:i] + d + value[i + 1:]), []))
        return found


def _as_read(row: Any) -> str:
    """A person's value, else the machine's first reading (never what an earlier master made of it)."""
    return row["final_value"] if row["status"] in HUMAN_STATUSES else _original(row)[0]


def _name_agrees(row: Any, master_name: str) -> bool:
    if not master_name:
        return False
    if row["status"] in HUMAN_STATUSES:
        return name_similarity(row["final_value"], master_name) >= SAME_NAME
    own, _, _ = _original(row)
    if nz.name_key(own) == nz.name_key(master_name):
        return True
    cells = _cells(row)
    chars = _chars("letters", master_name, cells)
    own_chars = _chars("letters", own, cells)
    if chars is None or own_chars is None:
        return False
    return boxed.likelihood(cells, chars) >= NAME_SUPPORT * boxed.likelihood(cells, own_chars)


def _birth_agrees(row: Any | None, master_birth: str) -> bool:
    return row is None or (bool(master_birth) and row["final_value"] == master_birth)


def link(rows: dict[str, Any], master: Master) -> tuple[int | None, int]:
    """The one master patient this record's numbers, name and birth date point to; and how many agreed."""
    if "name" not in rows:
        return None, 0
    near: set[int] = set()
    for f in NUMBERS:
        if f in rows:
            near |= master.near(f, _as_read(rows[f]))
    agree = [i for i in sorted(near) if _name_agrees(rows["name"], master.patients[i]["name"])
             and _birth_agrees(rows.get("birth_date"), master.patients[i].get("birth_date", ""))]
    if len(agree) > 1:  # namesakes near each other's numbers: the one whose numbers the cells read, if clearly
        support = sorted(((*_numbers_support(rows, master.patients[i]), i) for i in agree), reverse=True)
        (best, compared, found), (second, compared_second, _) = support[0], support[1]
        if compared == compared_second and best >= DOMINANCE * second:
            return found, len(agree)
    return (agree[0] if len(agree) == 1 else None), len(agree)


def _numbers_support(rows: dict[str, Any], patient: dict[str, Any]) -> tuple[float, int]:
    """How likely the record's number cells are if they were written as ``patient``'s numbers; how many compared."""
    p, compared = 1.0, 0
    for f in NUMBERS:
        row, target = rows.get(f), nz.digits(patient.get(f, ""))
        if row is None or not target:
            continue
        compared += 1
        if row["status"] in HUMAN_STATUSES:
            p *= 1.0 if _digits_apart(row["final_value"], target) == 0 else boxed.ABSENT
            continue
        own, _, _ = _original(row)
        cells = _cells(row)
        chars = _chars("digits", _paper_form(own, target), cells) if own else None
        p *= boxed.likelihood(cells, chars) if chars is not None else boxed.ABSENT
    return p, compared


def _revise(store: Store, name: str, row: Any, value: str, conf: float, why: str, policy: Policy,
            held: bool, report: Report) -> None:
    """Store a checked value (decided from the first reading), audited with the reason the review screen shows."""
    own, own_conf, own_status = _original(row)
    status = accept.status_for(IDENTITY_KIND, conf, held=held, policy=policy)
    note = f"terbaca {own or '(kosong)'}, diubah mesin: {why}" if value != own else why
    stored = json.loads(row["detail"] or "{}")
    detail = {**stored, "note": note, KEY: {"read": own, "confidence": own_conf, "status": own_status, "why": why}}
    if stored.get(KEY) == detail[KEY] and (value, round(conf, 4), status) == (
            row["final_value"], round(row["confidence"], 4), row["status"]):
        return
    if not store.revise_machine(row["id"], row["version"], value, round(conf, 4), status, detail, note,
                                audit_always=True):
        return
    report.pages.add(row["page_id"])
    if value != own:
        report.corrected += 1
        report.changes.append((row["id"], name, own, value))
    else:
        report.confirmed += 1


def _restore(store: Store, name: str, row: Any, report: Report) -> None:
    """Put back the first reading of a value an earlier master changed, when the record no longer links."""
    detail = json.loads(row["detail"] or "{}")
    if KEY not in detail or row["status"] in HUMAN_STATUSES:
        return
    own, own_conf, own_status = _original(row)
    first = detail.pop(KEY)
    detail.pop("note", None)
    note = f"tidak lagi cocok dengan data pasien ERM ({first.get('why', '')})"
    if store.revise_machine(row["id"], row["version"], own, own_conf, own_status, detail, note, audit_always=True):
        report.pages.add(row["page_id"])
        report.restored += 1


def _check_number(store: Store, name: str, row: Any, patient: dict[str, Any], who: str, policy: Policy, held: bool,
                  report: Report) -> bool:
    """Decide a number against the linked patient's; False when the master has nothing to say about it."""
    own, own_conf, _ = _original(row)
    target = _paper_form(own, nz.digits(patient.get(name, "")))
    apart = _digits_apart(own, target)
    if apart is None or apart > 1:
        return False
    cells = _cells(row)
    own_chars, chars = _chars("digits", own, cells), _chars("digits", target, cells)
    if own_chars is None or chars is None:
        return False
    best, p = boxed.posterior(cells, own, own_chars, {target: (chars, NUMBER_PRIOR)}, 1 - NUMBER_PRIOR)
    conf = max(p, own_conf) if target == own else p
    offered = best != target  # the cells clearly say another digit: the master's value is offered, not trusted
    if offered:
        conf = min(conf, 0.5)
    why = f"sama dengan data pasien ERM {who} (nama dan tanggal lahir cocok)" if target == own else \
        f"beda satu angka dari data pasien ERM {who} (nama dan tanggal lahir cocok)"
    _revise(store, name, row, target, conf, why, policy, held or offered, report)
    return True


def _paper_text(value: str) -> str:
    """The master's text as capitals in comb boxes hold it (``JL. RAYA-BLUTO`` -> ``JL RAYA BLUTO``)."""
    return " ".join(nz.clean_text(re.sub(r"[.,'/-]", " ", value or "")).split())


def _check_text(store: Store, name: str, row: Any, patient: dict[str, Any], who: str, policy: Policy, held: bool,
                report: Report) -> bool:
    """Decide a name, address or village against the linked patient's spelling; False if the cells do not read it so."""
    own, own_conf, _ = _original(row)
    target = _paper_text(patient.get(name, ""))
    if not target:
        return False
    cells = _cells(row)
    own_chars, chars = _chars("letters", own, cells), _chars("letters", target, cells)
    if own_chars is None or chars is None:
        return False
    best, p = boxed.posterior(cells, own, own_chars, {target: (chars, NAME_PRIOR)}, 1 - NAME_PRIOR)
    if best != target:
        return False
    conf = max(p, own_conf) if target == own else p
    _revise(store, name, row, target, conf, f"sama dengan {TEXTS[name]} pasien ERM {who}", policy, held, report)
    return True


def check(store: Store, pages: set[int] | None = None, policy: Policy | None = None) -> Report:
    """Check the machine-read identity fields of the records on ``pages`` (all when None) against the master."""
    report = Report()
    patients = store.erm_rows("patients")
    if not patients:
        return report
    master = Master(patients)
    policy = policy or accept.for_data_dir(store.data_dir)
    held = spotchecks.pending(store)
    records: dict[tuple[int, int | None], dict[str, Any]] = defaultdict(dict)
    for name, kind in FIELDS.items():
        for row in store.machine_fields(name, kind):
            if pages is None or row["page_id"] in pages:
                records[(row["page_id"], row["record_no"])][name] = row
    for rows in records.values():
        report.records += 1
        found, agreeing = link(rows, master)
        report.ambiguous += agreeing > 1
        if found is None:
            for name, row in rows.items():
                _restore(store, name, row, report)
            continue
        report.linked += 1
        patient = master.patients[found]
        who = f"No. RM {patient['rm_no']}" if patient.get("rm_no") else f"NIK {patient.get('nik', '')}"
        for f, row in rows.items():  # a value this master does not decide is as first read
            if row["status"] in HUMAN_STATUSES:
                continue
            if f in NUMBERS:
                decided = bool(patient.get(f)) and _check_number(store, f, row, patient, who, policy,
                                                                 row["id"] in held, report)
            else:
                decided = f in TEXTS and _check_text(store, f, row, patient, who, policy, row["id"] in held, report)
            if not decided:
                _restore(store, f, row, report)
    _revalidate(store, report.pages)
    return report


def _revalidate(store: Store, pages: set[int]) -> None:
    """Run the rules again on the records of ``pages``; a value that breaks a blocking rule is never auto."""
    for page in sorted(pages):
        for record_id in store.records_of_page(page):
            broken = {i.field for i in revalidate(store, record_id) if i.blocking}
            for f in store.record_fields(record_id):
                if f["status"] == accept.AUTO and f["name"] in broken:
                    store.revise_machine(f["id"], f["version"], f["machine_value"], f["confidence"], accept.REVIEW,
                                         None, "melanggar aturan")
