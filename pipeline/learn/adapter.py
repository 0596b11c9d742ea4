"""A clinic adaptation of the reader: classifier heads refitted on the clinic's reviewed cells.

The shipped network's embedding (:func:`pipeline.recognize.icr.embed`) stays; each
head (digits, letters) is refitted on the embeddings of cells whose label a reviewer
confirmed, pulled towards the shipped head by an L2 penalty (a writer who has never
written a ``Q`` keeps the shipped ``Q``). The penalty and a softmax temperature are
chosen by cross-validation over pages, so the probabilities stay calibrated on cells
the refit did not see. Saved as a complete classifier file (the shipped weights with the
refitted heads), which the reader takes like the shipped one (``icr.read_cells(model=...)``).
It may also carry a letter model that knows the clinic's names (the words people confirmed,
and the ERM's patient master), so names are read with that lexicon.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.recognize import icr

PENALTIES = (1e-3, 1e-2, 0.1)
"""L2 pull towards the shipped head, tried by cross-validation (per sample-mean loss)."""
FOLDS = 3
STEPS = 200
SUBSPACE = 48
"""Embedding directions a refit may change (the clinic's cells' top singular vectors)."""
LEARNING_RATE = 0.05
META = "adaptation"
"""Key of the adaptation's own description (JSON) inside the classifier file."""
MIN_CELLS = 30
"""Fewer labelled cells than this for a head: that head is not refitted."""


@dataclass
class Head:
    """One refitted head: ``softmax((features @ w + b) / temperature)``."""

    w: np.ndarray
    b: np.ndarray
    temperature: float
    penalty: float = 0.0
    cells: int = 0


@dataclass
class Adaptation:
    """Refitted heads for some alphabets, tied to the shipped model they were fitted on."""

    version: str
    base_model: str
    heads: dict[str, Head] = field(default_factory=dict)
    letter_model: np.ndarray | None = None
    """The letter model with the clinic's lexicon (``spelling.with_lexicon``), if any."""
    lexicon_words: int = 0

    def probabilities(self, features: np.ndarray, alphabet: str) -> np.ndarray:
        """Calibrated probabilities for embeddings: the refitted head, or the shipped one if not refitted."""
        head = self.heads.get(alphabet)
        if head is None:
            return icr.head_probabilities(features, alphabet)
        return icr.softmax(features @ head.w + head.b, head.temperature)

    def save(self, path: Path) -> None:
        """Write a complete classifier file to ``path``: the shipped weights, the refitted heads, and a note."""
        weights: dict[str, Any] = dict(icr._model())
        heads: dict[str, dict[str, float]] = {}
        for name, h in self.heads.items():
            weights[f"{name}_w"], weights[f"{name}_b"] = h.w.astype(np.float32), h.b.astype(np.float32)
            weights[f"{name}_temperature"] = np.array(h.temperature, np.float32)
            heads[name] = {"temperature": h.temperature, "penalty": h.penalty, "cells": h.cells}
        if self.letter_model is not None:
            weights[icr.LETTER_MODEL] = self.letter_model.astype(np.float32)
        meta = {"version": self.version, "base_model": self.base_model, "heads": heads,
                "lexicon_words": self.lexicon_words}
        weights[META] = np.array(json.dumps(meta))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as fh:
            np.savez(fh, **weights)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Adaptation:
        """Read an adaptation written by :meth:`save`."""
        with np.load(path) as z:
            meta = json.loads(str(z[META]))
            heads = {name: Head(z[f"{name}_w"], z[f"{name}_b"], float(h["temperature"]), float(h["penalty"]),
                                int(h["cells"])) for name, h in meta["heads"].items()}
            letters = z[icr.LETTER_MODEL] if icr.LETTER_MODEL in z.files else None
        return cls(meta["version"], meta["base_model"], heads, letters, int(meta.get("lexicon_words", 0)))


def _shipped(alphabet: str) -> tuple[np.ndarray, np.ndarray, float]:
    m = icr._model()
    return m[f"{alphabet}_w"].astype(np.float64), m[f"{alphabet}_b"].astype(np.float64), \
        float(m[f"{alphabet}_temperature"])


def subspace(x: np.ndarray, k: int = SUBSPACE) -> np.ndarray:
    """Orthonormal ``(HIDDEN, k)`` basis of the directions the clinic's embeddings span most (top singular vectors)."""
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return vt[:min(k, len(vt))].T


def refit(x: np.ndarray, y: np.ndarray, w0: np.ndarray, b0: np.ndarray, t0: float, penalty: float,
          basis: np.ndarray, steps: int = STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Head ``w0 + basis @ v, b0 + d`` minimising cross-entropy at temperature ``t0`` + ``penalty`` * (|v|² + |d|²).

    Only directions in ``basis`` change (what the clinic's cells can tell), which keeps the
    problem small: full-batch Adam from the shipped head, a convex problem.
    """
    z0 = x @ w0 + b0
    xp = x @ basis
    v = np.zeros((basis.shape[1], w0.shape[1]))
    d = np.zeros(w0.shape[1])
    onehot = np.eye(w0.shape[1])[y]
    moments = [np.zeros_like(v), np.zeros_like(v), np.zeros_like(d), np.zeros_like(d)]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        p = icr.softmax(z0 + xp @ v + d, t0)
        g = (p - onehot) / (t0 * len(x))
        grads = (xp.T @ g + 2 * penalty * v, g.sum(axis=0) + 2 * penalty * d)
        for param, grad, m, s in ((v, grads[0], moments[0], moments[1]), (d, grads[1], moments[2], moments[3])):
            m *= beta1
            m += (1 - beta1) * grad
            s *= beta2
            s += (1 - beta2) * grad * grad
            param -= LEARNING_RATE * (m / (1 - beta1 ** t)) / (np.sqrt(s / (1 - beta2 ** t)) + eps)
    return w0 + basis @ v, b0 + d


def fit_temperature(z: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood of labels ``y`` under ``softmax(z / T)``."""
    grid = np.exp(np.linspace(np.log(0.3), np.log(5.0), 60))
    nll = [-np.log(icr.softmax(z, t)[np.arange(len(y)), y] + 1e-12).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


def folds(groups: np.ndarray, k: int = FOLDS) -> list[np.ndarray]:
    """Boolean test masks of ``k`` folds that keep each group (page) whole."""
    order = np.random.default_rng(7).permutation(np.unique(groups))
    return [np.isin(groups, order[i::k]) for i in range(k)]


def fit_head(x: np.ndarray, y: np.ndarray, groups: np.ndarray, alphabet: str) -> Head | None:
    """Refit one head: penalty by cross-validated log-likelihood over pages, then temperature on out-of-fold logits."""
    if len(x) < MIN_CELLS or len(np.unique(groups)) < FOLDS:
        return None
    w0, b0, t0 = _shipped(alphabet)
    x = x.astype(np.float64)
    best = None
    basis = subspace(x)
    for penalty in PENALTIES:
        z = np.zeros((len(x), w0.shape[1]))
        for test in folds(groups):
            w, b = refit(x[~test], y[~test], w0, b0, t0, penalty, basis)
            z[test] = x[test] @ w + b
        t = fit_temperature(z, y)
        nll = -np.log(icr.softmax(z, t)[np.arange(len(y)), y] + 1e-12).mean()
        if best is None or nll < best[0]:
            best = (nll, penalty, t)
    assert best is not None
    _, penalty, t = best
    w, b = refit(x, y, w0, b0, t0, penalty, basis)
    return Head(w.astype(np.float32), b.astype(np.float32), t, penalty, len(x))
