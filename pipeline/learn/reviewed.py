"""Reviewed values as labelled cells: gathered from the store, split into training and held-back pages, re-read.

Every value a person confirmed or corrected is a labelled sample of the hand that wrote
it: its snippet and cell boxes are stored, its cells get labels from
:func:`pipeline.learn.labels.cell_labels`. One page in :data:`HOLD_BACK` (chosen by a
hash of the page id, so the choice never changes) is never trained on: a new
adaptation is judged on those pages only.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from pipeline import forms
from pipeline.accept import Policy
from pipeline.learn.adapter import Adaptation
from pipeline.learn.labels import ALPHABET_OF, cell_labels, cut_cells
from pipeline.models import FieldDef
from pipeline.recognize import boxed, icr
from pipeline.store import Store
from pipeline.store import learning as repo

HOLD_BACK = 4
"""One page in this many is held back from training to judge adaptations."""


@dataclass
class Value:
    """One reviewed comb-box value: its cells (preprocessed images, embeddings) and final value."""

    field_id: int
    page_id: int
    form_id: str
    form_version: int
    name: str
    kind: str
    value: str
    labels: list[str] | None
    images: np.ndarray
    features: np.ndarray
    held_back: bool


@dataclass
class Reviewed:
    """The reviewed values of a data dir, ready to train on and to judge with."""

    values: list[Value] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)

    @property
    def training(self) -> list[Value]:
        """Values on pages not held back whose cells have clear labels."""
        return [v for v in self.values if not v.held_back and v.labels is not None]

    @property
    def words(self) -> list[str]:
        """Confirmed letters values of the training pages (names, addresses, villages): the clinic's lexicon."""
        return [v.value for v in self.values if not v.held_back and v.kind == "letters" and v.value]

    @property
    def held_back(self) -> list[Value]:
        """Values on held-back pages (judged as whole values, labels not needed)."""
        return [v for v in self.values if v.held_back]

    def cells(self, alphabet: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Training cells of one head: ``(features, class indices, page ids)``; cells without any ink left out."""
        chars = icr.classes(alphabet)
        xs, ys, gs = [], [], []
        for v in self.training:
            if ALPHABET_OF[v.kind] != alphabet:
                continue
            inked = np.asarray((v.images > icr.EMPTY_INK).any(axis=(1, 2)))
            for i, ch in enumerate(v.labels or []):
                if inked[i] and ch in chars:
                    xs.append(v.features[i])
                    ys.append(chars.index(ch))
                    gs.append(v.page_id)
        if not xs:
            return np.zeros((0, icr.HIDDEN), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.stack(xs), np.array(ys, np.int64), np.array(gs, np.int64)


def held_back(page_id: int) -> bool:
    """Whether a page is held back from training (a fixed hash of its id)."""
    return hashlib.sha256(f"page-{page_id}".encode()).digest()[0] % HOLD_BACK == 0


def gather(store: Store) -> Reviewed:
    """Every reviewed comb-box value of the store, cut, labelled and embedded by the shipped network."""
    out = Reviewed()
    pending: list[tuple[dict, list[str] | None, list[np.ndarray]]] = []
    for row in repo.reviewed_fields(store):
        machine = json.loads(row["detail"] or "{}").get("cells", [])
        crops = cut_cells(row["crop"], row["cells"])
        if not crops or len(crops) != len(machine):
            out.skipped["no cells stored"] += 1
            continue
        labels = cell_labels(row["kind"], row["final_value"], machine)
        if labels is None:
            out.skipped["value does not fit the cells as read"] += 1
        pending.append((dict(row), labels, crops))
    crops_all = [c for _, _, crops in pending for c in crops]
    images = icr.preprocess_batch(crops_all) if crops_all else np.zeros((0, icr.SIZE, icr.SIZE), np.float32)
    features = icr.embed(images)
    i = 0
    for row, labels, crops in pending:
        n = len(crops)
        out.values.append(Value(row["id"], row["page_id"], row["form_id"], row["form_version"], row["name"],
                                row["kind"], row["final_value"], labels, images[i:i + n], features[i:i + n],
                                held_back(row["page_id"])))
        i += n
    return out


@dataclass(frozen=True)
class Score:
    """How a reader does on held-back reviewed values."""

    values: int = 0
    wrong: int = 0
    auto: int = 0
    auto_wrong: int = 0

    @property
    def error(self) -> float:
        """Share of values read wrong."""
        return self.wrong / self.values if self.values else 0.0

    @property
    def auto_error(self) -> float:
        """Share of auto values that are wrong."""
        return self.auto_wrong / self.auto if self.auto else 0.0

    def beaten_by(self, other: Score) -> bool:
        """Whether ``other`` reads fewer held-back values wrong without more wrong auto values."""
        return other.values == self.values and other.wrong < self.wrong and other.auto_wrong <= self.auto_wrong

    def text(self) -> str:
        """E.g. ``12 of 240 wrong (5.0 %); auto 180, wrong among auto 1 (0.56 %)``."""
        return (f"{self.wrong} of {self.values} wrong ({self.error:.1%}); auto {self.auto}, "
                f"wrong among auto {self.auto_wrong} ({self.auto_error:.2%})")


@lru_cache(maxsize=32)
def _field_def(form_id: str, version: int, name: str) -> FieldDef:
    form = forms.load(form_id, version)
    return next(f for f in form.fields if f.name == name)


def score(values: list[Value], adaptation: Adaptation | None, policy: Policy | None = None) -> Score:
    """Re-read ``values`` from their cells with ``adaptation`` (None: the shipped model) and count what is wrong.

    ``policy`` decides which readings are ``auto`` (default: the shipped acceptance policy).
    """
    readings: dict[int, list[icr.CellReading]] = {}
    for alphabet in ("digits", "letters"):
        mine = [v for v in values if ALPHABET_OF[v.kind] == alphabet]
        if not mine:
            continue
        feats = np.concatenate([v.features for v in mine])
        images = np.concatenate([v.images for v in mine])
        p = adaptation.probabilities(feats, alphabet) if adaptation else icr.head_probabilities(feats, alphabet)
        cells = icr.cell_readings(p, icr.classes(alphabet), images)
        i = 0
        for v in mine:
            readings[v.field_id] = cells[i:i + len(v.images)]
            i += len(v.images)
    n = wrong = auto = auto_wrong = 0
    for v in values:
        r = boxed.reading(_field_def(v.form_id, v.form_version, v.name), readings[v.field_id], policy=policy,
                          letters=adaptation.letter_model if adaptation else None)
        bad = r.value != v.value
        n += 1
        wrong += bad
        auto += r.status == "auto"
        auto_wrong += bad and r.status == "auto"
    return Score(n, wrong, auto, auto_wrong)
