"""Which criterion fits a case, running every criterion, and the ``ResponseCall`` the pipeline reports.

Selection (clinical_rules.md §1.5–§1.7, §1.9):

* immunotherapy begun before the latest scan → **iRANO** (over RANO-BM for metastases, RANO 2010 for gliomas);
* brain metastasis → **RANO-BM**;
* glioma → **RANO 2.0**, the current single set of criteria for all adult gliomas and therapies.

The others are always computed too and kept beside the chosen one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from ..assessment import ResponseCall
from ..case import Case, Lesion
from .irano import assess_irano
from .mrano import assess_mrano
from .rano import assess_rano
from .rano2 import assess_rano2
from .rano_bm import assess_rano_bm
from .rules import CRITERIA_NAMES
from .timeline import Category, CriterionResult, immunotherapy_start

Assessor = Callable[..., CriterionResult]
ASSESSORS: dict[str, Assessor] = {
    "RANO": assess_rano,
    "mRANO": assess_mrano,
    "RANO 2.0": assess_rano2,
    "iRANO": assess_irano,
    "RANO-BM": assess_rano_bm,
}
_ALIASES = {
    "rano": "RANO",
    "rano2010": "RANO",
    "rano 2010": "RANO",
    "mrano": "mRANO",
    "rano2": "RANO 2.0",
    "rano 2.0": "RANO 2.0",
    "rano2.0": "RANO 2.0",
    "rano-2.0": "RANO 2.0",
    "irano": "iRANO",
    "rano-bm": "RANO-BM",
    "ranobm": "RANO-BM",
    "rano_bm": "RANO-BM",
}


def criterion_name(name: str) -> str:
    """Canonical criterion name from a user's spelling (``rano2`` → ``RANO 2.0``)."""
    key = name.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown criterion {name!r}; choose one of {', '.join(CRITERIA_NAMES)}")


def choose_criterion(case: Case) -> tuple[str, str]:
    """The criterion that fits the case, and why."""
    latest = case.latest.date
    imm = immunotherapy_start(case, latest)
    if imm is not None:
        base = "RANO-BM" if case.diagnosis.is_metastasis else "RANO 2010"
        return "iRANO", f"immunotherapy started {imm}: iRANO (over {base}) waits for confirmation of early progression"
    if case.diagnosis.is_metastasis:
        return "RANO-BM", "brain metastasis: RANO-BM (unidimensional, Lin 2015)"
    return "RANO 2.0", f"{case.diagnosis.type.value}: RANO 2.0, the current criteria for all adult gliomas (Wen 2023)"


def _fit_note(case: Case, name: str, result: CriterionResult) -> CriterionResult:
    """Say so when a criterion is applied outside the tumour type it was written for."""
    glioma_only = name in ("RANO", "mRANO", "RANO 2.0")
    if (glioma_only and case.diagnosis.is_metastasis) or (name == "RANO-BM" and not case.diagnosis.is_metastasis):
        kind = "gliomas" if glioma_only else "brain metastases"
        note = f"{name} was written for {kind}; applied to a {case.diagnosis.type.value} for comparison only"
        return replace(result, notes=(note, *result.notes))
    return result


def assess_criterion(
    case: Case,
    name: str,
    lesions: Mapping[dt.date, Sequence[Lesion]] | None = None,
    *,
    method: str | None = None,
) -> CriterionResult:
    """Run one criterion (any spelling accepted by :func:`criterion_name`)."""
    canonical = criterion_name(name) if name not in ASSESSORS else name
    fn = ASSESSORS[canonical]
    result = fn(case, lesions) if method is None else fn(case, lesions, method=method)
    return _fit_note(case, canonical, result)


def assess_all(
    case: Case, lesions: Mapping[dt.date, Sequence[Lesion]] | None = None
) -> tuple[str, str, dict[str, CriterionResult]]:
    """Every criterion over the case, and the one that fits it.

    Parameters
    ----------
    case
        The case (diagnosis, treatments with dates, timepoints with clinical status and steroids).
    lesions
        Lesions per scan date (reported in case.yaml or measured by the lesions stage); dates not
        given fall back to the lesions reported in case.yaml.

    Returns
    -------
    tuple
        ``(chosen, reason, results)``: the criterion that fits the case, why, and every
        criterion's :class:`~pseudoprog.criteria.timeline.CriterionResult` by name.

    Examples
    --------
    Growth in the radiation field 8 weeks after chemoradiation for a glioblastoma:

    >>> from pseudoprog.criteria.examples import early_in_field_growth
    >>> case = early_in_field_growth()
    >>> chosen, why, results = assess_all(case)
    >>> chosen, results[chosen].latest.category.value
    ('RANO 2.0', 'PD (preliminary)')
    >>> results["RANO"].latest.category.value
    'PD not allowed: within pseudoprogression window'
    """
    chosen, why = choose_criterion(case)
    results = {name: _fit_note(case, name, fn(case, lesions)) for name, fn in ASSESSORS.items()}
    return chosen, why, results


def to_response_call(result: CriterionResult, *, selection_reason: str | None = None) -> ResponseCall:
    """The pipeline's record of one criterion.

    ``category`` and ``reference`` describe the latest scan (baseline and nadir used, burden, percent
    changes, whether the scan is within the pseudoprogression window, the confirmation state, the
    back-dated progression date, flags); ``per_timepoint`` holds the same for every scan.
    """
    latest = result.latest
    explanation: list[str] = []
    if selection_reason:
        explanation.append("criterion chosen: " + selection_reason)
    explanation.extend(result.notes)
    if result.reason:
        explanation.append(result.reason)
    reference: dict[str, object] = {}
    if latest is not None:
        if latest.role != "baseline":
            explanation.extend(latest.explanation)
        reference = {
            "date": latest.date.isoformat(),
            "method": result.method,
            "baseline": dict(latest.baseline),
            "nadir": dict(latest.nadir),
            "burden": dict(latest.burden),
            "pct_change_vs_baseline": latest.as_mapping()["pct_change_vs_baseline"],
            "pct_change_vs_nadir": latest.as_mapping()["pct_change_vs_nadir"],
            "nadir_is_zero": latest.as_mapping()["nadir_is_zero"],
            "volumetric": dict(latest.volumetric),
            "within_pseudoprogression_window": latest.within_pseudoprogression_window,
            "confirmation": None if latest.confirmation is None else latest.confirmation.value,
            "progression_date": None if latest.progression_date is None else latest.progression_date.isoformat(),
            "flags": list(latest.flags),
        }
    category = result.category.value if latest is not None else Category.CANNOT_ASSESS.value
    return ResponseCall(
        criteria=result.criterion,
        category=category,
        explanation=tuple(explanation),
        reference=reference,
        per_timepoint=tuple(c.as_mapping() for c in result.calls),
    )
