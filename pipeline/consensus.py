"""Batch consistency: what other sheets say about a value makes its reading surer (or corrects it).

Runs in the parent after a batch is stored, on machine readings no person has touched:

- **Visit date.** Sheets scanned after an outage come from a few days only, and a
  stack is scanned day by day. A visit date read confidently (or set by a person) on
  at least :data:`MIN_SUPPORT` nearby sheets is a likely value; the prior weighs each
  supporting sheet by its distance in scan order, and each sheet's own cell
  probabilities decide between those dates and its own reading (Bayes).
- **Queue sheet rows.** Rows are filled in arrival order, so row ``r`` usually holds
  the queue number of row ``j`` plus ``r - j``, and an arrival time between the sure
  times of the rows above and below; the other rows' confident readings give each
  row a prior, its own cells decide.

Leave-one-out: a value never supports itself. The result is a posterior probability
that replaces the value's confidence; ``auto`` still needs the calibrated threshold of
its kind and no broken rule (:mod:`pipeline.accept`). Rerunning gives the same result
(it starts from the original reading kept in the field's detail).

Limits that keep it honest: only sheets of the same ingest batch support each other,
only the values of the pages just read (or read again, :mod:`pipeline.reread`) are
decided (a later batch never touches an earlier one), no support is taken across a change
of visit date, and consensus alone never makes a value ``auto``: a value the other sheets
changed stays for review, and one they confirm is ``auto`` only if every one of its own
cells reads it as its best candidate and the other sheets point to it more than to any
other value.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Set

from pipeline import accept, forms, validate
from pipeline.accept import Policy
from pipeline.models import CONSENSUS_KEY
from pipeline.recognize import boxed
from pipeline.store import HUMAN_STATUSES, Store, spotchecks
from pipeline.store.review import revalidate

KINDS = {"visit_date": "date", "queue_no": "digits", "arrival_time": "time"}
"""The roles batch consistency knows (``visit_date`` with batch hint ``same_day``, the other two ``ascending``)."""
SURE = 0.9
"""Own-reading confidence from which a sheet's value supports other sheets."""
MIN_SUPPORT = 2
"""A visit date needs this many other sheets reading it (nearby in scan order) to become a candidate."""
HALF_LIFE = 4.0
"""Scan-order distance (sheets) at which another sheet's date counts half: stacks are scanned day by day."""
WINDOW = 40
"""Sheets on either side that are looked at."""
OTHER = 0.05
"""Prior probability that a value is none of the candidates (a sheet from another day, a skipped number)."""
IMPLAUSIBLE = 1e-6
"""Prior of an own reading that breaks its field's rules (a visit date in the future, 25:70, ...)."""
MAX_GAP_MIN = 90
"""Arrival times are only bounded by neighbours at most this many minutes apart."""


def _original(row) -> tuple[str, float, list, bool]:
    """(value as first read or as a person set it, its confidence, cell candidates, whether a person set it)."""
    detail = json.loads(row["detail"] or "{}")
    if row["status"] in HUMAN_STATUSES:
        return row["final_value"], 1.0, detail.get("cells", []), True
    first = detail.get(CONSENSUS_KEY, {})
    return (first.get("read", row["machine_value"]), first.get("confidence", row["confidence"]),
            detail.get("cells", []), False)


def _struck(row) -> bool:
    """A machine value of a crossed-out row or form (:func:`pipeline.recognize.read.hold_struck`).

    It supports no other sheet or row (a struck row's queue number may be written again below) and
    is left for the person who decides whether the row is a patient at all.
    """
    return row["status"] not in HUMAN_STATUSES and json.loads(row["detail"] or "{}").get("held") == "struck"


def _with_own(prior: dict[str, tuple[str, float]], name: str, own: str, own_chars: str
              ) -> dict[str, tuple[str, float]]:
    """Add an own reading that breaks its field's rules with the small prior :data:`IMPLAUSIBLE`."""
    if own in prior or validate.field_ok(name, own):
        return prior
    return {**prior, own: (own_chars, IMPLAUSIBLE)}


def _date_chars(value: str) -> str:
    """``YYYY-MM-DD`` -> the 8 cell characters ``DDMMYYYY``."""
    y, m, d = value.split("-")
    return d + m + y


def _is_date(value: str) -> bool:
    """A real ``YYYY-MM-DD`` date (``parse_date`` alone also takes ``YYYYMMDD``)."""
    return len(value) == 10 and validate.parse_date(value) is not None


def _decide(store: Store, row, own: str, conf: float, cells: list, prior: dict[str, tuple[str, float]],
            name: str, why: str, policy: Policy, between_days: bool = False) -> set[int]:
    """Weigh the own reading against ``prior`` and store the outcome; returns the page id if it changed.

    Consensus alone never accepts: a value is ``auto`` only if the posterior reaches the
    policy's threshold, the other sheets did not change it, and every one of its own cells
    reads it as its best candidate (:func:`_cells_agree`), and the other sheets point to it
    more than to any other value (:func:`_against_most`). So a value the other sheets
    changed, one they mostly contradict, one between two days (``between_days``), one the
    reader spelt from a cell's runner-up, and one on a page the shift check held stay for review.

    On the calib writers (2,250 pages), of the values the other sheets confirmed whose cells
    agree but whose own reading stayed below the threshold, 2 of 3,864 were wrong (0.05 %);
    of those sure on their own reading too, 22 of 9,120 (0.24 %).
    """
    own_chars = _date_chars(own) if _is_date(own) else "".join(c[0][0] for c in cells)
    best, p = boxed.posterior(cells, own, own_chars, _with_own(prior, name, own, own_chars), OTHER)
    held = best != own or between_days or not _cells_agree(own, cells) or _against_most(own, prior) or \
        "held" in json.loads(row["detail"] or "{}")
    status = accept.status_for(KINDS[name], p, held=held, policy=policy)
    page = _revise(store, row, best, p, own, conf, status, why)
    return set() if page is None else {page}


def _against_most(own: str, prior: dict[str, tuple[str, float]]) -> bool:
    """Whether the other sheets (rows) point most to another value than ``own``.

    Two rows of one hand that both write 7 like a 1 (``071``, ``072`` read ``011``, ``012``)
    confirm each other; the rest of the sheet says 071 and 072: a person looks.
    """
    top = max(w for _, w in prior.values())
    return own not in {v for v, (_, w) in prior.items() if w >= top * (1 - 1e-9)}


def _cells_agree(own: str, cells: list) -> bool:
    """Whether every cell's best candidate spells ``own`` (dates as ``DDMMYYYY``, times without the colon)."""
    spelt = _date_chars(own) if _is_date(own) else own.replace(":", "")
    return spelt == "".join(c[0][0] for c in cells)


def _revise(store: Store, row, value: str, conf: float, own: str, own_conf: float, status: str, why: str
            ) -> int | None:
    """Store the new reading if it differs from what is stored; returns the page id touched (or None)."""
    conf = round(conf, 4)
    if value == row["machine_value"] and conf == round(row["confidence"], 4) and status == row["status"]:
        return None
    detail = {**json.loads(row["detail"] or "{}"), CONSENSUS_KEY: {"read": own, "confidence": own_conf, "why": why}}
    note = f"{why}: {own or '(kosong)'} -> {value}" if value != own else why
    if store.revise_machine(row["id"], row["version"], value, conf, status, detail, note):
        return row["page_id"]
    return None


def _same_day_support(sure: list[str | None], i: int) -> list[tuple[str, float]]:
    """Sure dates of the sheets on each side of sheet ``i`` up to the first change of date, weighted by distance.

    Walking away from ``i`` in scan order, a side ends where a sure date differs from the
    first one met on that side (or after :data:`WINDOW` sheets): a value is never changed
    or confirmed across a change of visit date.
    """
    out = []
    for step in (-1, 1):
        first = None
        j = i + step
        while 0 <= j < len(sure) and abs(j - i) <= WINDOW:
            d = sure[j]
            if d is not None:
                if first is None:
                    first = d
                elif d != first:
                    break
                out.append((d, 0.5 ** (abs(i - j) / HALF_LIFE)))
            j += step
    return out


def _by_batch(rows: list) -> list[list]:
    """Rows grouped by ingest batch, scan order kept: batch consistency never crosses batches."""
    groups: dict[int, list] = defaultdict(list)
    for row in rows:
        groups[row[0]["batch_id"]].append(row)
    return list(groups.values())


def settle_visit_dates(store: Store, around: set[int] | None = None, policy: Policy | None = None,
                       held: Set[int] = frozenset()) -> set[int]:
    """Visit dates weighted by nearness in scan order, within one batch; returns pages changed.

    Only sheets on pages in ``around`` (all when None; the ingest passes the pages of
    batches not finished yet) are decided, and only sheets of the same batch support them,
    up to the nearest change of date on each side (:func:`_same_day_support`). A sheet
    between two days is decided by its own cells and then never ``auto``. Values in ``held`` (waiting
    for a spot check) are left as they are.
    """
    touched = set()
    for rows in _by_batch([(r, *_original(r)) for r in _hinted_fields(store, "visit_date", "same_day")]):
        sure = [own if conf >= SURE and _is_date(own) and not _struck(r) else None for r, own, conf, _, _ in rows]
        for i, (r, own, conf, cells, human) in enumerate(rows):
            if (around is not None and r["page_id"] not in around) or human or r["id"] in held or len(cells) != 8 \
                    or _struck(r):
                continue
            near = _same_day_support(sure, i)
            count = Counter(d for d, _ in near)
            weight: dict[str, float] = defaultdict(float)
            for d, w in near:
                if count[d] >= MIN_SUPPORT:
                    weight[d] += w
            if not weight:
                continue
            total = sum(weight.values())
            prior = {d: (_date_chars(d), (1 - OTHER) * w / total) for d, w in weight.items()}
            touched |= _decide(store, r, own, conf, cells, prior, "visit_date", "tanggal sama dengan lembar lain",
                               policy or accept.shipped(), between_days=len(count) > 1)
    return touched


def _hinted_fields(store: Store, role: str, hint: str) -> list:
    """Stored values of the fields that have ``role`` and batch hint ``hint`` in their form's YAML, in scan order."""
    where = {(f.name, form.form_id) for form in forms.load_all() for f in form.fields
             if f.role == role and f.batch == hint}
    rows = [r for name in sorted({n for n, _ in where}) for r in store.machine_fields(name, KINDS[role])
            if (name, r["form_id"]) in where]
    return sorted(rows, key=lambda r: (r["page_id"], -1 if r["record_no"] is None else r["record_no"]))


def _sheet_rows(store: Store, role: str, around: set[int] | None) -> list[list[tuple]]:
    """Per sheet: ``(row, own value, own confidence, cells, set by a person)`` of the rows' field with ``role``.

    Only fields whose form says they ascend down the sheet (batch hint ``ascending``); only sheets
    in ``around`` (all when None).
    """
    by_page: dict[int, list] = defaultdict(list)
    for r in _hinted_fields(store, role, "ascending"):
        if r["record_no"] is not None and (around is None or r["page_id"] in around):
            by_page[r["page_id"]].append((r, *_original(r)))
    return list(by_page.values())


def settle_queue_numbers(store: Store, around: set[int] | None = None, policy: Policy | None = None,
                         held: Set[int] = frozenset()) -> set[int]:
    """Queue numbers down each queue sheet (of ``around``, all when None; not ``held``); returns pages changed."""
    touched = set()
    for rows in _sheet_rows(store, "queue_no", around):
        sure = {r["record_no"]: int(own) for r, own, conf, _, _ in rows
                if conf >= SURE and own.isdigit() and not _struck(r)}
        for r, own, conf, cells, human in rows:
            implied = Counter(q + r["record_no"] - j for j, q in sure.items() if j != r["record_no"])
            implied = Counter({q: n for q, n in implied.items() if 0 < q < 10 ** len(cells)})
            if human or r["id"] in held or not cells or not implied or _struck(r):
                continue
            total = sum(implied.values())
            prior = {str(q).zfill(len(cells)): (str(q).zfill(len(cells)), (1 - OTHER) * n / total)
                     for q, n in implied.items()}
            touched |= _decide(store, r, own, conf, cells, prior, "queue_no", "urutan nomor antrean",
                               policy or accept.shipped())
    return touched


def _minutes(value: str) -> int | None:
    if len(value) != 5 or value[2] != ":" or not (value[:2] + value[3:]).isdigit():
        return None
    h, m = int(value[:2]), int(value[3:])
    return h * 60 + m if h < 24 and m < 60 else None


def settle_arrival_times(store: Store, around: set[int] | None = None, widest: int = MAX_GAP_MIN,
                         policy: Policy | None = None, held: Set[int] = frozenset()) -> set[int]:
    """Arrival times down each queue sheet lie between the sure times above and below; returns pages changed.

    Only sheets in ``around`` (all when None), and not the values in ``held``.
    """
    touched = set()
    for rows in _sheet_rows(store, "arrival_time", around):
        read = {r["record_no"]: _minutes(own) for r, own, conf, _, _ in rows if conf >= SURE and not _struck(r)}
        sure: dict[int, int] = {j: m for j, m in read.items() if m is not None}
        for r, own, conf, cells, human in rows:
            me = r["record_no"]
            above = [m for j, m in sure.items() if j < me]
            below = [m for j, m in sure.items() if j > me]
            if human or r["id"] in held or len(cells) != 4 or not above or not below or _struck(r):
                continue
            lo, hi = max(above), min(below)
            if not 0 <= hi - lo <= widest:
                continue
            share = (1 - OTHER) / (hi - lo + 1)
            prior = {f"{m // 60:02d}:{m % 60:02d}": (f"{m // 60:02d}{m % 60:02d}", share) for m in range(lo, hi + 1)}
            touched |= _decide(store, r, own, conf, cells, prior, "arrival_time", "jam datang urut",
                               policy or accept.shipped())
    return touched


def settle(store: Store, around: set[int] | None = None, policy: Policy | None = None) -> int:
    """Apply every batch rule and re-validate the records touched; returns how many values were corrected.

    Only values on or near the pages ``around`` (all when None) are decided, under the
    acceptance ``policy`` (default: the data dir's). As at reading time, a value that
    breaks a blocking rule is never ``auto``. A value waiting for a spot check stays as a person
    will see it.
    """
    policy = policy or accept.for_data_dir(store.data_dir)
    before = _corrections(store)
    held = spotchecks.pending(store)
    pages = settle_visit_dates(store, around, policy, held) | settle_queue_numbers(store, around, policy, held) | \
        settle_arrival_times(store, around, policy=policy, held=held)
    recheck(store, pages)
    return _corrections(store) - before


def recheck(store: Store, pages: Iterable[int]) -> None:
    """Validate the records on ``pages`` again; an ``auto`` value that now breaks a blocking rule goes to review."""
    for record_id in _records(store, pages):
        broken = {i.field for i in revalidate(store, record_id) if i.blocking}
        for f in store.record_fields(record_id):
            if f["status"] == accept.AUTO and f["name"] in broken:
                store.revise_machine(f["id"], f["version"], f["machine_value"], f["confidence"], accept.REVIEW, None,
                                     "melanggar aturan")


def _corrections(store: Store) -> int:
    return store.machine_changes()


def _records(store: Store, pages: Iterable[int]) -> list[int]:
    return [rid for p in sorted(pages) for rid in store.records_of_page(p)]
