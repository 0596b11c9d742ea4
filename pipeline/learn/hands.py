"""``susulan learn``: adapt the reader to a clinic's hands from what reviewers confirmed, behind a guard.

1. Gather every reviewed comb-box value (:mod:`pipeline.learn.reviewed`); pages held back
   by a fixed hash are never trained on.
2. Refit the digit and letter heads on the training cells (:mod:`pipeline.learn.adapter`).
3. Re-read the held-back values with the adaptation in use now (or the shipped model)
   and with the new one. The new one is used only if it reads fewer of them wrong and
   no more of its auto values wrong; otherwise it is recorded as rejected.

The letter model of every adaptation knows the clinic's lexicon: the words people confirmed
and the names, addresses and villages of the ERM's patient master. A newly loaded master
makes learning due at once; while too few values are reviewed to judge a refit, the new
adaptation is the one in use (or the shipped model) with only its letter model changed
(:func:`learn`). It reads no digit differently; names and addresses the master does not
decide are never ``auto`` (their calibrated threshold is above 1); villages and the values
the master decides keep their own calibrated thresholds, fitted on calib pages read this way.

Adaptations are files ``<data dir>/models/adapt-NNNN.npz``, versioned in the store
(``adaptations``); ingest reads with the active one (:func:`reading_model`), and each
value records which model read it (``fields.model``). :func:`rollback` goes back to the one used
before (or to the shipped model).
"""

from __future__ import annotations

import fcntl
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import accept
from pipeline.erm import master as erm_master
from pipeline.errors import BadInput
from pipeline.learn import reviewed as rv
from pipeline.learn.adapter import Adaptation, Head, fit_head
from pipeline.recognize import icr, spelling
from pipeline.store import Store
from pipeline.store import learning as repo

MACHINE_USER = "susulan"
LEARN_EVERY = 200
"""New reviewed values (confirmed or corrected) after which ingest learns again by itself."""
MIN_HELD_BACK = 20
"""Fewer held-back reviewed values than this: nothing can be judged, nothing changes."""
MODELS_DIR = "models"
LOCK_FILE = "learn.lock"
"""In the data dir: held by the one learning run at a time (CLI, ingest, the review app's trigger)."""
REFIT = ("digits", "letters")
"""Heads refitted on reviewed cells. On 3 fixed writers of the TEST sites (``susulan bench --learning``,
100 reviewed records) the letter head refit read their next pages' written letter cells right 90.8 % of
the time against 82.2 % shipped; whether its names may be auto is decided like any reading, by the
calibrated threshold, and the refit is used only if it reads no more held-back values wrong and no more
of them wrong while auto."""


@dataclass
class LearnReport:
    """What one learning run saw and decided."""

    values: int = 0
    training_values: int = 0
    cells: dict[str, int] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)
    held_back: int = 0
    lexicon: int = 0
    master: str = ""
    """The patient master the lexicon was built with (:func:`master_mark`; "" if none was loaded)."""
    lexicon_only: bool = False
    """Too few reviewed values to judge a refit: the heads in use were kept, only the letter model is new."""
    shipped: rv.Score | None = None
    current: rv.Score | None = None
    candidate: rv.Score | None = None
    current_version: str = ""
    version: str = ""
    adopted: bool = False
    reason: str = ""

    def as_dict(self) -> dict:
        """For the store (``adaptations.report``)."""
        def s(x: rv.Score | None) -> dict | None:
            return None if x is None else {"values": x.values, "wrong": x.wrong, "auto": x.auto,
                                           "auto_wrong": x.auto_wrong}
        return {"values": self.values, "training_values": self.training_values, "cells": self.cells,
                "skipped": dict(self.skipped), "held_back": self.held_back, "lexicon": self.lexicon,
                "master": self.master, "lexicon_only": self.lexicon_only, "shipped": s(self.shipped),
                "current": s(self.current), "candidate": s(self.candidate), "current_version": self.current_version,
                "adopted": self.adopted, "reason": self.reason}

    def text(self) -> str:
        """Plain lines for the terminal."""
        cells = ", ".join(f"{n} {a} cells" for a, n in self.cells.items()) or "no cells"
        lines = [f"Learned from {self.training_values} reviewed value(s) ({cells}; a lexicon of {self.lexicon} "
                 f"names, addresses and villages); {self.held_back} value(s) on held-back pages kept to judge; "
                 f"{self.values} reviewed in all."]
        if self.skipped:
            lines.append("Skipped: " + ", ".join(f"{n} {why}" for why, n in self.skipped.most_common()) + ".")
        if self.candidate is not None and self.current is not None:
            lines.append(f"Held-back values, {self.current_version or 'shipped model'} (in use): "
                         f"{self.current.text()}")
            lines.append(f"Held-back values, {self.version} (new): {self.candidate.text()}")
            if self.shipped is not None and self.current_version:
                lines.append(f"Held-back values, shipped model: {self.shipped.text()}")
        if self.lexicon_only and self.adopted:
            lines.append(f"Names are now read with the lexicon of the ERM's patient master and the confirmed words; "
                         f"the classifier is {self.current_version or 'the shipped model'} as before ({self.reason}).")
        verdict = f"{self.version} is now used for reading." if self.adopted else \
            f"Nothing changed: {self.reason}."
        lines.append(verdict)
        return "\n".join(lines)


def _usable(row: dict | None) -> dict | None:
    """The active adaptation row if it was fitted on the shipped model now installed."""
    if row is None or row["base_model"] != icr.model_version() or not row["path"]:
        return None
    return row


def master_mark(store: Store) -> str:
    """Which patient master is loaded ("" if none): its file's hash and load time."""
    row = next((r for r in store.erm_loads() if r["kind"] == "patients"), None)
    return f"{row['sha256']}@{row['loaded_at']}" if row else ""


def master_words(store: Store) -> list[str]:
    """Names, addresses and villages of the ERM's patient master (empty when none is loaded)."""
    return [p[k] for p in erm_master.patients(store) for k in ("name", "address", "village") if p.get(k)]


def active_adapter_path(store: Store) -> Path | None:
    """File of the active adaptation, if one is usable with the installed shipped model."""
    row = _usable(repo.active_adaptation(store))
    if row is None:
        return None
    path = store.data_dir / row["path"]
    return path if path.exists() else None


def reading_model(store: Store) -> Path:
    """The classifier file ingest reads comb cells with: the active adaptation, else the shipped model."""
    return active_adapter_path(store) or icr.MODEL_PATH


def load_active(store: Store) -> Adaptation | None:
    """The adaptation in use, loaded (None: the shipped model)."""
    path = active_adapter_path(store)
    return Adaptation.load(path) if path is not None else None


def learn(store: Store, user: str = MACHINE_USER, min_held_back: int = MIN_HELD_BACK,
          every: int = LEARN_EVERY) -> LearnReport:
    """Fit a new adaptation on the reviewed values and use it only if it beats the one in use.

    An attempt that only takes a new patient master's names as lexicon (too few held-back values
    to judge a refit) while fewer than ``every`` values were reviewed since the last attempt does
    not count those reviews as seen: the refit they are waiting for comes as soon as it would have.
    """
    data = rv.gather(store)
    report = LearnReport(values=len(data.values), training_values=len(data.training), skipped=data.skipped,
                         held_back=len(data.held_back))
    words = master_words(store)
    report.lexicon_only = report.held_back < min_held_back and bool(words)
    mark, last = repo.review_mark(store), repo.last_attempt(store)
    seen = last["audit_upto"] if last else 0
    if report.lexicon_only and repo.reviews_since(store, seen) < every:
        mark = seen
    base = icr.model_version()
    attempt = repo.add_adaptation(store, base, mark, user)
    version = f"adapt-{attempt:04d}"
    report.version = version
    heads: dict[str, Head] = {}
    for alphabet in ("digits", "letters"):
        x, y, groups = data.cells(alphabet)
        report.cells[alphabet] = len(x)
        if alphabet not in REFIT:
            continue
        head = fit_head(x, y, groups, alphabet) if report.held_back >= min_held_back else None
        if head is not None:
            heads[alphabet] = head
    report.master = master_mark(store)
    lexicon = data.words + words
    current = load_active(store)
    active = _usable(repo.active_adaptation(store))
    report.current_version = active["version"] if active else ""
    if report.lexicon_only:  # the master's names need no judging to be read with; the heads in use stay
        heads = dict(current.heads) if current is not None else {}
    wanted = report.held_back >= min_held_back or report.lexicon_only
    letters = spelling.with_lexicon(lexicon) if lexicon and wanted else None
    candidate = Adaptation(version, base, heads, letters, len(lexicon))
    report.lexicon = len(lexicon)
    if report.lexicon_only:
        report.reason = (f"only {report.held_back} reviewed value(s) on held-back pages; {min_held_back} needed to "
                         "judge a refit")
        report.adopted = True
    elif report.held_back < min_held_back:
        report.reason = f"only {report.held_back} reviewed value(s) on held-back pages; {min_held_back} needed to judge"
    elif not heads and letters is None:
        report.reason = "too few reviewed cells to learn from (each head needs cells on several pages)"
    else:
        held, policy = data.held_back, accept.for_data_dir(store.data_dir)
        report.current, report.candidate = rv.score(held, current, policy), rv.score(held, candidate, policy)
        report.shipped = rv.score(held, None, policy) if current is not None else report.current
        report.adopted = report.current.beaten_by(report.candidate)
        if not report.adopted:
            report.reason = (f"{version} does not beat {report.current_version or 'the shipped model'} on the "
                             "held-back values (it must read fewer wrong and no more wrong auto values)")
    path = model = ""
    if report.adopted:
        rel = Path(MODELS_DIR) / f"{version}.npz"
        candidate.save(store.data_dir / rel)
        path, model = str(rel), icr.model_version(store.data_dir / rel)
    repo.settle_adaptation(store, attempt, version, path, model, report.as_dict(), report.adopted, user)
    return report


def due(store: Store, every: int = LEARN_EVERY) -> bool:
    """Whether to learn again: enough values reviewed since the last run, or a master the last run did not see.

    "Did not see": a patient master loaded since, or a new shipped model installed since (its
    adaptation needs the master's lexicon again).
    """
    last = repo.last_attempt(store)
    if repo.reviews_since(store, last["audit_upto"] if last else 0) >= every:
        return True
    mark = master_mark(store)
    if not mark:
        return False
    return last is None or last["report"].get("master", "") != mark or last["base_model"] != icr.model_version()


@contextmanager
def one_at_a_time(store: Store) -> Iterator[bool]:
    """Hold the data dir's learning lock while the block runs: True, or False when another run holds it."""
    with (store.data_dir / LOCK_FILE).open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def maybe_learn(store: Store, every: int = LEARN_EVERY) -> LearnReport | None:
    """Learn if :func:`due` and no other run is learning (the automatic trigger); returns the report or None."""
    if not due(store, every):
        return None
    with one_at_a_time(store) as mine:
        return learn(store, every=every) if mine and due(store, every) else None


def rollback(store: Store, user: str, to: int | None = None) -> str:
    """Stop using the active adaptation: go back to ``to``, else to the one used before it, else the shipped model.

    Returns the version now in use ("" for the shipped model).
    """
    rows = repo.adaptations(store)
    active = next((r for r in rows if r["state"] == "active"), None)
    if to is None and active is None:
        raise BadInput("no adaptation is in use: reading already uses the shipped model")
    if to is None:
        earlier = [r for r in rows if r["state"] == "retired" and r["path"] and r["base_model"] == icr.model_version()
                   and (active is None or r["id"] < active["id"])]
        target = earlier[0]["id"] if earlier else None
    else:
        target = to
    repo.activate(store, target, user, "rollback")
    now = repo.active_adaptation(store)
    return now["version"] if now else ""
