"""Spot checks: a random sample of auto values goes to a person, unmarked; their answers measure the truth.

After each ingest, :data:`RATE` of the batch's auto values (at least :data:`MIN_PER_BATCH`)
become ordinary values to review. A person confirms or corrects them like any other;
a corrected one was a wrong auto value. Per acceptance kind (the kind whose threshold
decided ``auto``: :func:`value_kind`) the share of wrong auto values
is estimated with a one-sided 95 % upper bound (Clopper-Pearson), shown on the overview.

When a kind's upper bound passes :data:`TARGET` and at least one wrong auto value of that
kind was found, its threshold is tightened for every batch still under review: the
machine's confidences are taken to be too high by the factor ``upper bound / error they
predict``, and the threshold rises until the batch's auto values of that kind would be
wrong at most :data:`TARGET` of the time at that pessimism. Values below it go to review.
Without any wrong answer the samples carry no evidence against the calibration (0 of
20 still bounds the error only below 14 %), so nothing is tightened on their say-so.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from pipeline import accept, forms
from pipeline.learn import identity
from pipeline.store import Store
from pipeline.store import spotchecks as repo
from pipeline.store.db import Row

RATE = 0.02
MIN_PER_BATCH = 20
TARGET = 0.005
"""Highest acceptable share of wrong auto values per kind."""
LEVEL = 0.95
SURE_AS_STORED = 0.99995
"""The least confidence stored as 1.0 (4 decimals): a value at 1.0 may still be wrong that often."""


def upper_bound(wrong: int, n: int, level: float = LEVEL) -> float:
    """One-sided Clopper-Pearson upper bound on a proportion after ``wrong`` of ``n`` (1.0 when ``n`` is 0)."""
    if n == 0 or wrong >= n:
        return 1.0
    alpha = 1 - level

    def cdf(p: float) -> float:  # P(X <= wrong) for X ~ Binomial(n, p)
        logs = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                + (k * math.log(p) if k else 0.0) + (n - k) * math.log1p(-p) for k in range(wrong + 1)]
        top = max(logs)
        return math.exp(top) * sum(math.exp(v - top) for v in logs)

    lo, hi = wrong / n, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if cdf(mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


def allocate(counts: dict[str, int], rate: float = RATE, least: int = MIN_PER_BATCH) -> dict[str, int]:
    """How many auto values of each kind a batch sends to a person: ``rate`` of them, at least ``least`` in all.

    Shared out in proportion to the kinds' counts (largest remainders), each kind with
    values getting at least one while the total allows.
    """
    total_auto = sum(counts.values())
    total = min(total_auto, max(least, math.ceil(rate * total_auto)))
    if total == 0:
        return dict.fromkeys(counts, 0)
    exact = {k: total * n / total_auto for k, n in counts.items()}
    out = {k: int(v) for k, v in exact.items()}
    for k in sorted(counts, key=lambda k: (out[k] > 0, -counts[k])):
        if sum(out.values()) >= total:
            break
        if out[k] == 0 and counts[k]:
            out[k] = 1
    for k in sorted(counts, key=lambda k: -(exact[k] - int(exact[k]))):
        if sum(out.values()) >= total:
            break
        if out[k] < counts[k]:
            out[k] += 1
    return out


def value_kind(kinds: dict[tuple[str, str], str], row: Row) -> str:
    """The acceptance kind that decided a stored value: ``identity`` when the ERM master did, else its field's.

    ``kinds``: :func:`pipeline.forms.accept_kinds`; ``row`` needs ``form_id``, ``name``, ``kind`` and ``detail``.
    """
    return identity.accept_kind(row["detail"], kinds.get((row["form_id"], row["name"]), row["kind"]))


def sample(store: Store, pages: set[int] | None = None, seed: int | None = None, only: set[int] | None = None
           ) -> int:
    """Send a random sample of each batch's auto values (on ``pages``) to a person; returns how many.

    ``only``: sample among these value ids alone (e.g. the values a re-read made ``auto``).
    """
    kinds = forms.accept_kinds()
    by_batch: dict[int, list] = defaultdict(list)
    for r in repo.auto_values(store, pages):
        if only is None or r["id"] in only:
            by_batch[r["batch_id"] or 0].append(r)
    chosen = []
    for batch, rows in sorted(by_batch.items()):
        rng = np.random.default_rng([batch, 0 if seed is None else seed])
        by_kind: dict[str, list] = defaultdict(list)
        for r in rows:
            kind = value_kind(kinds, r)
            by_kind[kind].append({**dict(r), "kind": kind})
        for kind, n in allocate({k: len(v) for k, v in by_kind.items()}).items():
            picks = rng.choice(len(by_kind[kind]), size=n, replace=False).tolist() if n else []
            chosen += [by_kind[kind][i] for i in picks]
    return repo.put_before_a_person(store, chosen)


@dataclass(frozen=True)
class Estimate:
    """Spot-check answers of one kind (or all kinds: ``kind`` = ``"all"``) and what they say."""

    kind: str
    checked: int
    wrong: int
    pending: int
    predicted: float
    """Share of wrong values the machine's own confidences predict for the values checked."""

    @property
    def rate(self) -> float:
        """Share of the checked auto values that were wrong."""
        return self.wrong / self.checked if self.checked else 0.0

    @property
    def upper(self) -> float:
        """One-sided 95 % upper bound of that share."""
        return upper_bound(self.wrong, self.checked)


def estimates(store: Store) -> dict[str, Estimate]:
    """Per kind, and ``"all"``, from every spot check answered so far."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for c in repo.checks(store):
        groups[c["kind"]].append(c)
        groups["all"].append(c)
    out = {}
    for kind, items in sorted(groups.items()):
        answered = [c for c in items if c["answered"]]
        predicted = float(np.mean([1 - c["confidence"] for c in answered])) if answered else 0.0
        out[kind] = Estimate(kind, len(answered), sum(c["wrong"] for c in answered), len(items) - len(answered),
                             predicted)
    return out


def tighter_threshold(confidences: list[float], factor: float, target: float = TARGET) -> float:
    """Lowest threshold keeping the values at or above it under ``target`` wrong on average.

    Each value is taken to be wrong with probability ``factor * (1 - confidence)``, a confidence
    stored as 1.0 as if it were :data:`SURE_AS_STORED` (confidences are kept to 4 decimals). When
    no threshold keeps the error under ``target``, none of the values stays auto (:data:`accept.NEVER`).
    """
    ranked = sorted(confidences, reverse=True)
    best = accept.NEVER
    errors = 0.0
    for n, c in enumerate(ranked, 1):
        errors += factor * (1 - min(c, SURE_AS_STORED))
        last_of_tie = n == len(ranked) or ranked[n] < c
        if last_of_tie and errors / n <= target:
            best = c
    return best


@dataclass(frozen=True)
class Tightening:
    """One kind's threshold raised for one batch."""

    batch: int
    kind: str
    old: float
    new: float
    held_back: int


def tighten(store: Store, target: float = TARGET) -> list[Tightening]:
    """Raise each kind's threshold for every open batch where its upper bound passes ``target`` (an error seen)."""
    out = []
    kinds = forms.accept_kinds()
    for kind, est in estimates(store).items():
        if kind == "all" or est.wrong == 0 or est.upper <= target:
            continue
        factor = est.upper / max(est.predicted, 1e-6)
        for batch in repo.open_batches(store):
            policy = accept.for_data_dir(store.data_dir)
            old = policy.threshold(kind, batch)
            rows = [r for r in repo.batch_autos(store, batch) if value_kind(kinds, r) == kind]
            if not rows:
                continue
            new = tighter_threshold([float(r["confidence"]) for r in rows], factor, target)
            if new <= old:
                continue
            accept.tighten(store.data_dir, kind, new, batch)
            note = (f"cek acak: {est.wrong} dari {est.checked} nilai otomatis salah (batas atas {est.upper:.2%} "
                    f"> {target:.1%})")
            out.append(Tightening(batch, kind, old, new, repo.hold_back(store, batch, kind, rows, new, old, note)))
    return out


def percent(x: float) -> str:
    """A share in Indonesian notation: ``0,3 %``, ``12 %``."""
    text = f"{100 * x:.1f}" if x < 0.1 else f"{100 * x:.0f}"
    return text.replace(".", ",") + " %"


def headline(est: Estimate) -> str:
    """E.g. ``perkiraan salah di nilai otomatis: 0,3 % (≤ 0,8 %)``."""
    return f"perkiraan salah di nilai otomatis: {percent(est.rate)} (≤ {percent(est.upper)})"
