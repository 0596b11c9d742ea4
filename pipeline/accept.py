"""The acceptance policy: whether a machine value is accepted without a person (``auto``) or reviewed.

One rule for every reader (ticks, comb boxes, free text) and for batch consistency: a
value is ``auto`` when its confidence reaches its kind's threshold, it breaks no
blocking rule, and the reader did not hold it back itself (several ticks, a faint
mark, a village that is likelier no desa at all). Nothing else in the code compares a confidence with a
threshold.

Thresholds are per acceptance kind: the field's kind, except that a letters field read
against a closed list (a village, decided among the official desa names by
:mod:`pipeline.recognize.village`) is ``lexicon``, calibrated apart from open letters such as
names (:attr:`pipeline.models.FieldDef.accept_kind`), and an identity value
decided against one patient of the ERM's master is ``identity`` (:func:`pipeline.learn.identity.accept_kind`).

Thresholds come, in this order (later wins):

1. :data:`DEFAULTS` (conservative; what an uncalibrated installation uses);
2. the calibration shipped with the classifier (``recognize/models/calibration.json``,
   written by ``susulan calibrate --out``), read on first use, never at import;
3. the data dir's own ``acceptance.json`` (same format), e.g. tightened for a kind when
   spot checks show too many wrong auto values, or the calibration of a clinic-adapted
   classifier. It may also hold thresholds per batch (``"batches": {"<id>": {...}}``),
   which only ever tighten.

The file format is the calibration's: ``{"kinds": {"digits": {"threshold": 0.95}, ...},
"batches": {"12": {"digits": {"threshold": 0.99}}}, "page": {"doubt_limits": {"digits": 0.05,
"letters": 0.12}}}``; other keys are ignored. ``page.doubt_limits`` is the shift check, per head of
the comb-box classifier: on a page whose digits (or capitals) the reader is much less sure of than
of nearly any calibration page (:func:`page_doubt`), every value read by that head goes to review.
An older single ``page.doubt_limit`` holds for both heads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.models import HEADS

AUTO = "auto"
REVIEW = "review"
NEVER = 1.1
"""A threshold no confidence reaches."""
DEFAULTS: Mapping[str, float] = {
    "choice": 0.0,  # one clear tick is a decision; unclear ticks are held back by the reader
    "text": 0.9,  # free text is auto only when the line is empty (the reader gives 0.9 to an empty line)
    "digits": 0.99, "date": 0.99, "time": 0.99, "letters": 0.99, "lexicon": 0.99,
    "identity": 0.99,
}
SHIPPED_PATH = Path(__file__).resolve().parent / "recognize" / "models" / "calibration.json"
DATA_DIR_FILE = "acceptance.json"
"""Name of a data dir's own thresholds (see the module docstring)."""


@dataclass(frozen=True)
class Policy:
    """Auto thresholds per acceptance kind (and the places they came from)."""

    thresholds: Mapping[str, float]
    batches: Mapping[int, Mapping[str, float]] = field(default_factory=dict)
    source: tuple[str, ...] = ()
    doubt_limits: Mapping[str, float] = field(default_factory=dict)
    """Per classifier head (:data:`pipeline.models.HEADS`): a page whose written cells of that head are
    less sure than this on average (:func:`page_doubt`) looks unlike the handwriting the reader was
    calibrated on, and none of the values that head read on it is ``auto``. No limit: never held."""

    def unlike_seen(self, doubt: float, head: str) -> bool:
        """Whether the values ``head`` read on a page whose cells of that head have this :func:`page_doubt` are held."""
        return doubt > self.doubt_limits.get(head, NEVER)

    def threshold(self, kind: str, batch: int | None = None) -> float:
        """Confidence from which a value of ``kind`` is ``auto`` (a batch's own threshold only tightens)."""
        base = self.thresholds.get(kind, NEVER)
        return max(base, self.batches.get(batch, {}).get(kind, base)) if batch is not None else base

    def status_for(self, kind: str, confidence: float, *, broken: bool = False, held: bool = False,
                   batch: int | None = None) -> str:
        """``auto`` or ``review`` for a value of ``kind`` read with ``confidence``.

        ``broken``: the value breaks a blocking rule of its record. ``held``: the reader
        itself does not stand behind it (e.g. several ticks, a faint mark).
        """
        if broken or held:
            return REVIEW
        return AUTO if confidence >= self.threshold(kind, batch) else REVIEW

    def for_batch(self, batch: int | None) -> Policy:
        """The policy for one batch: its own thresholds folded in (only ever tighter)."""
        if batch is None or batch not in self.batches:
            return self
        merged = {k: self.threshold(k, batch) for k in {*self.thresholds, *self.batches[batch]}}
        return replace(self, thresholds=merged, batches={})

    def with_overrides(self, data: Mapping[str, Any], source: str) -> Policy:
        """Apply a calibration-format mapping (``kinds`` replace, ``batches`` add)."""
        kinds = {**self.thresholds, **_kinds(data.get("kinds", {}))}
        batches = {**self.batches, **{int(b): _kinds(k) for b, k in data.get("batches", {}).items()}}
        page = data.get("page", {})
        limits = dict(self.doubt_limits)
        if isinstance(page, Mapping):
            if "doubt_limit" in page:  # one limit for both heads (calibrations before 2026-12)
                limits = {head: float(page["doubt_limit"]) for head in HEADS}
            limits.update({head: float(v) for head, v in page.get("doubt_limits", {}).items()})
        return Policy(kinds, batches, (*self.source, source), limits)


def _kinds(data: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v["threshold"]) for k, v in data.items() if isinstance(v, Mapping) and "threshold" in v}


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read the acceptance thresholds in {path}: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object with 'kinds' (and optionally 'batches')")
    return data


@lru_cache(maxsize=1)
def shipped() -> Policy:
    """:data:`DEFAULTS` with the calibration shipped beside the classifier (read once per process)."""
    base = Policy(dict(DEFAULTS), {}, ("defaults",))
    if not SHIPPED_PATH.exists():
        return base
    return base.with_overrides(_read(SHIPPED_PATH), str(SHIPPED_PATH.name))


def for_data_dir(data_dir: Path | str | None) -> Policy:
    """The shipped policy with the data dir's own ``acceptance.json`` applied (if it has one)."""
    policy = shipped()
    path = Path(data_dir) / DATA_DIR_FILE if data_dir is not None else None
    if path is None or not path.exists():
        return policy
    return policy.with_overrides(_read(path), str(path))


def tighten(data_dir: Path | str, kind: str, threshold: float, batch: int | None = None) -> Policy:
    """Raise ``kind``'s threshold in the data dir (for one batch when given); never lowers it.

    Written atomically to ``<data_dir>/acceptance.json``; returns the new policy. Values
    already stored keep their status until they are decided again.
    """
    path = Path(data_dir) / DATA_DIR_FILE
    data = _read(path) if path.exists() else {}
    current = for_data_dir(data_dir).threshold(kind, batch)
    entry = {"threshold": max(current, float(threshold))}
    if batch is None:
        data.setdefault("kinds", {})[kind] = entry
    else:
        data.setdefault("batches", {}).setdefault(str(batch), {})[kind] = entry
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return for_data_dir(data_dir)


def page_doubt(top: list[float]) -> float:
    """How unsure the reader is of a page's handwriting: mean of ``1 - p`` over its written cells' best candidates.

    ``top`` holds the best candidate's probability of every comb cell read as written (not
    empty). A page with nothing written has doubt 0.
    """
    return float(sum(1 - p for p in top) / len(top)) if top else 0.0


def status_for(kind: str, confidence: float, *, broken: bool = False, held: bool = False,
               policy: Policy | None = None) -> str:
    """``auto`` or ``review`` under ``policy`` (default: the shipped one); see :meth:`Policy.status_for`."""
    return (policy or shipped()).status_for(kind, confidence, broken=broken, held=held)
