"""Many cases on dask.distributed: one task per case, a cohort table, trial plots (``pseudoprog cohort``).

- :mod:`.cases` finds the case folders and hashes their inputs (what makes a rerun skip a case);
- :mod:`.one` is the per-case process (the one place that calls the single-case flow);
- :mod:`.task` runs that process on a worker with a time-out and a memory bound, and publishes its outputs whole;
- :mod:`.run` drives the cluster; :mod:`.table` builds the case × timepoint table; :mod:`.agreement` holds
  Cohen's kappa and ROC; :mod:`.html` draws cohort.html; :mod:`.cli` is the command.
"""

from __future__ import annotations

from .run import CohortRun, run_cohort

__all__ = ["CohortRun", "run_cohort"]
