"""How many threads one case may use for work that runs side by side (timepoints, pixel prefetch).

Two by default: the design targets a two-core machine. A cohort worker runs one case per core and sets
``PSEUDOPROG_CASE_THREADS=1``, so N workers use N cores instead of contending for them.
"""

from __future__ import annotations

import os

ENV = "PSEUDOPROG_CASE_THREADS"
DEFAULT = 2


def case_threads() -> int:
    """The number of threads a case may use (``PSEUDOPROG_CASE_THREADS``, default 2).

    >>> case_threads() >= 1
    True
    """
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{ENV} must be a whole number of threads ≥ 1, got {raw!r}")
    return int(raw)
