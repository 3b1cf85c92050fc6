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
from .evidence.evaluate import EvidenceOutcome, latest_histology
from .files import load_table
from .handoff import StageOutput
from .question import Question, no_question_text

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


def _procedure(key: str, *, timing: str | None = None) -> tuple[str, str]:
    """The procedure's text (with its usual timing, or ``timing``) and its appropriateness rating."""
    p = advice_table()["procedures"][key]
    when = timing if timing is not None else p.get("timing")
    return str(p["text"]) + (f" {when}" if when else ""), str(p["rating"])


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


_STRONG_FAMILIES = frozenset({"perfusion", "spectroscopy", "pet"})  # problem solvers of §4.3 (not ADC alone)


def recommend(
    case: Case,
    *,
    scope: Scope,
    evidence: EvidenceOutcome | None = None,
    response: ResponseCall | None = None,
    lesions: Mapping[dt.date, Sequence[Lesion]] | None = None,
    markers: Sequence[Marker] | None = None,
    question: Question | None = None,
) -> Recommendation:
    """The next step, its appropriateness rating, the management options, pitfalls and the reasoning.

    Order (issue 12 items 1, 5-7): out of scope → the route; no new or enlarging enhancing lesion → surveillance
    (or, for non-enhancing progression on anti-angiogenic therapy, the tumour board); histology → its answer;
    inside the 12-week window after chemoradiotherapy → continue and confirm (perfusion does not separate the two
    there, Rowe 2018); iRANO unconfirmed PD → the confirmation scan at about 3 months; an equivocal or
    non-measurable new lesion the criteria do not call PD → continue and re-image; otherwise the probability's
    label, with tumour-board routing only when the whole 95 % interval lies on the progression side, and a
    problem-solving study first when no perfusion, spectroscopy or PET result has been weighed.

    Parameters
    ----------
    case
        The case; its latest timepoint is the one advised on.
    scope
        The scope decision (out of scope → only the route).
    evidence
        The evidence stage's outcome (None if it could not run).
    response
        The criteria stage's call for the latest scan (the heading criterion), if any.
    lesions, markers
        Per-date lesions and the latest scan's markers from the earlier stages (default: reported ones).
    question
        Whether the latest scan shows a new or enlarging enhancing lesion (:mod:`pseudoprog.question`).
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
    mgmt = table["management"]
    warnings = pitfalls(case, evidence=evidence, lesions=lesions, markers=mk, response=response)
    if response is not None:
        rationale.append(f"response criteria ({response.criteria}): {response.category}")
    if question is not None and not question.asked:
        return _no_question(question, response, warnings, rationale)
    if question is not None and question.finding in ("new lesion", "enlarging"):
        # Why there is a question to answer: a call of SD can sit beside a volume that grew past its threshold.
        rationale.append(question.reason)
    prob = evidence.probability if evidence is not None else None
    if prob is not None and prob.value is not None and prob.interval is not None:
        rationale.append(
            f"probability of true progression {prob.value:.2f} (95 % interval {prob.interval[0]:.2f}-"
            f"{prob.interval[1]:.2f}; prior {prob.prior:.2f}): {prob.label}"
        )
    label = prob.label if prob is not None else None
    hist = latest_histology(case)
    glioma = case.diagnosis.type.is_glioma
    weeks = case.weeks_since_radiotherapy(latest.date)
    les_latest = (lesions or {}).get(latest.date, latest.lesions)
    out_of_field = any(x.location_vs_rt is LocationVsRT.OUT_OF_FIELD for x in les_latest)
    category = response.category if response is not None else ""
    flags = set((response.reference or {}).get("flags", [])) if response is not None else set()
    window_rule = bool(
        glioma
        and weeks is not None
        and weeks < 12
        and case.treatments_of(TreatmentType.CHEMORADIATION, TreatmentType.RADIOTHERAPY)
        and not out_of_field
        and hist is None
    )
    irano_pending = category.startswith("PD (unconfirmed)") and latest.clinical_status is not ClinicalStatus.WORSE
    equivocal_new = bool(flags & {"equivocal_new_lesion", "new_nonmeasurable_lesion"}) and not category.startswith("PD")
    weighed = evidence.marker_families & _STRONG_FAMILIES if evidence is not None else frozenset()
    perfusion_reported = bool(names & _PERFUSION_MARKERS)
    if hist is not None:
        step, rating = _procedure("tumour_board" if label == "progression favoured" else "mri_short_interval")
        management = mgmt["progression" if label == "progression favoured" else "treatment_effect"]
        rationale.append(f"histology on {hist[0]} ({hist[1].value}) decides the question (clinical_rules §6 C12)")
    elif window_rule:
        step, rating = _procedure("mri_short_interval", timing="in 4-8 weeks to confirm (RANO 2.0 confirmation scan)")
        management = mgmt["watch_12_weeks"]
        rationale.append(
            f"{weeks:.1f} weeks after chemoradiotherapy, in-field: continue therapy and confirm on a short-interval "
            "scan; perfusion does not separate pseudoprogression from early progression in this window "
            "(Rowe 2018: raised CBV in 93 % of PsP and 74 % of early TP, clinical_rules §6 C16)"
        )
    elif irano_pending:
        step, rating = _procedure("mri_short_interval", timing=str(table["irano_confirmation_timing"]))
        management = mgmt["irano"]
        rationale.append("iRANO: unconfirmed progression in a patient not clinically worse: confirm before changing")
    elif equivocal_new:
        step, rating = _procedure("mri_short_interval")
        management = mgmt["equivocal_new_lesion"]
        under = response.criteria if response is not None else "the criteria"
        rationale.append(
            f"an equivocal or non-measurable new lesion is not progression under {under} yet: continue and "
            "re-image; progression is back-dated if it is confirmed (Lin 2015)"
        )
    elif out_of_field and label == "progression favoured" and category.startswith("PD"):
        # Issue 12 review (vignettes 69, 85): new enhancement outside every radiation field cannot be radiation
        # necrosis, the criteria already call it PD (RANO 2010 [V: R1e]; RANO-BM new lesion, Lin 2015) and the
        # whole interval is on the progression side: perfusion would not change the question, the team decides.
        step, rating = _procedure("tumour_board")
        management = mgmt["progression"]
        rationale.append(
            "new enhancement outside every radiation field: the criteria call PD and radiation necrosis cannot "
            "explain it; the whole 95 % interval lies on the progression side: tumour board"
        )
    elif not weighed and not perfusion_reported:
        step, rating = _procedure("mri_perfusion")
        management = mgmt["awaiting_perfusion"]
        rationale.append(
            "no perfusion, spectroscopy or PET result weighed at the latest scan: perfusion MRI is the first-line "
            "problem solver"
        )
    elif label == "progression favoured" and weighed:
        step, rating = _procedure("tumour_board")
        management = mgmt["progression"]
        rationale.append("the whole 95 % interval lies on the progression side: tumour board")
    elif label == "treatment effect favoured" and weighed:
        step, rating = _procedure("mri_short_interval")
        management = mgmt["treatment_effect"]
        rationale.append("the whole 95 % interval lies on the treatment-effect side: continue and re-image")
    else:
        management = mgmt["indeterminate"]
        if not weighed:
            rationale.append(
                "perfusion is reported but carries no applicable likelihood ratio (no portable cut-off or no "
                "evidence result): treated as non-diagnostic"
            )
        # The next study is one not yet done (issue 12 review, vignette 82): perfusion first ([SEED: S1] first-line
        # problem solver), then MRS and/or PET, then tissue; never a study the case already reports.
        if not perfusion_reported:
            step, rating = _procedure("mri_perfusion")
            management = mgmt["awaiting_perfusion"]  # the options by the perfusion result, as when nothing is weighed
        elif not names & _MRS_MARKERS and not names & _PET_MARKERS:
            step, rating = _procedure("mrs")
            pet_text, _ = _procedure("pet")
            step = f"{step} (or {pet_text})"
        elif not names & _MRS_MARKERS:
            step, rating = _procedure("mrs")
        elif not names & _PET_MARKERS:
            step, rating = _procedure("pet")
        else:
            step, rating = _procedure("biopsy")
        rationale.append("the result is indeterminate: a second-line study (or tissue) may settle it")
    ct_text, ct_rating = _procedure("not_appropriate")
    rationale.append(f"{ct_text}: {ct_rating}")
    rationale.append(str(table["rating_caveat"]))
    return _recommendation(step, rating, management, warnings, rationale)


def run_advice(
    case: Case,
    scope: Scope,
    *,
    evidence: EvidenceOutcome | None,
    response: ResponseCall | None,
    lesions: Mapping[dt.date, Sequence[Lesion]],
    markers: Mapping[dt.date, Sequence[Marker]],
    question: Question | None = None,
) -> StageOutput:
    """The advice stage of the flow: the recommendation in ``results[Recommendation]``."""
    out = StageOutput()
    latest = markers.get(case.latest.date, [])
    out.results[Recommendation] = recommend(
        case, scope=scope, evidence=evidence, response=response, lesions=lesions, markers=latest, question=question
    )
    return out


def _recommendation(
    step: str, rating: str | None, management: str | None, warnings: list[str], rationale: list[str]
) -> Recommendation:
    """The recommendation as returned: repeated warnings said once, in the order they arose."""
    return Recommendation(
        next_step=step,
        rating=rating,
        management=management,
        warnings=tuple(dict.fromkeys(warnings)),
        rationale=tuple(rationale),
    )


def _no_question(
    question: Question, response: ResponseCall | None, warnings: list[str], rationale: list[str]
) -> Recommendation:
    """No new or enlarging enhancing lesion: say what the data show and route to surveillance."""
    table = advice_table()
    rationale.append(no_question_text(question))
    if question.non_enhancing_progression:
        step, rating = _procedure("tumour_board")
        rationale.append(
            "non-enhancing (T2/FLAIR) progression on anti-angiogenic therapy is progression under RANO 2010 "
            "(Wen 2010): not a pseudoprogression question"
        )
        management = table["management"]["non_enhancing_progression"]
    elif question.finding == "not searched":
        step = str(table["read_for_new_lesions"]["text"])
        rating = str(table["read_for_new_lesions"]["rating"])
        management = table["management"]["not_searched"]
    elif question.finding == "none found":
        step = str(table["confirm_none_found"]["text"])
        rating = str(table["read_for_new_lesions"]["rating"])
        management = table["management"]["none_found"]
    else:
        step = f"{table['surveillance']['text']} ({question.finding})"
        rating = str(table["surveillance"]["rating"])
        management = table["management"]["surveillance"]
        if question.notes:
            management += " " + table["management"]["clinical_change_stable_imaging"]
    return _recommendation(step, rating, management, warnings, rationale)
