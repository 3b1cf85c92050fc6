"""One exception hierarchy for the whole project.

Every error a user can cause is an :class:`InputError` naming the file, the field and what was
expected, so the message alone says what to fix. Messages never carry patient identifiers or
image content: they name paths and fields only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .privacy import redact


class PseudoprogError(Exception):
    """Base class of every error raised on purpose by pseudoprog."""


class InputError(PseudoprogError, ValueError):
    """A case folder, image or value the user supplied is wrong.

    Parameters
    ----------
    problem
        What is wrong, in plain words.
    file
        The file or folder concerned, if any.
    field
        The dotted path of the field inside that file (``timepoints[1].date``), if any.
    expected
        What would have been accepted.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.problem = redact(problem)  # a library's error text may quote a header value (pseudoprog.privacy)
        self.file = None if file is None else str(file)
        self.field = field
        self.expected = expected
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.field:
            where.append(f"field '{self.field}'")
        head = ": ".join([", ".join(where), self.problem]) if where else self.problem
        if self.expected:
            head += f" (expected {self.expected})"
        return head


class FileSystemError(InputError):
    """A file or folder cannot be read or written (disk full, read-only, permission, a file where a folder goes).

    An InputError (exit code 2): the path the user chose is what to fix. ``problem`` is the system's reason.
    """


class OutOfScopeError(PseudoprogError):
    """The case is not the question pseudoprog answers (e.g. initial diagnosis, screening)."""

    def __init__(self, reason: str) -> None:
        self.reason = redact(reason)
        super().__init__(self.reason)


class CannotAssessError(PseudoprogError):
    """A stage cannot produce a result for this case; ``reason`` says why (reported, not fatal)."""

    def __init__(self, reason: str) -> None:
        self.reason = redact(reason)
        super().__init__(self.reason)


@contextmanager
def malformed(path: str | Path, what: str) -> Iterator[None]:
    """Turn any unexpected failure while ``what`` into an InputError naming ``path`` (our own errors pass through).

    The last guard of the parsers (DICOM, NIfTI, spectroscopy): a malformed file whose oddity no specific check
    foresaw still gives a one-line error naming the file, never a traceback (tests/hardening fuzzes this).
    """
    try:
        yield
    except PseudoprogError:
        raise
    except (Exception, RecursionError) as exc:
        problem = redact(f"is malformed: {what} failed ({type(exc).__name__}: {exc})")  # before it is cut short
        raise InputError(problem[:400], file=path) from exc


# The command line's exit codes, one table for every command (docs/exit-codes.md). First match wins, so a
# subclass comes before its base. A ValueError is a rejected option value (the library validates its
# keyword options with ValueError), so it is a usage error like a bad input.
EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_CODES: tuple[tuple[type[BaseException], int, str], ...] = (
    (InputError, 2, "error"),
    (CannotAssessError, 3, "cannot assess"),
    (OutOfScopeError, 4, "out of scope"),
    (PseudoprogError, 2, "error"),
    (ValueError, 2, "error"),
    (OSError, 2, "error"),  # a file or folder cannot be read or written: the message names the path
)


def exit_code(exc: BaseException) -> tuple[int, str]:
    """The exit code of a command that stopped on ``exc``, and the label its one-line message starts with.

    >>> exit_code(CannotAssessError("no VFA series"))
    (3, 'cannot assess')
    >>> exit_code(KeyError("x"))
    (1, 'unexpected error')
    """
    for kind, code, label in EXIT_CODES:
        if isinstance(exc, kind):
            return code, label
    return EXIT_UNEXPECTED, "unexpected error"


def write_traceback_log(exc: BaseException) -> Path | None:
    """Write the traceback of an unexpected error to a log file (PSEUDOPROG_LOG_DIR, else the temp folder).

    Returns its path, or None when no log could be written (the one-line message still names the error).
    """
    import datetime as dt
    import os
    import tempfile
    import traceback

    folder = Path(os.environ.get("PSEUDOPROG_LOG_DIR") or tempfile.gettempdir())
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"pseudoprog-error-{stamp}-{os.getpid()}.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(redact("".join(traceback.format_exception(exc))))
    except OSError:
        return None
    return path
