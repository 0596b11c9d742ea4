"""Exit codes and the exceptions that carry a plain-language "what to do next" message."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of the ``susulan`` command."""

    OK = 0
    BAD_INPUT = 1
    USAGE = 2
    MISSING_DEPENDENCY = 3
    PAGES_NEED_ATTENTION = 4
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
