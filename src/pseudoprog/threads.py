"""How many threads one case may use for work that runs side by side (timepoints, pixel prefetch).

Two by default: the design targets a two-core machine. A cohort worker runs one case per core and sets
``PSEUDOPROG_CASE_THREADS=1``, so N workers use N cores instead of contending for them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

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


@contextmanager
def blas_in_one_thread() -> Iterator[None]:
    """BLAS (OpenBLAS under NumPy and SciPy) on one thread while a run computes.

    A run's parallelism is its own: the timepoints' map builders run side by side, and a cohort runs one case per
    core. BLAS threads would only compete with them, and their count would vary with timing — each one-thread
    section in the fits (``threadpool_limits``) restores the count it found on exit, which another thread may
    have changed meanwhile — and a sum split over a different number of threads rounds differently: the same case
    gave DSC maps of its baseline 1 float32 ulp apart on half of the runs (50 007 k2 voxels), and with one BLAS
    thread throughout every run is bit-identical. Measured on the synthetic DICOM patient: no slower (median
    8.16 s vs 8.28 s, 6 runs each). The limit is process-wide while it holds and restored afterwards.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield
