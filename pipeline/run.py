"""The ingest orchestrator: files -> pages -> worker pool -> store. Only this parent process writes.

Rerunning is always safe: a file already stored (same SHA-256) is not added again,
finished pages are never redone, and pages left by an interrupted run are picked up
by the next one. Runs at the same time never read a page twice (pages are claimed).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import accept, consensus, extract, ingest, reread, workers
from pipeline.accept import Policy
from pipeline.errors import PageProblem
from pipeline.learn import hands, identity, spotcheck
from pipeline.models import Issue, PageResult
from pipeline.process import process_file_page
from pipeline.store import Row, Store
from pipeline.store.files import PageKeyTaken

Progress = Callable[[int, int], None]


HEARTBEAT_S = 10.0
"""How often a run says it is alive while it reads (see :data:`pipeline.store.db.STALE_RUN_S`)."""


@dataclass
class Summary:
    """What one ingest run did."""

    files_new: int = 0
    files_known: int = 0
    pages_done: int = 0
    records: int = 0
    problems: Counter = field(default_factory=Counter)
    duplicates: int = 0
    settled: int = 0
    resumed: int = 0
    file_problems: list[tuple[str, str]] = field(default_factory=list)
    learned: hands.LearnReport | None = None
    reread: reread.RereadReport | None = None
    left_out: list[tuple[str, str]] = field(default_factory=list)
    taken_over: int = 0
    spot_checked: int = 0
    identity: identity.Report = field(default_factory=identity.Report)
    tightened: list[spotcheck.Tightening] = field(default_factory=list)

    @property
    def needs_attention(self) -> bool:
        """True if any page or file could not be read."""
        return bool(self.problems or self.file_problems)

    def counts(self) -> dict:
        """The summary as plain data (``susulan ingest --report``)."""
        return {"files_new": self.files_new, "files_known": self.files_known, "pages_done": self.pages_done,
                "records": self.records, "duplicates": self.duplicates, "settled": self.settled,
                "problems": dict(self.problems), "file_problems": self.file_problems, "left_out": self.left_out,
                "learned": self.learned.version if self.learned and self.learned.adopted else None,
                "reread_pages": self.reread.pages if self.reread else 0,
                "reread_changed": self.reread.changed if self.reread else 0,
                "erm_corrected": self.identity.corrected, "erm_confirmed": self.identity.confirmed,
                "spot_checked": self.spot_checked,
                "tightened": [{"batch": t.batch, "kind": t.kind, "threshold": t.new, "held_back": t.held_back}
                              for t in self.tightened],
                "needs_attention": self.needs_attention}

    def text(self) -> str:
        """One plain paragraph for the terminal."""
        parts = [f"Read {self.pages_done} page(s) into {self.records} record(s) from {self.files_new} new file(s)"]
        if self.learned is not None:
            parts.insert(0, f"Learned from {self.learned.training_values} reviewed value(s) first: "
                         + (f"now reading with {self.learned.version}" if self.learned.adopted
                            else "the reader in use was kept"))
        if self.reread is not None and self.reread.pages:
            parts.insert(1, self.reread.text().rstrip("."))
        if self.files_known:
            parts.append(f"{self.files_known} file(s) were already ingested before and were skipped")
        if self.resumed:
            parts.append(f"{self.resumed} interrupted run(s) were closed and their unread pages read now")
        if self.taken_over:
            parts.append(f"{self.taken_over} page(s) were taken over by another run and are read there")
        if self.duplicates:
            parts.append(f"{self.duplicates} page(s) were rescans of sheets already read and were not counted again")
        if self.settled:
            parts.append(f"{self.settled} visit date(s), queue number(s) or arrival time(s) were corrected "
                         "to agree with the other sheets (see each record's history)")
        if self.identity.corrected or self.identity.confirmed:
            parts.append(f"{self.identity.corrected} NIK, No. RM, BPJS number(s) or name(s) were corrected and "
                         f"{self.identity.confirmed} confirmed against the ERM's patient master")
        if self.spot_checked:
            parts.append(f"{self.spot_checked} value(s) read surely were picked at random for a person to check "
                         "(they measure how often sure values are wrong)")
        for t in self.tightened:
            parts.append(f"spot checks found wrong sure {t.kind} values: {t.held_back} more {t.kind} value(s) of "
                         f"batch {t.batch} go to review (threshold {t.old:.3f} -> {t.new:.3f})")
        if self.problems:
            reasons = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in self.problems.most_common())
            parts.append(f"{sum(self.problems.values())} page(s) need attention ({reasons})")
        for name, msg in self.file_problems:
            parts.append(f"{name}: {msg}")
        for name, why in self.left_out:
            parts.append(f"not read: {name} ({why})")
        if self.needs_attention:
            parts.append("see 'susulan status' or the review app for the list")
        return ". ".join(parts) + "."


def keep_original(data_dir: Path, src: Path, sha: str) -> Path:
    """Copy the source file into ``<data_dir>/originals`` (named by hash); returns the stored path."""
    dest = data_dir / "originals" / sha[:2] / f"{sha}{src.suffix.lower()[:12]}"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f"{dest.name}.{os.getpid()}.part")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    return dest


def unreadable_key(path: Path) -> str:
    """The store key of a file that could not even be read (no content hash): ``unreadable:`` + hash of its path."""
    return "unreadable:" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()


def register_files(store: Store, paths: Iterable[Path], batch_id: int, summary: Summary) -> None:
    """Hash, keep and count the pages of every file; each file is stored with its pages in one transaction.

    A file that cannot be opened is stored as a ``problem`` with its reason; a file that
    cannot even be read (permissions) is stored under :func:`unreadable_key` with its
    reason, and stored properly once it can be read. Nothing raised here stops the batch.
    """
    for path in paths:
        try:
            sha = ingest.sha256_of(path)
            size = path.stat().st_size
        except OSError as e:
            _register_unreadable(store, path, batch_id, summary, e)
            continue
        if store.file_by_sha(sha) is not None:
            summary.files_known += 1
            store.set_file_status_by_sha(unreadable_key(path), "discarded", "unreadable", "read later under its hash")
            continue
        stored = keep_original(store.data_dir, path, sha)
        try:
            count, reason, message = ingest.page_count(stored), "", ""
        except PageProblem as e:
            count, reason, message = 0, e.reason, e.message
        file_id = store.register_file(sha, path.name, str(stored.relative_to(store.data_dir)), size, batch_id,
                                      count, reason, message)
        store.set_file_status_by_sha(unreadable_key(path), "discarded", "unreadable", "read later under its hash")
        store.heartbeat(batch_id)
        if file_id is None:  # another run registered the same content a moment ago
            summary.files_known += 1
            continue
        summary.files_new += 1
        if reason:
            summary.file_problems.append((path.name, message))
    for row in store.unfinished_files():  # registered by an older version that was killed before its pages
        try:
            count = ingest.page_count(store.data_dir / row["stored_path"])
        except PageProblem as e:
            store.set_file(row["id"], status="problem", reason=e.reason, message=e.message)
            summary.file_problems.append((row["name"], e.message))
            continue
        store.ensure_pages(row["id"], count)


def _register_unreadable(store: Store, path: Path, batch_id: int, summary: Summary, e: OSError) -> None:
    why = "permission denied" if isinstance(e, PermissionError) else (e.strerror or str(e))
    message = f"the file could not be read ({why}); nothing of it is stored: fix it and ingest it again"
    store.register_file(unreadable_key(path), path.name, str(path.resolve()), 0, batch_id, 0, "file_unreadable",
                        message)
    summary.file_problems.append((path.name, message))


def save_result(store: Store, page_row_id: int, result: PageResult, summary: Summary, claim: int | None = None,
                tries: int = 3) -> None:
    """Write one page's result, resolving rescans and photocopied serials; only while ``claim`` holds the page."""
    if result.status != "done" or result.ident is None:
        if store.mark_page(page_row_id, "problem", result.reason, result.message, claim=claim,
                           seconds=result.seconds):
            summary.problems[result.reason] += 1
        else:
            summary.taken_over += 1
        return
    ident = result.ident
    sig = np.frombuffer(result.signature, np.float32)
    issues = list(result.issues)
    key = ident.page_id if ident.serial else f"{ident.form_id}-noserial-p{page_row_id}"
    twins = [p for p in store.pages_with_serial(ident.form_id, ident.serial) if p["id"] != page_row_id] \
        if ident.serial else []
    for twin in twins:
        if twin["signature"] and extract.same_sheet(np.frombuffer(twin["signature"], np.float32), sig):
            if store.mark_page(page_row_id, "duplicate", "same_sheet_rescanned",
                               f"this sheet was already read (page {twin['page_key']}); not counted again",
                               claim=claim, form_id=ident.form_id, version=ident.version, serial=ident.serial,
                               copy_of=twin["id"], seconds=result.seconds):
                summary.duplicates += 1
            else:
                summary.taken_over += 1
            return
    if twins:
        key = f"{ident.page_id}~{len(twins) + 1}"
        note = Issue("", "duplicate_serial", f"Nomor lembar {ident.page_id} juga ada di lembar lain dengan isi "
                     "berbeda (fotokopi?). Periksa agar pasien tidak tercatat dua kali.", blocking=False)
        issues += [(r, note) for r in result.records]
    image_path = None
    if result.image_jpeg:
        rel = Path("pages") / f"{page_row_id}-{claim or 0}.jpg"
        (store.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (store.data_dir / rel).write_bytes(result.image_jpeg)
        image_path = str(rel)
    final = PageResult(**{**result.__dict__, "issues": tuple(issues)})
    try:
        saved = store.save_page(page_row_id, final, key, image_path, claim=claim)
    except PageKeyTaken:  # another run stored a sheet with this serial just now: look again
        if tries <= 1:
            raise
        save_result(store, page_row_id, result, summary, claim, tries - 1)
        return
    if not saved:
        summary.taken_over += 1
        return
    summary.pages_done += 1
    summary.records += len(result.records)


def run_pages(store: Store, rows: list[Row], jobs: int, summary: Summary, progress: Progress | None = None,
              policy: Policy | None = None, claim: int | None = None) -> None:
    """Process claimed pages in a pool; a page that kills its worker is retried alone, then marked.

    ``policy``: the acceptance policy (default: the data dir's, :func:`accept.for_data_dir`);
    ``claim``: the run holding the pages (results are stored only while it still holds them).
    Comb cells are read with the data dir's active clinic adaptation, if any (:mod:`pipeline.learn.hands`).
    """
    policy = policy or accept.for_data_dir(store.data_dir)
    model = hands.reading_model(store)
    todo = {r["id"]: (store.data_dir / r["stored_path"], r["page_no"], policy, model) for r in rows}
    done = 0
    suspects: list[int] = []
    with workers.pool(jobs) as pool:
        futures: dict[Future, int] = {pool.submit(process_file_page, *todo[i]): i for i in todo}
        waiting = set(futures)
        while waiting:
            finished, waiting = wait(waiting, timeout=HEARTBEAT_S, return_when=FIRST_COMPLETED)
            if claim is not None:
                store.heartbeat(claim)
            for fut in finished:
                page_row_id = futures[fut]
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    suspects.append(page_row_id)
                    continue
                save_result(store, page_row_id, result, summary, claim)
                done += 1
                if progress:
                    progress(done, len(todo))
    for page_row_id in suspects:
        result = _run_alone(*todo[page_row_id])
        save_result(store, page_row_id, result, summary, claim)
        done += 1
        if progress:
            progress(done, len(todo))


def _run_alone(path: Path, page_no: int, policy: Policy, model: Path) -> PageResult:
    """Retry a page in a fresh single worker; if it crashes again it is marked, the batch goes on."""
    with workers.pool(1) as pool:
        try:
            return pool.submit(process_file_page, path, page_no, policy, model).result()
        except BrokenProcessPool:
            return PageResult("problem", "worker_crash", "reading this page crashed the reader twice "
                              "(damaged file?); the page is kept, rescan it or discard it in the review app")


def ingest_paths(paths: list[Path], data_dir: Path, jobs: int | None = None, user: str = "",
                 progress: Progress | None = None, learn: bool = True, spot_check: bool = True) -> Summary:
    """Ingest files and folders into the store at ``data_dir``; returns a summary.

    With ``learn``, the reader first learns from the values reviewed since it last did, if
    there are enough (:func:`pipeline.learn.hands.maybe_learn`). With ``spot_check``, a random
    sample of the batch's auto values is put before a person and each kind's threshold is
    tightened where spot checks show too many wrong auto values (:mod:`pipeline.learn.spotcheck`);
    benchmarks of the reader alone turn it off.

    Several runs may ingest into one store at once (CLI, ``watch``, the app's uploads):
    each page is claimed by exactly one run, and the pages of a run that died are
    claimed again by the next run.
    """
    found = ingest.discover(paths)
    summary = Summary(left_out=[(p.name, why) for p, why in found.left_out])
    with Store.open(data_dir) as store:
        batch = store.start_batch(", ".join(str(p) for p in paths)[:500], user)
        try:
            adopted = store.adopt_dead_runs(batch)
            summary.resumed = len(adopted)
            if learn:  # a new model reads the stack still under review, too
                summary.learned, summary.reread = reread.learn_if_due(store, jobs, spot_check)
            register_files(store, found.files, batch, summary)
            run_pages(store, store.claim_pages(batch), jobs or os.cpu_count() or 1, summary, progress, claim=batch)
            around = store.pages_of_batches([batch, *adopted])
            summary.settled = consensus.settle(store, around)
            summary.identity = identity.check(store, around)
            if spot_check:
                summary.spot_checked = spotcheck.sample(store, around)
                summary.tightened = spotcheck.tighten(store)
        except BaseException:
            with contextlib.suppress(Exception):  # e.g. the disk is full: the next run closes this one
                store.finish_batch(batch, "failed")
            raise
        store.finish_batch(batch)
    return summary


def terminal_progress(done: int, total: int) -> None:
    """A one-line progress bar on stderr (only on a terminal)."""
    if not sys.stderr.isatty():
        return
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} pages")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()
