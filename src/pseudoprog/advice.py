"""Next step and management pathway for one case (clinical_rules.md §4: scope, ACR ratings, pathway, pitfalls).

Scope first: a case outside pseudoprog's question gets its route and nothing else. In scope, the state
machine of §4.3 runs on what is known: no perfusion yet → perfusion MRI (usually appropriate); with
perfusion, the posterior's label picks the branch (progression favoured → tumour board and referral;
treatment effect favoured → continue therapy, MRI in 6-8 weeks; indeterminate or mixed → MRS and/or PET,
then biopsy). Time rules (12-week window, iRANO) add their own management text. The pitfalls of §4.4 are
returned as warnings. Texts, ratings and sources live in ``data/advice.yaml``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from .assessment import Recommendation, ResponseCall, Scope
from .case import Case, ClinicalStatus, Lesion, LocationVsRT, Marker, SeriesKind, TreatmentType
from .evidence.evaluate import EvidenceOutcome
from .files import load_table
from .handoff import StageOutput

_PERFUSION_MARKERS = frozenset(
    {"rcbv_max", "rcbv_mean", "rcbf_max", "ftb_high", "ftb_low", "psr", "ktrans_mean", "ktrans_max", "vp_mean"}
    | {"ve_mean", "asl_rcbf_max", "asl_cbf_max"}
)
_DSC_MARKERS = frozenset({"rcbv_max", "rcbv_mean", "ftb_high", "ftb_low"})
_MRS_MARKERS = frozenset({"cho_naa", "cho_cr", "naa_cr", "lipid_lactate_cr"})
_PET_MARKERS = frozenset({"pet_tbr_max", "pet_tbr_mean", "pet_suv_max", "pet_fet_tbr_max"})
_POST_RT_BASELINE_WEEKS = 8  # an "immediate post-RT" scan within 8 weeks of the end of RT (§1.4, C17) [DERIVED]
_IRANO_WINDOW_DAYS = 183  # iRANO: within 6 months of starting immunotherapy [V: R5]


@cache
def advice_table() -> dict[str, Any]:
    """The sourced next-step table ``pseudoprog/data/advice.yaml``."""
    return load_table("", "advice")


def _procedure(key: str) -> tuple[str, str]:
    p = advice_table()["procedures"][key]
    return str(p["text"]), str(p["rating"])


def _has_baseline(case: Case) -> bool:
    """A pre-RT scan, or one within 8 weeks after the end of the course the latest scan is measured from."""
    latest = case.latest.date
    courses = [t for t in case.radiation_courses() if t.last_day <= latest]
    if not courses:
        return True  # no radiotherapy: the baseline question of §4.4 does not arise
    course = max(courses, key=lambda t: t.last_day)
    earlier = [tp.date for tp in case.timepoints[:-1]]
    surgery = [t.start for t in case.treatments_of(TreatmentType.SURGERY) if t.start <= course.start]
    after_surgery = max(surgery) if surgery else dt.date.min
    pre = any(after_surgery <= d <= course.start for d in earlier)
    post = any(0 <= (d - course.last_day).days <= 7 * _POST_RT_BASELINE_WEEKS for d in earlier)
    return pre or post


def pitfalls(
    case: Case,
    *,
    evidence: EvidenceOutcome | None,
    lesions: Mapping[dt.date, Sequence[Lesion]] | None,
    markers: Sequence[Marker],
    response: ResponseCall | None = None,
) -> list[str]:
    """The §4.4 pitfalls that apply to this case, as warnings."""
    pf = advice_table()["pitfalls"]
    out: list[str] = []
    latest = case.latest
    glioma = case.diagnosis.type.is_glioma
    weeks = case.weeks_since_radiotherapy(latest.date)
    chemoradiation = bool(case.treatments_of(TreatmentType.CHEMORADIATION, TreatmentType.RADIOTHERAPY))
    if glioma and chemoradiation and weeks is not None and weeks < 12:
        out.append(pf["within_12_weeks"])
    if not _has_baseline(case):
        out.append(pf["no_baseline"])
    if len(case.timepoints) < 2:
        out.append(pf["single_scan"])
    else:
        les = lesions or {}
        unmeasured = [
            tp.date
            for tp in case.timepoints[:-1]
            if not any(x.measurement.bidimensional_product_mm2 is not None for x in les.get(tp.date, tp.lesions))
        ]
        if unmeasured:
            out.append(pf["not_all_priors"] + f" ({len(unmeasured)} of {len(case.timepoints) - 1} earlier scans)")
    names = {m.name for m in markers}
    has_perfusion_series = bool(
        latest.series_of(SeriesKind.DSC) or latest.series_of(SeriesKind.DCE) or latest.series_of(SeriesKind.ASL)
    )
    if not names & _PERFUSION_MARKERS and not has_perfusion_series:
        out.append(pf["perfusion_not_acquired"])
    dsc = [m for m in markers if m.name in _DSC_MARKERS]
    if any(m.quality.get("leakage_corrected") is False for m in dsc):
        out.append(pf["perfusion_not_leakage_corrected"])
    elif any("leakage_corrected" not in m.quality for m in dsc):
        out.append(pf["perfusion_leakage_unknown"])
    steroids = latest.steroids_mg_dexamethasone
    if steroids is not None and steroids > 0:
        out.append(pf["steroids"])
    before = [t for t in case.treatments if t.start <= latest.date]
    if any(t.type is TreatmentType.BEVACIZUMAB for t in before):
        out.append(pf["bevacizumab"])
    if any(t.type is TreatmentType.IMMUNOTHERAPY for t in before):
        out.append(pf["immunotherapy"])
    if evidence is not None and evidence.probability.label == "mixed / indeterminate":
        out.append(pf["mixed_lesion"])
    elif any(x.component in ("necrotic_rim", "nodule_in_cyst") for x in latest.lesions):
        out.append(pf["mixed_lesion"])
    if evidence is not None:
        label = evidence.probability.label
        status = latest.clinical_status
        if (label == "treatment effect favoured" and status is ClinicalStatus.WORSE) or (
            label == "progression favoured" and status is ClinicalStatus.IMPROVED
        ):
            out.append(pf["discordant"])
        if response is not None and response.category.upper().startswith("PD") and label == "treatment effect favoured":
            out.append(pf["criteria_size_only"])
        months = evidence.facts.months_since_rt
        if evidence.facts.metastasis and months is not None and months > 9:
            out.append(pf["late_metastasis_opinion"])
    out.append(pf["differential"])
    return out


def recommend(
    case: Case,
    *,
    scope: Scope,
    evidence: EvidenceOutcome | None = None,
    response: ResponseCall | None = None,
    lesions: Mapping[dt.date, Sequence[Lesion]] | None = None,
    markers: Sequence[Marker] | None = None,
) -> Recommendation:
    """The next step, its appropriateness rating, the management pathway, pitfalls and the reasoning.

    Parameters
    ----------
    case
        The case; its latest timepoint is the one advised on.
    scope
        The scope decision (out of scope → only the route).
    evidence
        The evidence stage's outcome (None if it could not run).
    response
        The criteria stage's call for the latest scan, if any.
    lesions, markers
        Per-date lesions and the latest scan's markers from the earlier stages (default: reported ones).
    """
    table = advice_table()
    if not scope.in_scope:
        routes = table["out_of_scope_routes"]
        route = routes.get(case.indication.value, routes["default"])
        return Recommendation(
            next_step=f"outside scope: {route}",
            rating=None,
            management=None,
            warnings=(),
            rationale=(scope.reason,),
        )
    latest = case.latest
    mk = list(markers) if markers is not None else [*latest.markers.values()]
    if markers is None:
        mk += [m for x in latest.lesions for m in x.markers.values()]
    names = {m.name for m in mk}
    rationale: list[str] = []
    warnings = pitfalls(case, evidence=evidence, lesions=lesions, markers=mk, response=response)
    if response is not None:
        rationale.append(f"response criteria ({response.criteria}): {response.category}")
    glioma = case.diagnosis.type.is_glioma
    weeks = case.weeks_since_radiotherapy(latest.date)
    les_latest = (lesions or {}).get(latest.date, latest.lesions)
    out_of_field = any(x.location_vs_rt is LocationVsRT.OUT_OF_FIELD for x in les_latest)
    window_rule = bool(
        glioma
        and weeks is not None
        and weeks < 12
        and case.treatments_of(TreatmentType.CHEMORADIATION, TreatmentType.RADIOTHERAPY)
        and not out_of_field
        and not any(tp.histology or tp.histology_result is not None for tp in case.timepoints)
    )
    ici_recent = [
        t
        for t in case.treatments_of(TreatmentType.IMMUNOTHERAPY)
        if 0 <= (latest.date - t.start).days <= _IRANO_WINDOW_DAYS
    ]
    irano_rule = bool(ici_recent) and latest.clinical_status is not ClinicalStatus.WORSE
    mgmt = table["management"]
    extra_management: list[str] = []
    if window_rule:
        extra_management.append(mgmt["watch_12_weeks"])
    if irano_rule:
        extra_management.append(mgmt["irano"])
    prob = evidence.probability if evidence is not None else None
    if prob is not None and prob.value is not None and prob.interval is not None:
        rationale.append(
            f"probability of true progression {prob.value:.2f} (95 % interval {prob.interval[0]:.2f}-"
            f"{prob.interval[1]:.2f}; prior {prob.prior:.2f}): {prob.label}"
        )
    has_perfusion = bool(names & _PERFUSION_MARKERS)
    perfusion_weighed = evidence is not None and "perfusion" in evidence.marker_families
    if not has_perfusion:
        step, rating = _procedure("mri_perfusion")
        management = mgmt["awaiting_perfusion"]
        rationale.append("no perfusion result at the latest scan: perfusion MRI is the first-line problem solver")
    else:
        label = prob.label if prob is not None and perfusion_weighed else None
        if not perfusion_weighed:
            rationale.append(
                "perfusion is reported but carries no applicable likelihood ratio (no portable cut-off or no "
                "evidence result): treated as non-diagnostic"
            )
        if label == "progression favoured":
            step, rating = _procedure("tumour_board")
            management = mgmt["progression"]
            rationale.append("perfusion and the other evidence favour true progression")
        elif label == "treatment effect favoured":
            step, rating = _procedure("mri_short_interval")
            management = mgmt["treatment_effect"]
            rationale.append("perfusion and the other evidence favour treatment effect")
        else:
            management = mgmt["indeterminate"]
            if not names & _MRS_MARKERS:
                step, rating = _procedure("mrs")
                pet_text, _ = _procedure("pet")
                step = f"{step} (or {pet_text})"
            elif not names & _PET_MARKERS:
                step, rating = _procedure("pet")
            else:
                step, rating = _procedure("biopsy")
            rationale.append("the result is indeterminate after perfusion: a second-line study may settle it")
    if extra_management:
        management = " ".join([*extra_management, management])
    ct_text, ct_rating = _procedure("not_appropriate")
    rationale.append(f"{ct_text}: {ct_rating}")
    rationale.append(str(table["rating_caveat"]))
    return Recommendation(
        next_step=step,
        rating=rating,
        management=management,
        warnings=tuple(dict.fromkeys(warnings)),
        rationale=tuple(rationale),
    )


def run_advice(
    case: Case,
    scope: Scope,
    *,
    evidence: EvidenceOutcome | None,
    response: ResponseCall | None,
    lesions: Mapping[dt.date, Sequence[Lesion]],
    markers: Mapping[dt.date, Sequence[Marker]],
) -> StageOutput:
    """The advice stage of the flow: the recommendation in ``results[Recommendation]``."""
    out = StageOutput()
    latest = markers.get(case.latest.date, [])
    out.results[Recommendation] = recommend(
        case, scope=scope, evidence=evidence, response=response, lesions=lesions, markers=latest
    )
    return out
