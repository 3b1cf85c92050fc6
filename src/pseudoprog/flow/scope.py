"""Whether a case is the question pseudoprog answers (clinical_rules.md §4.1)."""

from __future__ import annotations

from ..assessment import Scope
from ..case import Case, Indication, TreatmentType
from ..question import age_scope

_OUT_OF_SCOPE = {
    Indication.INITIAL_DIAGNOSIS: "initial diagnosis of a brain lesion is outside scope: use the pretreatment "
    "evaluation pathway (clinical_rules.md §4.1)",
    Indication.SURVEILLANCE: "scheduled surveillance with no new or enlarging enhancing lesion is outside scope: "
    "use the routine post-treatment surveillance pathway",
    Indication.METASTASIS_SCREENING: "screening for brain metastases is outside scope: use the metastasis-screening "
    "pathway",
    Indication.EMERGENCY: "a new neurological deficit needing urgent work-up is outside scope: use the emergency "
    "pathway",
}


def decide_scope(case: Case) -> Scope:
    """In scope: a previously treated brain tumour with a new or enlarging enhancing lesion on follow-up."""
    if (paediatric := age_scope(case)) is not None:  # under 18: paediatric criteria (RAPNO) and priors differ
        return paediatric
    if case.indication in _OUT_OF_SCOPE:
        return Scope(False, _OUT_OF_SCOPE[case.indication])
    treated = [t for t in case.treatments if t.type not in (TreatmentType.BIOPSY,)]
    if not treated:
        return Scope(
            False,
            "no treatment is recorded: the question 'progression or treatment effect' needs a "
            "previously treated tumour (an untreated lesion is an initial-diagnosis question)",
        )
    first_treatment = min(t.start for t in treated)
    if case.latest.date <= first_treatment:
        return Scope(False, "the latest scan is not after any treatment: nothing to compare with treatment effect")
    if not case.radiation_courses() and case.diagnosis.type.is_glioma:
        return Scope(
            True,
            "treated glioma without radiotherapy recorded: pseudoprogression from radiation is not "
            "expected; assessed for progression with that caveat",
        )
    return Scope(True, "previously treated brain tumour with a follow-up scan after treatment")
