"""Small measures shared by the benchmark and the calibration: truth, error bounds, page doubt, master decisions."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pipeline import forms
from pipeline.accept import Policy
from pipeline.learn import identity
from pipeline.models import BOXED_KINDS, HEAD_OF, HEADS, IDENTITY_KIND


def upper_bound(wrong: int, n: int, confidence: float = 0.95) -> float:
    """One-sided exact (Clopper-Pearson) upper bound of an error rate seen as ``wrong`` of ``n``."""
    if n == 0:
        return 1.0
    if wrong >= n:
        return 1.0

    def cdf(p: float) -> float:  # P(X <= wrong) for X ~ Binomial(n, p)
        total = 0.0
        for i in range(wrong + 1):
            total += math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                              + i * math.log(p) + (n - i) * math.log1p(-p))
        return total

    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if cdf(mid) > 1 - confidence:
            lo = mid
        else:
            hi = mid
    return hi


def page_doubts(store: Any) -> dict[str, list[float]]:
    """Per classifier head, the :func:`pipeline.accept.page_doubt` of every read page with cells of that head.

    Kept in the detail of every comb-box value (the doubt of its own head's cells on its page).
    """
    seen: dict[str, dict[int, float]] = {head: {} for head in HEADS}
    for name, kind in sorted({(f.name, f.kind) for form in forms.load_all() for f in form.fields
                              if f.kind in BOXED_KINDS}):
        for r in store.machine_fields(name, kind):
            doubt = json.loads(r["detail"] or "{}").get("page_doubt")
            if doubt is not None:
                seen[HEAD_OF[kind]][r["page_id"]] = float(doubt)
    return {head: list(pages.values()) for head, pages in seen.items()}


def held_pages(store: Any, policy: Policy) -> dict[str, int]:
    """Per classifier head, the pages whose cells of that head ``policy``'s shift check holds."""
    return {head: sum(policy.unlike_seen(d, head) for d in doubts) for head, doubts in page_doubts(store).items()}


def read_truth(scans: Path) -> list[dict[str, Any]]:
    """The ground truth the sample generator wrote beside the scans."""
    return [json.loads(line) for line in (scans / "truth.jsonl").read_text().splitlines() if line.strip()]


def decided_by_master(store: Any) -> dict[tuple[str, int | None, str], tuple[str, float]]:
    """The values the ERM master decided (kind ``identity``): ``(page key, record, field) -> first reading``.

    The first reading is ``(value, confidence)``: what the cells alone said.
    """
    rows = store.q("SELECT p.page_key, r.record_no, x.name, x.detail FROM fields x JOIN pages p ON p.id = x.page_id "
                   "JOIN records r ON r.page_id = x.page_id AND (r.record_no = x.record_no OR x.record_no IS NULL) "
                   "WHERE x.detail LIKE ?", (f"%{identity.KEY}%",))
    out = {}
    for r in rows:
        detail = json.loads(r["detail"] or "{}")
        if identity.accept_kind(detail, "") == IDENTITY_KIND:
            first = detail[identity.KEY]
            out[(r["page_key"], r["record_no"], r["name"])] = (str(first["read"]), float(first["confidence"]))
    return out
