"""Exit codes and the exceptions that carry a plain-language "what to do next" message."""

from __future__ import annotations

import errno
import sqlite3
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of the ``susulan`` command."""

    OK = 0
    BAD_INPUT = 1
    USAGE = 2
    MISSING_DEPENDENCY = 3
    PAGES_NEED_ATTENTION = 4
    SYSTEM = 5
    """The machine refused: disk full, no permission, the database busy or unreachable."""
    INTERNAL = 70
    INTERRUPTED = 130


class SusulanError(Exception):
    """Base class: a problem the user can act on; ``str(e)`` is shown as one line."""

    exit_code: ExitCode = ExitCode.BAD_INPUT


class BadInput(SusulanError):
    """The user gave something we cannot use (missing file, unknown form, bad value)."""


class UnknownForm(BadInput):
    """A form id or version that has no definition in ``forms/``."""


class MissingDependency(SusulanError):
    """A system program (tesseract, pdftoppm, chromium) is not installed."""

    exit_code = ExitCode.MISSING_DEPENDENCY


class PageProblem(Exception):
    """A single page could not be processed; becomes a page status + reason, never a crash."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


RERUN = "what was finished is saved; run the same command again to continue"


def system_message(e: BaseException) -> str | None:
    """One plain line for an error of the machine (disk, permissions, database), or None if it is not one."""
    if isinstance(e, OSError):
        where = f" ({e.filename})" if e.filename else ""
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return f"the disk is full{where}; free some space, then {RERUN}"
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"no permission to write{where}: {e.strerror}; fix the folder's permissions, then {RERUN}"
        return f"{e.strerror or e}{where}; {RERUN}"
    if isinstance(e, sqlite3.Error):
        text = str(e)
        if "full" in text:
            return f"the disk is full (the database could not grow); free some space, then {RERUN}"
        if "locked" in text or "busy" in text:
            return f"the database is busy (another Susulan program kept it locked too long); {RERUN}"
        if "readonly" in text:
            return f"the database cannot be written (read-only file or folder); fix its permissions, then {RERUN}"
        return f"the database reported an error ({text}); {RERUN}"
    return None
