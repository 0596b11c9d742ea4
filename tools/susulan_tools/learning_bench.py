"""``susulan bench --learning``: the gain from learning a clinic's hands, on the same writers' next pages.

1. Two sample sets written by the same few writers: the pages reviewed first, and their next pages.
2. The first set is ingested and its first N records reviewed by a simulated clerk
   through the store API (every wrong value corrected to the truth, every value marked
   for review confirmed, then the form approved), as :func:`review_records` does.
3. The data dir is copied: one copy learns (``susulan learn``), the other does not.
4. The next pages are ingested into both; digit and letter errors, auto share and
   wrong among auto are compared with the truth.
5. The same stack: a third copy ingests the next pages before it learns (one outage's
   stack, its first pages reviewed), then learns and re-reads the pages still under review
   (:mod:`pipeline.reread`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from pipeline import reread, run
from pipeline.export import rows
from pipeline.learn import hands
from pipeline.store import Store
from pipeline.store import review as rv
from susulan_tools import bench
from susulan_tools.synth import make

SEEDS = (9101, 9201)
"""Base seeds of the reviewed pages and of the next pages (plus the writer's position); used nowhere else."""
WRITERS = (101, 202, 303)
"""The clinic's clerks: fixed writers of the sample generator (``samples make --writer``)."""
CLERK = "clerk"
DIGIT_KINDS = ("digits", "date", "time")


def write_pages(folder: Path, pages: int, seed: int, writers: tuple[int, ...] = WRITERS) -> list[dict[str, Any]]:
    """``pages`` sample pages shared out among ``writers`` (one sub-folder each); returns the truth lines."""
    truth: list[dict[str, Any]] = []
    for i, writer in enumerate(writers):
        share = pages // len(writers) + (i < pages % len(writers))
        out = folder / f"writer-{writer}"
        make.write_samples(out, share, seed + i, writer=writer)
        truth += make.read_truth(out / "truth.jsonl")
    return truth


def review_records(store: Store, truth: list[dict[str, Any]], limit: int, user: str = CLERK) -> int:
    """Review the first ``limit`` records (scan order) as a clerk would; returns how many were reviewed."""
    by_key = {(t["page_id"], t["record"]): t["fields"] for t in truth}
    done = 0
    for record_id in store.record_ids():
        if done >= limit:
            break
        rec = store.record(record_id)
        values = by_key.get((rec["page_key"], rec["record_no"]))
        if values is None:
            continue
        changes = []
        for f in store.record_fields(record_id):
            want = values.get(f["name"])
            if want is None:
                continue
            if f["final_value"] != want:
                changes.append(rv.Change(f["id"], f["version"], want))
            elif f["status"] == "review":
                changes.append(rv.Change(f["id"], f["version"], None))
        rv.apply_changes(store, changes, user)
        try:
            rv.approve(store, record_id, user)
        except rv.Blocked:
            rv.approve(store, record_id, user, override_note="sesuai kertas")
        done += 1
    return done


def errors(truth: list[dict[str, Any]], exported: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per group (digit kinds together, letters): values, wrong values, CER, auto share, wrong among auto."""
    per_kind = bench.compare(truth, exported)
    out = {}
    for group, kinds in (("digits", DIGIT_KINDS), ("letters", ("letters", "lexicon"))):
        ks = [per_kind[k] for k in kinds if k in per_kind]
        n = sum(k["n"] for k in ks)
        auto = sum(k["auto_share"] * k["n"] for k in ks)
        out[group] = {"n": n, "wrong": sum((1 - k["accuracy"]) * k["n"] for k in ks),
                      "cer": sum(k["cer"] * k["n"] for k in ks) / max(n, 1), "auto_share": auto / max(n, 1),
                      "auto_wrong": sum(k["auto_error"] * k["auto_share"] * k["n"] for k in ks), "auto": auto}
    return out


def run_learning_bench(pages: int, records: int = 100, writers: tuple[int, ...] = WRITERS, jobs: int | None = None,
                       keep: Path | None = None) -> dict[str, Any]:
    """The whole experiment; returns every figure (see :func:`report`)."""
    work = Path(keep or tempfile.mkdtemp(prefix="susulan-learnbench-"))
    first, nxt, learned, control = work / "first", work / "next", work / "data", work / "control"
    truth_first = write_pages(first, pages, SEEDS[0], writers)
    truth_next = write_pages(nxt, pages, SEEDS[1], writers)
    stack = work / "stack"
    run.ingest_paths([first], learned, jobs, learn=False, spot_check=False)
    with Store.open(learned) as store:
        reviewed = review_records(store, truth_first, records)
    shutil.copytree(learned, control)
    with Store.open(learned) as store:
        report = hands.learn(store)
    run.ingest_paths([nxt], learned, jobs, learn=False, spot_check=False)
    run.ingest_paths([nxt], control, jobs, learn=False, spot_check=False)
    shutil.copytree(control, stack)  # the next pages were in the store (not reviewed) when it learned
    with Store.open(stack) as store:
        hands.learn(store)
        again = reread.reread(store, jobs)
    out: dict[str, Any] = {"pages": pages, "writers": len(writers), "records_reviewed": reviewed,
                           "learn": report.text(), "adopted": report.adopted, "reread_text": again.text(),
                           "work": str(work)}
    for name, folder in (("before", control), ("after", learned), ("reread", stack)):
        with Store.open(folder) as store:
            out[name] = errors(truth_next, rows.rows(store))
    return out


def report(r: dict[str, Any]) -> str:
    """The learning benchmark as Markdown."""
    lines = [f"Same {r['writers']} writers: {r['pages']} pages read first ({r['records_reviewed']} records reviewed "
             f"by a simulated clerk), then their {r['pages']} next pages read without and with learning.", "",
             r["learn"], "",
             "| next pages | values | wrong before | wrong after | change | CER before | CER after "
             "| auto before | auto after | wrong among auto before | after |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for group in ("digits", "letters"):
        lines.append(_row(group, r["before"][group], r["after"][group]))
    lines += ["", "The same next pages already in the store, under review, when it learned; then re-read "
              "(same stack):", "", r["reread_text"], "", lines[4], lines[5]]
    for group in ("digits", "letters"):
        lines.append(_row(group, r["before"][group], r["reread"][group]))
    return "\n".join(lines)


def _row(group: str, b: dict[str, float], a: dict[str, float]) -> str:
    change = (a["wrong"] - b["wrong"]) / b["wrong"] if b["wrong"] else 0.0
    return (f"| {group} | {b['n']:.0f} | {b['wrong']:.0f} | {a['wrong']:.0f} | {change:+.0%} "
            f"| {b['cer']:.2%} | {a['cer']:.2%} | {b['auto_share']:.1%} | {a['auto_share']:.1%} "
            f"| {b['auto_wrong']:.0f}/{b['auto']:.0f} | {a['auto_wrong']:.0f}/{a['auto']:.0f} |")
