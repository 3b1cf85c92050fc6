"""One case in its own process: ``python -m pseudoprog.cohort.one CASE_DIR OUT_DIR [PROFILE [DATES]]``.

The worker's task (:mod:`.task`) starts this process so that a crash, a hang or runaway memory in one
case can be ended from outside without touching the worker. A bad input or a case that cannot be
assessed leaves ``cohort-error.json`` (kind and message) and exits 2; any other exception exits 1 with
its traceback in the log. The process ends itself when the worker that started it disappears.
With DATES (``shift`` or ``remove``) the outputs are de-identified with the cohort's secret, which comes in the
environment (:data:`SECRET_ENV`), never on the command line where ``ps`` shows it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from pathlib import Path

ERROR_FILE = "cohort-error.json"
SECRET_ENV = "PSEUDOPROG_DEIDENTIFY_SECRET"
# Tests only: "NAME=MiB" makes the case whose folder is NAME hold MiB of touched memory while it runs, so that
# the memory bound can be shown to stop a case (see tests/cohort); unset, nothing happens.
TEST_ALLOCATE_ENV = "PSEUDOPROG_TEST_ALLOCATE"
EXIT_INPUT = 2
EXIT_CRASH = 1


def _exit_with_parent(parent: int) -> None:
    """A killed worker must not leave its case running: poll the parent id (re-parenting changes it)."""

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(EXIT_CRASH)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _test_allocation(case_dir: Path) -> object:
    spec = os.environ.get(TEST_ALLOCATE_ENV, "")
    name, _, mib = spec.partition("=")
    if not spec or name != case_dir.name:
        return None
    import numpy as np

    return np.ones(int(mib) << 20, dtype=np.uint8)  # every page written: resident, not merely reserved


def main(argv: list[str]) -> int:
    _exit_with_parent(int(os.environ.get("PSEUDOPROG_COHORT_PARENT", os.getppid())))
    case_dir, out_dir = Path(argv[0]), Path(argv[1])
    profile = Path(argv[2]) if len(argv) > 2 and argv[2] else None
    dates = argv[3] if len(argv) > 3 and argv[3] else None
    from ..errors import PseudoprogError
    from ..files import write_json
    from ..flow import assess  # the single-case flow
    from ..privacy import install, redact
    from ..report.deidentify import Deidentifier

    deid = Deidentifier(dates=dates, secret=os.environ.pop(SECRET_ENV)) if dates else None

    def clean(text: str) -> str:
        """An error as the case's marker and log keep it: de-identified, the case folder not named."""
        text = redact(text)  # no header value a library's error quotes
        if deid is None:
            return text
        deid.forget(case_dir.name)
        return deid.text(text.replace(str(case_dir.resolve()), "CASE_DIR").replace(str(case_dir), "CASE_DIR"))

    install()  # the case's log (this process's stderr): no header value quoted in a warning or a log line
    held = _test_allocation(case_dir)
    try:
        assess(case_dir, out_dir, profile=profile, deidentify=deid)
        del held
    except PseudoprogError as exc:
        write_json(out_dir / ERROR_FILE, {"kind": type(exc).__name__, "message": clean(str(exc))})
        return EXIT_INPUT
    except Exception as exc:  # a crash: reported as the case's error, never as a finished case
        print(clean(traceback.format_exc()), file=sys.stderr)
        write_json(out_dir / ERROR_FILE, {"kind": type(exc).__name__, "message": clean(f"crashed: {exc!r}")})
        return EXIT_CRASH
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
