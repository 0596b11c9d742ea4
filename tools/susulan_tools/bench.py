"""``susulan bench``: generate a fresh held-out sample set, ingest it, and print speed and accuracy.

Accuracy is measured against ``truth.jsonl`` of the generated set, per acceptance kind
(``lexicon``: letters read against the official village list): exact share, character
error rate, share auto-accepted and error rate among the auto-accepted values with its
95 % upper bound; NIK and name exactness. The set is written by writers never seen in
training or calibration (the ``test`` split: UNIPEN test sites, MNIST test columns, test
fonts for free text). The naive baseline is
whole-page Tesseract on a few pages.
"""

from __future__ import annotations

import os
import platform
import resource
import tempfile
import time
from collections import defaultdict
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pipeline import accept, forms, run
from pipeline.export import rows
from pipeline.models import IDENTITY_KIND
from pipeline.store import Store
from susulan_tools import master, measure
from susulan_tools.measure import decided_by_master, read_truth, upper_bound

BENCH_SEED = 9001
"""Seed of the benchmark set; never used for training or calibration."""


def distance(truth: str, got: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    prev = list(range(len(got) + 1))
    for i, a in enumerate(truth, 1):
        cur = [i]
        for j, b in enumerate(got, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b)))
        prev = cur
    return prev[-1]


def cer(truth: str, got: str) -> float:
    """Character error rate of one value: edit distance / length of the truth (1.0 if only the truth is empty)."""
    if not truth:
        return 0.0 if not got else 1.0
    return distance(truth, got) / len(truth)


EXACT_FIELDS = {"NIK": ("nik",), "name": ("name",)}
"""Whole-field exactness reported on its own (before review)."""


def compare(truth: list[dict[str, Any]], exported: list[dict[str, Any]],
            by_master: Collection[tuple[str, int | None, str]] = ()) -> dict[str, dict[str, float]]:
    """Per acceptance kind and "all": n, exact share, CER, auto share, wrong among auto with its 95 % upper bound.

    ``lexicon`` is the letters read against a closed list (villages), apart from open letters;
    ``identity`` the values the ERM master decided (``by_master``: their ``(page_id, record, field)``).

    CER is the total edit distance over the total length of the true values (a value read
    where nothing was written counts its length). NIK and name exactness are reported as
    kinds ``NIK exact`` and ``name exact`` (values with a non-empty truth).
    """
    kinds = forms.accept_kinds()
    got = {(r["page_id"], r["record"]): r for r in exported}
    acc: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for t in truth:
        r = got.get((t["page_id"], t["record"]))
        for name, value in t["fields"].items():
            field = r["fields"].get(name, {"value": "", "status": "review"}) if r else {"value": "", "status": "review"}
            ok = field["value"] == value
            kind = IDENTITY_KIND if (t["page_id"], t["record"], name) in by_master else \
                kinds.get((t["form_id"], name), "?")
            keys = [kind, "all"]
            keys += [f"{label} exact" for label, names in EXACT_FIELDS.items() if name in names and value]
            for key in keys:
                a = acc[key]
                a["n"] += 1
                a["missing"] += r is None
                a["right"] += ok
                a["edits"] += distance(value, field["value"]) if r else max(len(value), 1)
                a["chars"] += len(value)
                if field["status"] == "auto":
                    a["auto"] += 1
                    a["auto_wrong"] += not ok
    out = {}
    for kind in sorted(acc, key=lambda k: (k == "all", " exact" in k, k)):
        a = acc[kind]
        n = a["n"] or 1
        out[kind] = {"n": a["n"], "accuracy": a["right"] / n, "cer": a["edits"] / max(a["chars"], 1),
                     "auto_share": a["auto"] / n, "auto": a["auto"], "auto_wrong": a["auto_wrong"],
                     "auto_error": a["auto_wrong"] / a["auto"] if a["auto"] else 0.0,
                     "auto_error_95": upper_bound(int(a["auto_wrong"]), int(a["auto"])), "missing": a["missing"]}
    return out


def _rusage() -> tuple[float, float]:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime, max(s.ru_maxrss, c.ru_maxrss) / 1024


def naive_seconds_per_page(scans: Path, pages: int = 3) -> float:
    """Time of ``pytesseract.image_to_string(page, lang="ind")`` on whole pages (the approach to beat)."""
    from pipeline import ingest
    from pipeline._exec import tesseract

    files = ingest.discover([scans]).files[:pages]
    start = time.perf_counter()
    for f in files:
        tesseract.read_page(ingest.load_page(f, 1), "ind")
    return (time.perf_counter() - start) / max(len(files), 1)


def run_bench(pages: int, seed: int = BENCH_SEED, jobs: int | None = None, keep: Path | None = None,
              with_master: bool = False) -> dict[str, Any]:
    """Generate, ingest, compare; returns every figure (printed by :func:`report`).

    ``with_master``: after reading, a patient master that knows the batch's returning patients is
    loaded (:mod:`susulan_tools.master`), as at a clinic whose ERM is back.
    """
    from pipeline.cli import main as cli

    work = Path(keep or tempfile.mkdtemp(prefix="susulan-bench-"))
    scans, data = work / "scans", work / "data"
    if cli(["samples", "make", "--out", str(scans), "--pages", str(pages), "--seed", str(seed)]) != 0:
        raise RuntimeError("sample generation failed")
    truth = read_truth(scans)
    cpu0, _ = _rusage()
    t0 = time.perf_counter()
    summary = run.ingest_paths([scans], data, jobs, spot_check=False)  # the reader alone
    wall = time.perf_counter() - t0
    cpu1, peak = _rusage()
    with Store.open(data) as store:
        checked = master.load(store, truth, work) if with_master else ""
        exported = rows.rows(store)
        by_master = decided_by_master(store)
        by_status = store.status_counts()["pages"]
        held = measure.held_pages(store, accept.for_data_dir(data))
    truth_pages = {(t["source"]["file"], t["source"]["page"]) for t in truth}
    done = sum(p["n"] for p in by_status if p["status"] == "done")
    page_rows = [p["status"] for p in by_status for _ in range(p["n"])]
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "pages": len(truth_pages), "identified_aligned": done / max(len(truth_pages), 1),
        "wall_s": wall, "pages_per_min": 60 * len(page_rows) / wall, "cpu_s_per_page": (cpu1 - cpu0) / len(page_rows),
        "peak_mem_mb": peak, "summary": summary.text() + (f"\n{checked}" if checked else ""),
        "kinds": compare(truth, exported, by_master),
        "naive_s_per_page": naive_seconds_per_page(scans), "work": str(work), "held_pages": held,
        "load": os.getloadavg()[0],
    }


def report(r: dict[str, Any]) -> str:
    """The benchmark as a Markdown table (pasted into the README)."""
    lines = [f"Machine: {r['machine']}; load average at the end {r.get('load', 0):.1f}", "",
             "| measure | value |", "|---|---|",
             f"| pages | {r['pages']} |",
             f"| identified and aligned | {r['identified_aligned']:.1%} |",
             "| pages whose digits / capitals the shift check held (unlike the calib writers) | "
             f"{r['held_pages']['digits']} / {r['held_pages']['letters']} |",
             f"| pages/min (whole pipeline, {os.cpu_count()} workers) | {r['pages_per_min']:.0f} |",
             f"| CPU s/page | {r['cpu_s_per_page']:.2f} |",
             f"| peak memory (largest process) | {r['peak_mem_mb']:.0f} MB |",
             f"| naive whole-page Tesseract, s/page | {r['naive_s_per_page']:.2f} |",
             f"| speed-up vs naive (per page, same cores) | "
             f"{r['naive_s_per_page'] / (60 / r['pages_per_min']):.0f}x |", "",
             "| field kind | values | exact | CER | auto | wrong among auto (95 % upper bound) |",
             "|---|---|---|---|---|---|"]
    for kind, k in r["kinds"].items():
        label = "**all fields**" if kind == "all" else kind
        lines.append(f"| {label} | {k['n']:.0f} | {k['accuracy']:.1%} | {k['cer']:.2%} | {k['auto_share']:.1%} "
                     f"| {k['auto_error']:.2%} ({k['auto_wrong']:.0f} of {k['auto']:.0f}; "
                     f"≤ {k['auto_error_95']:.2%}) |")
    lines += ["", r["summary"]]
    return "\n".join(lines)
