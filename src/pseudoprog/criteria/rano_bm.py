"""RANO-BM for brain metastases (Lin et al., Lancet Oncol 2015;16:e270-8; clinical_rules.md §1.7).

Unidimensional: sum of the longest diameters (SLD) of up to five measurable lesions (≥ 10 mm,
perpendicular ≥ 5 mm); PR ≥ 30 % decrease vs baseline; PD ≥ 20 % increase vs nadir with an absolute
increase of ≥ 5 mm in at least one lesion ([UNVERIFIED], as written); new lesions, unequivocal
non-target progression and clinical decline are progression; an equivocal new lesion waits and,
if confirmed, progression is dated to its first appearance; on immunotherapy new lesions alone are
not progression. The baseline is the last scan before treatment (≤ 4 weeks). RANO-BM grades size
only: when an irradiated metastasis enlarges after radiosurgery the call carries the flag
``treatment_effect_possible_after_srs``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from ..case import Case, Lesion
from .engine import Policy, evaluate
from .timeline import CriterionResult

POLICY = Policy(
    name="RANO-BM",
    table="RANO-BM",
    baseline="pre_treatment",
    window_rule="none",
    immunotherapy_new_lesions_not_pd=True,
    srs_flag=True,
    absolute_increase=True,
    glioma=False,
    unverified=(
        "PD also needs an absolute increase ≥ 5 mm in at least one lesion",
        "CR/PR sustained ≥ 4 weeks",
        "enlargement after radiosurgery may be treatment effect (flag, not a change of category)",
    ),
)


def assess_rano_bm(
    case: Case,
    lesions: Mapping[dt.date, Sequence[Lesion]] | None = None,
    *,
    method: str | None = None,
) -> CriterionResult:
    """RANO-BM over the whole timeline (``method="volumetric"``: −66 % / +73 %, RECIST sphere equivalents)."""
    return evaluate(case, lesions, POLICY, method=method)
