"""mRANO (Ellingson, Wen, Cloughesy. Neurotherapeutics 2017;14:307-20; clinical_rules.md §1.4).

The post-radiotherapy scan is the baseline; T2/FLAIR is recorded but does not define progression;
volumetric measurement is an option. Every first scan meeting the progression thresholds is
*preliminary* PD; it is confirmed by a scan ≥ 4 weeks later showing further growth (≥ 25 % SPD /
≥ 40 % volume vs the preliminary scan) or by clinical decline, and progression is then dated to the
preliminary scan; otherwise the episode is pseudoprogression and the nadir is reset. The
confirmation details are [UNVERIFIED] in the rules reference and flagged in every explanation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from ..case import Case, Lesion
from .engine import Policy, evaluate
from .timeline import CriterionResult

POLICY = Policy(
    name="mRANO",
    table="mRANO",
    baseline="post_radiotherapy",
    window_rule="none",
    confirm_all_pd=True,
    glioma=True,
    unverified=(
        "preliminary PD confirmed by further ≥ 25 % SPD (≥ 40 % volume) growth ≥ 4 weeks later or clinical decline",
        "unconfirmed preliminary PD becomes pseudoprogression with the nadir reset",
        "progression dated to the preliminary-PD scan",
        "measurable ≥ 10 × 10 mm or ≥ 1 cm³",
    ),
)


def assess_mrano(
    case: Case,
    lesions: Mapping[dt.date, Sequence[Lesion]] | None = None,
    *,
    method: str | None = None,
) -> CriterionResult:
    """mRANO over the whole timeline (``method="volumetric"`` for the volumetric variant)."""
    return evaluate(case, lesions, POLICY, method=method)
