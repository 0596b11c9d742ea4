"""The pool of reader processes that ingest and re-reading use; only the parent process writes to the store."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor


def _watch_parent(parent: int) -> None:
    """Pool worker initializer: exit as soon as the process that started us is gone (even by kill -9)."""
    def loop() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=loop, name="susulan-parent-watch", daemon=True).start()


def pool(jobs: int) -> ProcessPoolExecutor:
    """``jobs`` worker processes (at least one) that exit with the process that started them."""
    return ProcessPoolExecutor(max_workers=max(1, jobs), initializer=_watch_parent, initargs=(os.getpid(),))
