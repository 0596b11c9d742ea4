"""Read the pages still under review again once the reader has learned the clinic's hands.

After an outage the whole stack is ingested at once, and the reader learns from the first
sheets reviewers checked (``susulan learn``, or by itself before an ingest): without a
re-read, the rest of that stack would still wait with the old readings. Each page that has
a comb-box value read by another model, undecided by a person and on a record still under
review, is read again from its stored scan with the model now in use, under its batch's
thresholds. Only those values change, through :meth:`~pipeline.store.Store.revise_machine`
(audited as ``susulan``; never a value a person confirmed or corrected, never an approved or
flagged record, never a value waiting for a spot check). Batch consistency, the identity check
and validation then run again on the pages re-read, and a sample of the values that became
``auto`` goes before a person (spot checks). Rerunning re-reads nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from pipeline import accept, consensus, workers
from pipeline.learn import hands, identity, spotcheck
from pipeline.models import PageResult, first_reading
from pipeline.process import process_file_page
from pipeline.recognize import icr
from pipeline.store import Store, spotchecks
from pipeline.store import learning as repo

NOTE = "dibaca ulang dengan model {model}"
"""Audit note of a value the re-read changed."""


@dataclass
class RereadReport:
    """What one re-read did."""

    model: str = ""
    pages: int = 0
    values: int = 0
    changed: int = 0
    auto_before: int = 0
    auto_after: int = 0
    """Of the values read again: how many were ``auto`` before, and are after (a person may approve meanwhile)."""
    pages_left: int = 0
    """Pages not read as the same form again (left exactly as they were)."""
    spot_checked: int = 0
    seconds: float = 0.0

    def text(self) -> str:
        """One plain sentence for the terminal."""
        if not self.pages and not self.pages_left:
            return "No page under review was read by another model: nothing to read again."
        out = (f"Read {self.pages} page(s) still under review again with {self.model} in {self.seconds:.0f} s: "
               f"{self.values} value(s) no person had checked, {self.changed} read otherwise now; "
               f"auto {self.auto_before} -> {self.auto_after}")
        if self.spot_checked:
            out += f"; {self.spot_checked} of the new auto value(s) picked at random for a person to check"
        if self.pages_left:
            out += f"; {self.pages_left} page(s) could not be read as before and were left as they were"
        return out + "."


def learn_if_due(store: Store, jobs: int | None = None, spot_check: bool = True
                 ) -> tuple[hands.LearnReport | None, RereadReport | None]:
    """The automatic trigger: learn if due, and read the pages under review again when a new model is adopted.

    Due (:func:`pipeline.learn.hands.due`): enough values reviewed since the last run, or a
    patient master whose names are not yet in the lexicon. ``spot_check``: see :func:`reread`.
    """
    learned = hands.maybe_learn(store)
    return learned, reread(store, jobs, spot_check=spot_check) if learned is not None and learned.adopted else None


def reread(store: Store, jobs: int | None = None, progress: Callable[[int, int], None] | None = None,
           spot_check: bool = True) -> RereadReport:
    """Read again the pages under review that another model read; returns what changed.

    ``spot_check``: put a random sample of the values it made ``auto`` before a person (off only
    where the reader alone is measured: the benchmark and the calibration).
    """
    start = time.perf_counter()
    model = hands.reading_model(store)
    version = icr.model_version(model)
    report = RereadReport(model=version)
    stale = repo.stale_pages(store, version)
    if not stale:
        return report
    policy = accept.for_data_dir(store.data_dir)
    around = {r["id"] for r in stale}
    before = {r["id"] for r in spotchecks.auto_values(store, around)}
    held = spotchecks.pending(store)  # values waiting for a spot check stay as a person will see them
    read: list[int] = []
    changed_pages: set[int] = set()
    with workers.pool(jobs or os.cpu_count() or 1) as pool:
        futures: dict[Future, dict] = {
            pool.submit(process_file_page, store.data_dir / r["stored_path"], r["page_no"],
                        policy.for_batch(r["batch_id"]), model): dict(r) for r in stale}
        for n, fut in enumerate(as_completed(futures), 1):
            page = futures[fut]
            try:
                result = fut.result()
            except (BrokenProcessPool, OSError) as e:  # its scan gone, or a worker crashed: left as it was
                result = PageResult("problem", "worker_crash", str(e))
            if _apply(store, page, result, version, held, report, read):
                changed_pages.add(page["id"])
            if progress:
                progress(n, len(futures))
    consensus.settle(store, around, policy)
    consensus.recheck(store, changed_pages)
    identity.check(store, around, policy)
    after = {r["id"] for r in spotchecks.auto_values(store, around)}
    report.values, report.auto_after = len(read), repo.count_auto(store, read)
    report.spot_checked = spotcheck.sample(store, around, only=after - before) if spot_check else 0
    report.seconds = time.perf_counter() - start
    return report


def _apply(store: Store, page: dict, result: PageResult, version: str, held: set[int], report: RereadReport,
           read: list[int]) -> bool:
    """Store one page's new readings of its undecided values (their ids added to ``read``); whether one changed."""
    if result.status != "done" or result.ident is None or result.ident.form_id != page["form_id"]:
        report.pages_left += 1
        return False
    report.pages += 1
    new = {(rd.record, rd.name): rd for rd in result.readings if rd.engine == "icr"}
    same: list[int] = []
    changed = False
    for f in repo.undecided_readings(store, page["id"]):
        rd = new.get((f["record_no"], f["name"]))
        if rd is None or f["id"] in held or f["model"] == version:
            continue
        report.auto_before += f["status"] == accept.AUTO
        read.append(f["id"])
        conf = round(rd.confidence, 4)
        first, first_conf = first_reading(json.loads(f["detail"] or "{}"), f["final_value"], f["confidence"])
        if (rd.value, conf) == (first, round(first_conf, 4)):  # what batch consistency or the master made of it stands
            same.append(f["id"])
        elif store.revise_machine(f["id"], f["version"], rd.value, conf, rd.status, rd.detail,
                                  NOTE.format(model=version), reading=(version, rd.topk)):
            report.changed += rd.value != f["final_value"]
            changed = True
    repo.mark_read_by(store, same, version)
    return changed

