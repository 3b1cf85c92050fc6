"""The clocks of one scan under a criterion: weeks since radiotherapy, months since immunotherapy, histology.

clinical_rules.md §1.3.3 (the 12-week window after radiotherapy) and §1.7 (the 6-month iRANO window).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..case import Case, HistologyResult
from .policy import Policy
from .rules import CriteriaTable
from .timeline import immunotherapy_start, last_radiation, months_between


def window_info(case: Case, date: dt.date, policy: Policy, tab: CriteriaTable) -> dict[str, Any]:
    """The scan's clocks as reported with its call (radiotherapy end, weeks since, immunotherapy start ...)."""
    out: dict[str, Any] = {}
    rt = last_radiation(case, date)
    if rt is not None:
        out["radiotherapy_end"] = rt.last_day.isoformat()
        out["radiotherapy_type"] = rt.type.value
        out["weeks_since_radiotherapy"] = round((date - rt.last_day).days / 7.0, 1)
    if (policy.glioma and policy.window_rule != "none") or policy.confirm_all_pd:
        crit = tab[policy.table]
        if "pseudoprogression_window_weeks" in crit.values:
            out["window_weeks"] = crit.value("pseudoprogression_window_weeks").value
    imm = immunotherapy_start(case, date)
    if imm is not None:
        out["immunotherapy_start"] = imm.isoformat()
        out["months_since_immunotherapy_start"] = round(months_between(imm, date), 1)
        out["irano_window_months"] = tab["iRANO"].value("immunotherapy_window_months").value
    return out


def in_window(case: Case, date: dt.date, policy: Policy, tab: CriteriaTable) -> bool | None:
    """Whether a scan is inside the criterion's pseudoprogression window (None: the criterion has none)."""
    states: list[bool] = []
    if policy.glioma:
        rt = last_radiation(case, date)
        crit = tab[policy.table]
        if rt is not None and "pseudoprogression_window_weeks" in crit.values:
            states.append((date - rt.last_day).days / 7.0 < crit.value("pseudoprogression_window_weeks").value)
    if policy.irano or policy.immunotherapy_new_lesions_not_pd:
        imm = immunotherapy_start(case, date)
        if imm is not None:
            states.append(months_between(imm, date) <= tab["iRANO"].value("immunotherapy_window_months").value)
    return any(states) if states else None


def histology_tumour(case: Case, date: dt.date, since: dt.date | None) -> dt.date | None:
    """The first histology showing viable tumour after ``since`` and on or before ``date``."""
    for tp in case.timepoints:
        if tp.date <= date and (since is None or tp.date > since) and tp.histology_result is HistologyResult.TUMOUR:
            return tp.date
    return None
