"""How many threads one case may use for work that runs side by side (timepoints, pixel prefetch).

Two by default: the design targets a two-core machine. A cohort worker runs one case per core and sets
``PSEUDOPROG_CASE_THREADS=1``, so N workers use N cores instead of contending for them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import OpenBLASController, threadpool_limits

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
    core. BLAS threads would only compete with them, and their count varied with timing: threadpoolctl lets one
    thread (the first to set a limit, while it lives) change OpenBLAS's process-wide count, so the fits'
    one-thread sections (``threadpool_limits``) in the other map thread changed nothing, and its fits ran on one
    thread or two depending on whether the first was inside its own section at the time. A sum split over a
    different number of threads rounds differently: the same case gave DSC maps of its baseline 1 float32 ulp
    apart on half of the runs (50 007 k2 voxels). Set here, by the run's own thread before its workers start,
    every run is bit-identical. Measured on the synthetic DICOM patient: no slower (median 8.16 s vs 8.28 s,
    6 runs each).

    The limit is process-wide: runs that overlap in one process (the reading-room service runs cases in threads)
    share it, and the count found before the first is restored when the last ends (by threadpoolctl's rule, only
    if the thread that set it is the one ending or has ended; else the count stays one).
    """
    global _blas_runs, _blas_limiter
    with _blas_lock:
        if _blas_runs == 0:
            _blas_limiter = threadpool_limits(limits=1, user_api="blas")
        _blas_runs += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_runs -= 1
            if _blas_runs == 0 and _blas_limiter is not None:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None
                # as a ``with threadpool_limits`` block does on exit: let other threads set limits again
                OpenBLASController.clear_controlling_thread()


_blas_lock = threading.Lock()
_blas_runs = 0  # runs inside blas_in_one_thread now
_blas_limiter: threadpool_limits | None = None  # the limit they share (restores the count found before the first)
