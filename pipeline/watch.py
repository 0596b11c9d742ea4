"""Watch a folder that a network scanner writes into; ingest each file once it is complete.

A file counts as complete when its size and modification time have not changed for
``settle`` seconds and it can be opened; finished files are moved to ``<folder>/done``
(files that could not be read still move: they are kept in the store with a reason).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from pathlib import Path

from pipeline import run
from pipeline.errors import BadInput

DONE_DIR = "done"


def _snapshot(folder: Path) -> dict[Path, tuple[int, float]]:
    out = {}
    for f in folder.iterdir():
        if f.is_file() and not f.name.startswith("."):  # by content, not by name: ingest says what is not a scan
            st = f.stat()
            out[f] = (st.st_size, st.st_mtime)
    return out


def ready_files(folder: Path, seen: dict[Path, tuple[tuple[int, float], float]], settle: float,
                now: float) -> list[Path]:
    """Files whose size/mtime stayed the same for ``settle`` seconds; updates ``seen`` in place."""
    current = _snapshot(folder)
    ready = []
    for path, stat in current.items():
        prev = seen.get(path)
        if prev is None or prev[0] != stat:
            seen[path] = (stat, now)
        elif now - prev[1] >= settle and stat[0] > 0:
            ready.append(path)
    for gone in set(seen) - set(current):
        del seen[gone]
    return sorted(ready)


def watch(folder: Path, data_dir: Path, interval: float = 2.0, settle: float = 3.0, once: bool = False) -> None:
    """Loop until interrupted, ingesting complete files; with ``once``, stop when nothing more is ready."""
    if not folder.is_dir():
        raise BadInput(f"not a folder: {folder}")
    done = folder / DONE_DIR
    done.mkdir(exist_ok=True)
    seen: dict[Path, tuple[tuple[int, float], float]] = {}
    print(f"watching {folder} (Ctrl+C to stop); finished files go to {done}", file=sys.stderr)
    start = time.monotonic()
    while True:
        now = time.monotonic()
        ready = ready_files(folder, seen, settle, now)
        if ready:
            summary = run.ingest_paths(ready, data_dir)
            print(summary.text(), file=sys.stderr)
            for f in ready:
                with contextlib.suppress(FileNotFoundError):  # another watcher on this folder moved it first
                    shutil.move(str(f), done / f.name)
                seen.pop(f, None)
        elif once and now - start > settle:
            return
        time.sleep(interval)
