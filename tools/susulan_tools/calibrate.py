"""``susulan calibrate``: measure how often values of each confidence band are wrong, choose auto thresholds.

Uses only the ``calib`` handwriting split (digits and fonts never used in training
nor in benchmarks). The pages are read, then checked against a patient master that knows
their returning patients (:mod:`susulan_tools.master`), as at a clinic whose ERM is back:
the values it decides calibrate the ``identity`` kind, and its names become the letter
model's lexicon (the pages are read again with it). A kind's threshold must hold both as
first read without a master and as read again with its lexicon: the higher of the two.
Writes the thresholds as JSON to the path it is given (the format :mod:`pipeline.accept` reads: the committed
``pipeline/recognize/models/calibration.json``, or a data dir's ``acceptance.json``)
and the table as ``CALIBRATION.md`` beside it.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import forms
from pipeline.export import rows
from pipeline.models import IDENTITY_KIND
from pipeline.store import Store
from susulan_tools import master
from susulan_tools.measure import decided_by_master, page_doubts, read_truth, upper_bound

CALIB_SEED = 4242
MAX_AUTO_ERROR = 0.005
"""Target error among auto values per kind (issue 11: <= 0.5 % on writers never seen)."""
CONFIDENCE = 0.95
"""The target must hold with this confidence on the calib writers (one-sided exact binomial bound)."""
MIN_AUTO_N = 30
MARGIN_N = 300
MARGIN_MAX_ERROR = 0.01
"""The :data:`MARGIN_N` least sure values at or above a threshold may be wrong at most this often (twice
the target). Without it a pooled error within the target can hide a margin wrong one time in ten behind
thousands of sure values (1,250 calib pages: dates from 0.714 would have been auto); handwriting unlike the
calib writers moves values into that margin first."""
BANDS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 1.0001)
CALIBRATED_KINDS = ("digits", "date", "time", "letters", "lexicon", IDENTITY_KIND)
DOUBT_QUANTILE = 0.99
"""Pages of the calib writers the shift check would hold back (1 %); on other hands, those less sure than that."""


def observations(truth: list[dict[str, Any]], exported: list[dict[str, Any]],
                 by_master: dict[tuple[str, int | None, str], tuple[str, float]] | None = None
                 ) -> dict[str, list[tuple[float, bool]]]:
    """Per acceptance kind: (confidence, correct) of every machine value that has a truth and breaks no rule.

    Values that break a rule are never auto, so they do not count towards the auto thresholds.
    ``by_master``: the values the ERM master decided, ``(page_id, record, field) -> first reading``
    (:func:`~susulan_tools.measure.decided_by_master`): each counts for ``identity`` as decided, and
    for its field's kind as first read (how it stands at a clinic without a master).
    """
    by_master = by_master or {}
    kinds = forms.accept_kinds()
    got = {(r["page_id"], r["record"]): r for r in exported}
    out: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for t in truth:
        r = got.get((t["page_id"], t["record"]))
        if r is None:
            continue
        broken = {i["field"] for i in r["issues"]}
        for name, value in t["fields"].items():
            f = r["fields"].get(name)
            if f is not None and name not in broken:
                seen = (float(f["confidence"]), f["value"] == value)
                first = by_master.get((t["page_id"], t["record"], name))
                if first is not None:
                    out[IDENTITY_KIND].append(seen)
                    seen = (first[1], first[0] == value)
                out[kinds[(t["form_id"], name)]].append(seen)
    return out


def _needed(wrong_max: int, n_max: int) -> list[int]:
    """For ``k`` wrong values: the fewest values whose 95 % upper error bound is within :data:`MAX_AUTO_ERROR`."""
    out = []
    for k in range(wrong_max + 1):
        lo, hi = k + 1, n_max + 1
        while lo < hi:
            mid = (lo + hi) // 2
            if upper_bound(k, mid, CONFIDENCE) <= MAX_AUTO_ERROR:
                hi = mid
            else:
                lo = mid + 1
        if lo > n_max:
            break
        out.append(lo)
    return out


def threshold(obs: list[tuple[float, bool]]) -> float:
    """Lowest confidence from which the values at or above it are wrong at most ``MAX_AUTO_ERROR`` of the time.

    "At most" with :data:`CONFIDENCE`: the one-sided exact (Clopper-Pearson) upper bound of
    their error rate must be within the target, so with no error at all about 600 values
    must lie above the threshold before it is trusted. The least sure of them (the margin,
    :data:`MARGIN_N` values) must also be wrong at most :data:`MARGIN_MAX_ERROR` of the time.
    Values of equal confidence go together.
    """
    ranked = sorted(obs, key=lambda o: -o[0])
    need = _needed(int(MAX_AUTO_ERROR * len(ranked)) + 1, len(ranked))
    wrong_before = np.cumsum([0] + [not ok for _, ok in ranked])
    best = 1.01
    for n, (conf, _) in enumerate(ranked, 1):
        wrong = int(wrong_before[n])
        last_of_tie = n == len(ranked) or ranked[n][0] < conf
        if not (last_of_tie and n >= MIN_AUTO_N and wrong < len(need) and n >= need[wrong]):
            continue
        first = max(0, n - MARGIN_N)
        if wrong_before[n] - wrong_before[first] <= MARGIN_MAX_ERROR * (n - first):
            best = conf
    return best


def bands(obs: list[tuple[float, bool]]) -> list[dict[str, float]]:
    """Confidence band -> count and measured error rate."""
    out = []
    for lo, hi in zip(BANDS, BANDS[1:]):
        inside = [ok for c, ok in obs if lo <= c < hi]
        if inside:
            out.append({"from": lo, "to": min(hi, 1.0), "n": len(inside),
                        "error": round(1 - sum(inside) / len(inside), 4)})
    return out


def doubt_limit(doubts: list[float]) -> float:
    """The shift check's limit: a page less sure than :data:`DOUBT_QUANTILE` of the calib pages is unlike them."""
    if len(doubts) < 50:
        return 1.1
    return round(float(np.quantile(doubts, DOUBT_QUANTILE)), 4)


def calibrate(pages: int, seed: int = CALIB_SEED, jobs: int | None = None) -> dict[str, Any]:
    """Generate calib-split samples, ingest, and derive the table and thresholds."""
    from pipeline import run
    from pipeline.cli import main as cli

    work = Path(tempfile.mkdtemp(prefix="susulan-calib-"))
    scans, data = work / "scans", work / "data"
    if cli(["samples", "make", "--out", str(scans), "--pages", str(pages), "--seed", str(seed),
            "--split", "calib"]) != 0:
        raise RuntimeError("sample generation failed")
    run.ingest_paths([scans], data, jobs, spot_check=False)
    with Store.open(data) as store:  # as at a clinic: the ERM knows the returning patients (and many others)
        first = rows.rows(store)
        print(master.load(store, read_truth(scans), work), flush=True)
    return measure(scans, data, seed, pages, first)


def measure(scans: Path, data: Path, seed: int, pages: int,
            without_master: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Calibration table and thresholds from an ingested sample set and its truth.

    ``without_master``: the exported rows before the master was loaded; each kind's threshold
    is then the higher of the one they need and the one the rows read with the master need.
    """
    truth = read_truth(scans)
    with Store.open(data) as store:
        obs = observations(truth, rows.rows(store), decided_by_master(store))
        doubts = page_doubts(store)
    plain = observations(truth, without_master) if without_master is not None else {}
    result: dict[str, Any] = {"seed": seed, "pages": pages, "max_auto_error": MAX_AUTO_ERROR, "kinds": {},
                              "page": {"doubt_limits": {h: doubt_limit(d) for h, d in doubts.items()},
                                       "pages": {h: len(d) for h, d in doubts.items()},
                                       "doubt_medians": {h: round(float(np.median(d)), 4) if d else 0.0
                                                         for h, d in doubts.items()}}}
    for kind, values in sorted(obs.items()):
        entry = {"n": len(values), "bands": bands(values)}
        if kind in CALIBRATED_KINDS:
            entry["threshold"] = max(threshold(values), threshold(plain[kind]) if plain.get(kind) else 0.0)
        result["kinds"][kind] = entry
    return result


def write(result: dict[str, Any], path: Path) -> None:
    """Save the thresholds as JSON to ``path`` and the table as ``CALIBRATION.md`` beside it."""
    path.write_text(json.dumps(result, indent=1) + "\n")
    path.with_name("CALIBRATION.md").write_text(table(result) + "\n")


def table(result: dict[str, Any]) -> str:
    """The calibration table as Markdown."""
    lines = [f"# Confidence calibration (calib split, seed {result['seed']}, {result['pages']} pages)", "",
             "Regenerate: `susulan calibrate --pages N --out pipeline/recognize/models/calibration.json` "
             "(only the calib handwriting split is used).", "",
             "| kind | confidence band | values | measured error |", "|---|---|---|---|"]
    for kind, k in result["kinds"].items():
        for b in k["bands"]:
            lines.append(f"| {kind} | {b['from']:.3f}–{b['to']:.3f} | {b['n']} | {b['error']:.2%} |")
    lines += ["", f"| kind | auto threshold (95 % upper bound of the error above it ≤ 0.5 %; its {MARGIN_N} least "
              f"sure values wrong ≤ {MARGIN_MAX_ERROR:.0%}) |", "|---|---|"]
    lines += [f"| {kind} | {k['threshold']:.4f} |" for kind, k in result["kinds"].items() if "threshold" in k]
    page = result.get("page", {})
    if page:
        lines += ["", "Shift check, per head of the classifier: on a page whose written cells of that head have a "
                  "mean doubt (1 - p of the best candidate) above the limit, every value that head read goes to "
                  "review.", "", f"| head | limit (the {DOUBT_QUANTILE:.0%} quantile of the calib pages) | pages | "
                  "median |", "|---|---|---|---|"]
        lines += [f"| {head} | {limit:.4f} | {page['pages'][head]} | {page['doubt_medians'][head]:.4f} |"
                  for head, limit in page["doubt_limits"].items()]
    return "\n".join(lines)

