"""iRANO for patients on immunotherapy (Okada et al., Lancet Oncol 2015;16:e534-42; clinical_rules.md §1.6).

iRANO keeps the base criterion (RANO 2010 for gliomas, RANO-BM for metastases) and changes one
thing: imaging that meets progression — new lesions included — within 6 months of starting
immunotherapy, in a patient who is not significantly worse clinically, is *unconfirmed* PD; therapy
continues and imaging is repeated (about 3 months later, [UNVERIFIED]). Further progression on the
repeat scan confirms PD, dated back to the first scan ([UNVERIFIED]); otherwise the episode is
pseudoprogression and the nadir is reset. Beyond 6 months, or with clinical decline, the base
criterion applies unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace

from ..case import Case, Lesion
from .engine import Policy, evaluate
from .rano import POLICY as RANO_POLICY
from .rano_bm import POLICY as RANO_BM_POLICY
from .timeline import CriterionResult


def irano_policy(case: Case) -> Policy:
    """iRANO over the base criterion that fits the case."""
    base = RANO_BM_POLICY if case.diagnosis.is_metastasis else RANO_POLICY
    return replace(
        base,
        name="iRANO",
        irano=True,
        immunotherapy_new_lesions_not_pd=False,
        unverified=(
            *base.unverified,
            "confirmation scan about 3 months after the first PD scan "
            "(any scan ≥ 11 weeks later is accepted [DERIVED])",
            "confirmed PD back-dated to the first PD scan",
            "beyond 6 months, or with significant clinical decline, the base criterion applies",
        ),
    )


def assess_irano(
    case: Case,
    lesions: Mapping[dt.date, Sequence[Lesion]] | None = None,
    *,
    method: str | None = None,
) -> CriterionResult:
    """iRANO over the whole timeline; "not applicable" when no immunotherapy is recorded."""
    policy = irano_policy(case)
    result = evaluate(case, lesions, policy, method=method)
    base = "RANO-BM" if case.diagnosis.is_metastasis else "RANO 2010"
    return replace(result, notes=(f"iRANO applied over {base} measurements and thresholds", *result.notes))
