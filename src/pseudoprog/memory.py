"""Large arrays without NumPy's transparent-hugepage advice (issue 19).

NumPy asks the kernel to back every array of 4 MB or more with transparent huge pages (``madvise(MADV_HUGEPAGE)``,
on by default on Linux ≥ 4.6). Where the kernel's THP defrag policy is ``madvise`` (the Debian and Ubuntu
default), each first touch of such memory may compact memory to find a 2 MB page, and on a virtual machine the
host must supply it. On the two-core VMs this project is built and tested on, a first touch of 200 MB fresh
memory took 2.0-3.0 s with the advice and 0.07-0.09 s without; memory already touched was ~2× faster with huge
pages (0.035 vs 0.073 s). A run frees and allocates large arrays stage after stage, and freed memory soon goes
back to the host, so the first-touch cost dominates: ``assess`` on the synthetic DICOM patient, 6 runs each in
ABBA order in one process, median 9.32 s with the advice and 8.54 s without (benchmarks/RESULTS.md, session 32).

So a run turns the advice off for its process (worker processes forked from it inherit the setting), unless the
user set ``NUMPY_MADVISE_HUGEPAGE`` — NumPy's documented switch, read when NumPy is imported — in which case
their choice stands.
"""

from __future__ import annotations

import importlib
import os

ENV = "NUMPY_MADVISE_HUGEPAGE"


def without_hugepage_advice() -> bool:
    """Turn NumPy's hugepage advice off for this process unless ``NUMPY_MADVISE_HUGEPAGE`` is set.

    Returns whether the advice is now off by this call (False: the user's setting stands, or this NumPy has no
    switch to turn it at run time).
    """
    if ENV in os.environ:
        return False
    # The run-time switch behind the environment variable (NumPy ≥ 1.19; in numpy._core since 2.0).
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            switch = getattr(importlib.import_module(module), "_set_madvise_hugepage", None)
        except ImportError:
            continue
        if switch is not None:
            switch(False)
            return True
    return False
