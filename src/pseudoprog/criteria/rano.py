"""RANO 2010 for high-grade glioma (Wen et al., J Clin Oncol 2010;28:1963-72; clinical_rules.md §1.3).

Bidimensional SPD of up to five measurable enhancing lesions; PR ≥ 50 % decrease vs baseline and
PD ≥ 25 % increase vs nadir; T2/FLAIR increase, new lesions and clinical decline are progression;
within 12 weeks of the end of radiotherapy progression may be declared only for enhancement outside
the 80 % isodose line or with histology of viable tumour (state "PD not allowed: within
pseudoprogression window"). Response is judged from the post-operative (pre-radiotherapy) baseline,
progression from the first post-radiotherapy scan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from ..case import Case, Lesion
from .engine import Policy, evaluate
from .timeline import CriterionResult

POLICY = Policy(
    name="RANO",
    table="RANO",
    baseline="rano2010",
    window_rule="forbid",
    use_flair=True,
    glioma=True,
)


def assess_rano(
    case: Case,
    lesions: Mapping[dt.date, Sequence[Lesion]] | None = None,
    *,
    method: str | None = None,
    marginal_counts_as_outside: bool = True,
) -> CriterionResult:
    """RANO 2010 over the whole timeline.

    Parameters
    ----------
    case
        The case (timepoints, treatments, diagnosis).
    lesions
        Lesions per scan date; dates not given fall back to those reported in ``case.yaml``.
    method
        ``"bidimensional"`` (the criterion) or ``"volumetric"`` (+40 % / −65 %, sphere equivalents).
    marginal_counts_as_outside
        Whether enhancement at the 50–80 % isodose edge counts as outside the 80 % isodose line.

    Examples
    --------
    Growth in the radiation field 8 weeks after chemoradiation:

    >>> from pseudoprog.criteria.examples import early_in_field_growth
    >>> case = early_in_field_growth()
    >>> assess_rano(case).latest.category.value
    'PD not allowed: within pseudoprogression window'
    """
    return evaluate(case, lesions, POLICY, method=method, marginal_counts_as_outside=marginal_counts_as_outside)
