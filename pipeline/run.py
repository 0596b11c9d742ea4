"""The ingest orchestrator: files -> pages -> worker pool -> store. Only this parent process writes.

Rerunning is always safe: a file already stored (same SHA-256) is not added again,
finished pages are never redone, and pages left ``pending`` by an interrupted run
are picked up by the next one.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import accept, consensus, extract, ingest
from pipeline.accept import Policy
from pipeline.errors import PageProblem
from pipeline.learn import hands
from pipeline.models import Issue, PageResult
from pipeline.process import process_file_page
from pipeline.store import Row, Store

Progress = Callable[[int, int], None]


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
    file_problems: list[tuple[str, str]] = field(default_factory=list)
    learned: hands.LearnReport | None = None

    @property
    def needs_attention(self) -> bool:
        """True if any page or file could not be read."""
        return bool(self.problems or self.file_problems)

    def text(self) -> str:
        """One plain paragraph for the terminal."""
        parts = [f"Read {self.pages_done} page(s) into {self.records} record(s) from {self.files_new} new file(s)"]
        if self.learned is not None:
            parts.insert(0, f"Learned from {self.learned.training_values} reviewed value(s) first: "
                         + (f"now reading with {self.learned.version}" if self.learned.adopted
                            else "the reader in use was kept"))
        if self.files_known:
            parts.append(f"{self.files_known} file(s) were already ingested before and were skipped")
        if self.duplicates:
            parts.append(f"{self.duplicates} page(s) were rescans of sheets already read and were not counted again")
        if self.settled:
            parts.append(f"{self.settled} visit date(s), queue number(s) or arrival time(s) were corrected "
                         "to agree with the other sheets (see each record's history)")
        if self.problems:
            reasons = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in self.problems.most_common())
            parts.append(f"{sum(self.problems.values())} page(s) need attention ({reasons})")
        for name, msg in self.file_problems:
            parts.append(f"{name}: {msg}")
        if self.needs_attention:
            parts.append("see 'susulan status' or the review app for the list")
        return ". ".join(parts) + "."


def keep_original(data_dir: Path, src: Path, sha: str) -> Path:
    """Copy the source file into ``<data_dir>/originals`` (named by hash); returns the stored path."""
    dest = data_dir / "originals" / sha[:2] / f"{sha}{src.suffix.lower()}"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".part")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    return dest


def register_files(store: Store, paths: Iterable[Path], batch_id: int, summary: Summary) -> None:
    """Hash, keep and count pages of every file; unreadable files are recorded with a reason."""
    for path in paths:
        sha = ingest.sha256_of(path)
        known = store.file_by_sha(sha)
        if known is not None:
            summary.files_known += 1
            continue
        stored = keep_original(store.data_dir, path, sha)
        file_id = store.add_file(sha, path.name, str(stored.relative_to(store.data_dir)), path.stat().st_size,
                                 batch_id)
        summary.files_new += 1
        try:
            count = ingest.page_count(stored)
        except PageProblem as e:
            store.set_file(file_id, status="problem", reason=e.reason, message=e.message)
            summary.file_problems.append((path.name, e.message))
            continue
        store.set_file(file_id, status="ok")
        store.ensure_pages(file_id, count)


def pending(store: Store) -> list[Row]:
    """Every page not finished yet, including those left by an interrupted run."""
    return store.pending_pages()


def save_result(store: Store, page_row_id: int, result: PageResult, summary: Summary) -> None:
    """Write one page's result, resolving rescans and photocopied serials."""
    if result.status != "done" or result.ident is None:
        store.mark_page(page_row_id, "problem", result.reason, result.message, seconds=result.seconds)
        summary.problems[result.reason] += 1
        return
    ident = result.ident
    sig = np.frombuffer(result.signature, np.float32)
    issues = list(result.issues)
    key = ident.page_id if ident.serial else f"{ident.form_id}-noserial-p{page_row_id}"
    twins = [p for p in store.pages_with_serial(ident.form_id, ident.serial) if p["id"] != page_row_id] \
        if ident.serial else []
    for twin in twins:
        if twin["signature"] and extract.same_sheet(np.frombuffer(twin["signature"], np.float32), sig):
            store.mark_page(page_row_id, "duplicate", "same_sheet_rescanned",
                            f"this sheet was already read (page {twin['page_key']}); not counted again",
                            form_id=ident.form_id, version=ident.version, serial=ident.serial, copy_of=twin["id"],
                            seconds=result.seconds)
            summary.duplicates += 1
            return
    if twins:
        key = f"{ident.page_id}~{len(twins) + 1}"
        note = Issue("", "duplicate_serial", f"Nomor lembar {ident.page_id} juga ada di lembar lain dengan isi "
                     "berbeda (fotokopi?). Periksa agar pasien tidak tercatat dua kali.", blocking=False)
        issues += [(r, note) for r in result.records]
    image_path = None
    if result.image_jpeg:
        rel = Path("pages") / f"{page_row_id}.jpg"
        (store.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (store.data_dir / rel).write_bytes(result.image_jpeg)
        image_path = str(rel)
    final = PageResult(**{**result.__dict__, "issues": tuple(issues)})
    store.save_page(page_row_id, final, key, image_path)
    summary.pages_done += 1
    summary.records += len(result.records)


def run_pages(store: Store, rows: list[Row], jobs: int, summary: Summary,
              progress: Progress | None = None, policy: Policy | None = None) -> None:
    """Process pending pages in a pool; a page that kills its worker is retried alone, then marked.

    ``policy``: the acceptance policy (default: the data dir's, :func:`accept.for_data_dir`).
    Comb cells are read with the data dir's active clinic adaptation, if any (:mod:`pipeline.learn.hands`).
    """
    policy = policy or accept.for_data_dir(store.data_dir)
    model = hands.reading_model(store)
    todo = {r["id"]: (store.data_dir / r["stored_path"], r["page_no"], policy, model) for r in rows}
    done = 0
    suspects: list[int] = []
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures: dict[Future, int] = {pool.submit(process_file_page, *todo[i]): i for i in todo}
        for fut in as_completed(futures):
            page_row_id = futures[fut]
            try:
                result = fut.result()
            except BrokenProcessPool:
                suspects.append(page_row_id)
                continue
            save_result(store, page_row_id, result, summary)
            done += 1
            if progress:
                progress(done, len(todo))
    for page_row_id in suspects:
        result = _run_alone(*todo[page_row_id])
        save_result(store, page_row_id, result, summary)
        done += 1
        if progress:
            progress(done, len(todo))


def _run_alone(path: Path, page_no: int, policy: Policy, model: Path) -> PageResult:
    """Retry a page in a fresh single worker; if it crashes again it is marked, the batch goes on."""
    with ProcessPoolExecutor(max_workers=1) as pool:
        try:
            return pool.submit(process_file_page, path, page_no, policy, model).result()
        except BrokenProcessPool:
            return PageResult("problem", "worker_crash", "reading this page crashed the reader twice "
                              "(damaged file?); the page is kept, rescan it or discard it in the review app")


def ingest_paths(paths: list[Path], data_dir: Path, jobs: int | None = None, user: str = "",
                 progress: Progress | None = None, learn: bool = True) -> Summary:
    """Ingest files and folders into the store at ``data_dir``; returns a summary.

    With ``learn``, the reader first learns from the values reviewed since it last did, if
    there are enough (:func:`pipeline.learn.hands.maybe_learn`).
    """
    files = ingest.discover(paths)
    summary = Summary()
    with Store.open(data_dir) as store:
        batch = store.start_batch(", ".join(str(p) for p in paths)[:500], user)
        summary.learned = hands.maybe_learn(store) if learn else None
        register_files(store, files, batch, summary)
        run_pages(store, pending(store), jobs or os.cpu_count() or 1, summary, progress)
        summary.settled = consensus.settle(store, store.pages_of_open_batches())
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
