"""The criteria stage of the flow: every criterion over the timeline, the one that fits the case first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from ..assessment import ResponseCall
from ..case import Case, Lesion
from ..handoff import StageOutput

# Flags of the latest call that become case warnings (clinical_rules §1.3.3, §4.4).
WARNINGS = {
    "within_rt_window": "the latest scan is within 12 weeks of the end of radiotherapy: enlargement may be "
    "pseudoprogression; progression is not declared on size alone (clinical_rules §1.3.3, §4.4)",
    "treatment_effect_possible_after_srs": "an irradiated metastasis enlarged after radiosurgery: radiation "
    "necrosis or other treatment effect is possible although RANO-BM calls progression by size",
    "growth_in_irradiated_field": "the growing lesion lies in the irradiated field: late treatment effect remains "
    "possible",
    "measurement_source_changed": "target measurements come from different sources across timepoints",
}


@dataclass(frozen=True)
class CriteriaOutcome:
    """The criterion that fits the case (``response``) and the others beside it."""

    response: ResponseCall
    others: tuple[ResponseCall, ...]


def run_criteria(case: Case, lesions: Mapping[dt.date, tuple[Lesion, ...]]) -> StageOutput:
    """A criterion that cannot be assessed is still reported, with category "cannot assess" and its reason."""
    from . import assess_all, to_response_call

    out = StageOutput()
    chosen, why, results = assess_all(case, lesions)
    response = to_response_call(results[chosen], selection_reason=why)
    others = tuple(to_response_call(r) for name, r in results.items() if name != chosen)
    out.results[CriteriaOutcome] = CriteriaOutcome(response, others)
    main = results[chosen]
    latest = main.latest
    if latest is not None:
        out.warnings.extend(f"{chosen}: {WARNINGS[flag]}" for flag in latest.flags if flag in WARNINGS)
    if main.reason:
        out.skip("criteria", f"{chosen}: {main.reason}")
    elif latest is not None and latest.reason:
        out.skip("criteria", f"{chosen} at the latest scan: {latest.reason}", timepoint=latest.date)
    return out
