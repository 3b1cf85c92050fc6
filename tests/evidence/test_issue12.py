"""Issue 12, the evidence core: priors continuous in time, re-derived LRs, a dependence model, labels that
follow the interval, refused impossible markers and perfusion under bevacizumab.

Property tests (hypothesis) first, then worked vignettes. Each vignette states its source and the range that
source implies, written before the test was run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pseudoprog.case import (
    Case,
    ClinicalStatus,
    Diagnosis,
    DiagnosisType,
    FlairChange,
    Lesion,
    LesionMeasurement,
    LocationVsRT,
    Marker,
    MarkerStatus,
    Patient,
    Timepoint,
    Treatment,
    TreatmentType,
)
from pseudoprog.errors import InputError
from pseudoprog.evidence import evaluate_case
from pseudoprog.markers import make_marker

from .helpers import glioma_case

N = 400
SRS_DAY = dt.date(2025, 6, 2)

# marker -> (values it may take, +1 if higher suggests tumour, -1 if lower does)
LR_MARKERS = {
    "rcbv_max": (st.floats(min_value=0.3, max_value=8.0), 1),
    "adc_mean": (st.floats(min_value=0.0006, max_value=0.0022), -1),
    "cho_naa": (st.floats(min_value=0.3, max_value=4.0), 1),
    "pet_fet_tbr_max": (st.floats(min_value=0.8, max_value=5.0), 1),
}
NO_LR = {  # reported, never weighed: no portable cut-off (clinical_rules §2.2, §2.5, §2.8) or tracer unknown
    "ktrans_mean": 0.12,
    "lesion_quotient": 0.4,
    "oedema_ratio": 6.0,
    "naa_cr": 1.1,
    "cho_cr": 2.4,
    "asl_rcbf_max": 2.0,
}


def metastasis_case(
    *,
    days_after_srs: int,
    markers: dict[str, float] | None = None,
    clinical: ClinicalStatus = ClinicalStatus.UNKNOWN,
) -> Case:
    """A metastasis treated with single-fraction radiosurgery that enlarges ``days_after_srs`` later."""
    marks = {k: make_marker(k, v, source="reported") for k, v in (markers or {}).items()}
    return Case(
        Patient("M-12", 61),
        Diagnosis(DiagnosisType.METASTASIS, primary="lung"),
        (Treatment(TreatmentType.SRS, SRS_DAY, dose_gy=20, fractions=1),),
        (
            Timepoint(
                SRS_DAY + dt.timedelta(days=60), lesions=(Lesion("L1", LesionMeasurement(long_mm=10, perp_mm=8)),)
            ),
            Timepoint(
                SRS_DAY + dt.timedelta(days=days_after_srs),
                clinical_status=clinical,
                markers=marks,
                lesions=(Lesion("L1", LesionMeasurement(long_mm=15, perp_mm=12)),),
            ),
        ),
    )


def glioma_on_day(days_after_rt: int, **kw) -> Case:
    return glioma_case(weeks_after_rt=days_after_rt / 7.0, **kw)


def with_bevacizumab(case: Case) -> Case:
    start = case.treatments[-1].last_day + dt.timedelta(days=7)
    return dataclasses.replace(case, treatments=(*case.treatments, Treatment(TreatmentType.BEVACIZUMAB, start)))


def _p(case: Case) -> float:
    value = evaluate_case(case, n_draws=N).probability.value
    assert value is not None
    return value


marker_sets = st.fixed_dictionaries({}, optional={k: v for k, (v, _) in LR_MARKERS.items() if k != "pet_fet_tbr_max"})


# ---------------------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(LR_MARKERS)),
    data=st.data(),
    days=st.integers(min_value=7, max_value=900),
    metastasis=st.booleans(),
    bev=st.booleans(),
    others=marker_sets,
)
def test_probability_is_monotone_in_each_marker_direction(name, data, days, metastasis, bev, others):
    values, sign = LR_MARKERS[name]
    a, b = data.draw(values), data.draw(values)
    lo, hi = min(a, b), max(a, b)
    rest = {k: v for k, v in others.items() if k != name}
    if "rcbv_max" in rest:
        rest["rcbv_max"] = max(rest["rcbv_max"], 0.3)

    def case(v: float) -> Case:
        marks = {**rest, name: v}
        c = metastasis_case(days_after_srs=days, markers=marks) if metastasis else glioma_on_day(days, markers=marks)
        return with_bevacizumab(c) if bev and not metastasis else c

    p_lo, p_hi = _p(case(lo)), _p(case(hi))
    assert (p_hi - p_lo) * sign >= -1e-12


@settings(max_examples=60, deadline=None)
@given(
    days=st.integers(min_value=1, max_value=1100),
    metastasis=st.booleans(),
    markers=marker_sets,
    mgmt=st.sampled_from(list(MarkerStatus)),
    flair=st.booleans(),
)
@example(days=268, metastasis=True, markers={"rcbv_max": 3.6}, mgmt=MarkerStatus.UNKNOWN, flair=False)  # 8.8 mo
@example(days=280, metastasis=True, markers={"rcbv_max": 3.6}, mgmt=MarkerStatus.UNKNOWN, flair=False)  # 9.2 mo
@example(days=84, metastasis=False, markers={"rcbv_max": 4.0}, mgmt=MarkerStatus.METHYLATED, flair=True)  # 12 w
@example(days=105, metastasis=False, markers={"rcbv_max": 4.0}, mgmt=MarkerStatus.METHYLATED, flair=True)
@example(
    days=182, metastasis=False, markers={"rcbv_max": 0.8, "adc_mean": 0.0016}, mgmt=MarkerStatus.UNKNOWN, flair=False
)  # 26 w
def test_moving_the_scan_by_one_day_moves_the_probability_by_at_most_0_05(days, metastasis, markers, mgmt, flair):
    def case(d: int) -> Case:
        if metastasis:
            return metastasis_case(days_after_srs=d, markers=markers)
        c = glioma_on_day(d, markers=markers, mgmt=mgmt)
        if flair:
            tps = c.timepoints
            c = dataclasses.replace(
                c, timepoints=(tps[0], dataclasses.replace(tps[1], flair_change=FlairChange.DECREASED))
            )
        return c

    assert abs(_p(case(days + 1)) - _p(case(days))) <= 0.05


@settings(max_examples=30, deadline=None)
@given(
    days=st.integers(min_value=7, max_value=900),
    metastasis=st.booleans(),
    markers=marker_sets,
    extra=st.sampled_from(sorted(NO_LR)),
)
def test_adding_a_marker_without_a_likelihood_ratio_changes_nothing(days, metastasis, markers, extra):
    def case(marks: dict[str, float]) -> Case:
        return metastasis_case(days_after_srs=days, markers=marks) if metastasis else glioma_on_day(days, markers=marks)

    base = evaluate_case(case(markers), n_draws=N).probability
    more = evaluate_case(case({**markers, extra: NO_LR[extra]}), n_draws=N).probability
    assert more.value == base.value and more.interval == base.interval and more.label == base.label


@settings(max_examples=30, deadline=None)
@given(days=st.integers(min_value=1, max_value=1100), tumour=st.booleans(), metastasis=st.booleans())
def test_concordant_evidence_never_leaves_0_02_to_0_98_without_histology(days, tumour, metastasis):
    marks = (
        {"rcbv_max": 8.0, "rcbv_mean": 5.0, "adc_mean": 0.0006, "cho_naa": 4.0, "pet_fet_tbr_max": 5.0}
        if tumour
        else {"rcbv_max": 0.3, "rcbv_mean": 0.3, "adc_mean": 0.0022, "cho_naa": 0.3, "pet_fet_tbr_max": 0.8}
    )
    if metastasis:
        case = metastasis_case(days_after_srs=days, markers=marks)
    else:
        case = glioma_on_day(
            days,
            markers=marks,
            mgmt=MarkerStatus.UNMETHYLATED if tumour else MarkerStatus.METHYLATED,
            clinical=ClinicalStatus.WORSE if tumour else ClinicalStatus.STABLE,
            location=LocationVsRT.OUT_OF_FIELD if tumour else LocationVsRT.IN_FIELD,
        )
    p = evaluate_case(case, n_draws=N).probability
    assert p.value is not None and p.interval is not None
    assert 0.02 <= p.interval[0] <= p.value <= p.interval[1] <= 0.98


@settings(max_examples=40, deadline=None)
@given(days=st.integers(min_value=1, max_value=1100), metastasis=st.booleans(), markers=marker_sets)
def test_labels_agree_with_the_interval(days, metastasis, markers):
    case = metastasis_case(days_after_srs=days, markers=markers) if metastasis else glioma_on_day(days, markers=markers)
    p = evaluate_case(case, n_draws=N).probability
    assert p.interval is not None
    lo, hi = p.interval
    if p.label == "progression favoured":
        assert lo > 0.5
    elif p.label == "treatment effect favoured":
        assert hi < 0.5
    else:
        assert p.label in ("indeterminate", "mixed / indeterminate")
        if p.label == "indeterminate":
            assert lo <= 0.5 <= hi


# ---------------------------------------------------------------------------------------------------------
# Vignettes (expected ranges written from the source before running)
# ---------------------------------------------------------------------------------------------------------


def test_vignette_late_post_srs_metastasis_with_high_rcbv_is_progression_favoured():
    """14 months after radiosurgery, enlarging, rCBV max 3.6. Source: clinical_rules §3.3 correction (prior near
    equipoise, 0.3-0.6, not 0.063); DSC accuracy in irradiated metastases LR+ 4.2 (PMC7004193) to 17
    (AJR 2018;211:1332). Expected: odds 0.6 × 4.2-17 -> P 0.70-0.93, whole interval above 0.5."""
    out = evaluate_case(metastasis_case(days_after_srs=426, markers={"rcbv_max": 3.6}))
    p = out.probability
    assert 0.70 <= p.value <= 0.93
    assert p.label == "progression favoured" and p.interval[0] > 0.5
    assert 0.3 <= p.prior <= 0.6


def test_vignette_post_srs_metastasis_at_8_8_and_9_2_months_gets_the_same_answer():
    """Issue 12: no cliff at 9 months (Narloch 2017 split its series there; the biology does not step)."""
    a = evaluate_case(metastasis_case(days_after_srs=268, markers={"rcbv_max": 3.6})).probability
    b = evaluate_case(metastasis_case(days_after_srs=280, markers={"rcbv_max": 3.6})).probability
    assert abs(a.value - b.value) < 0.02 and abs(a.prior - b.prior) < 0.02 and a.label == b.label


def test_vignette_early_window_glioma_with_high_rcbv_is_not_confidently_progression():
    """6 weeks after chemoradiation, rCBV max 4.0. Source: Rowe 2018 (J Neurooncol 139:145; clinical_rules §6 C16):
    elevated CBV in 93 % of PsP and 74 % of early TP, no separation within 12 weeks. Expected: LR ~ 1, so P stays
    at the early-enlarger prior 0.57 (207/363), label indeterminate, and a warning names the window."""
    out = evaluate_case(glioma_case(weeks_after_rt=6, markers={"rcbv_max": 4.0}))
    p = out.probability
    assert p.value == pytest.approx(0.57, abs=0.03)
    assert p.label == "indeterminate" and p.interval[0] < 0.5
    assert any("Rowe 2018" in w for w in out.warnings)


def test_vignette_late_glioma_with_low_rcbv_is_treatment_effect_or_indeterminate_by_its_interval():
    """40 weeks after chemoradiation, rCBV max 1.1. Source: Patel 2017 / Fu 2022 (max rCBV LR- 0.09-0.21) on a
    late prior ~0.8 (late RN 5-25 %). Expected: odds 4 × 0.09-0.21 -> P 0.26-0.46; the label follows the interval."""
    p = evaluate_case(glioma_case(weeks_after_rt=40, markers={"rcbv_max": 1.1})).probability
    assert 0.26 <= p.value <= 0.46
    assert p.label == ("treatment effect favoured" if p.interval[1] < 0.5 else "indeterminate")


def test_vignette_early_fet_uses_the_pooled_lr_not_the_single_study_infinite_one():
    """8 weeks after chemoradiation, FET TBRmax 2.6. Source: FET meta-analysis, TBRmax 1.9-2.3, sens 0.91 /
    spec 0.84 (LR+ 5.7), replacing Galldiks 2015's spec 100 % (LR capped at 20). Expected: odds 1.33 × 5.7 -> 0.88
    (0.80-0.92); the single-study row would have given > 0.95."""
    out = evaluate_case(glioma_case(weeks_after_rt=8, markers={"pet_fet_tbr_max": 2.6}))
    assert 0.80 <= out.probability.value <= 0.92
    fet = next(i for i in out.items if i.name == "pet_fet_tbr_max")
    assert fet.likelihood_ratio == pytest.approx(0.91 / 0.16, rel=1e-3) and "L17-early" in fet.note


def test_vignette_steroid_increase_alone_is_not_confident_progression():
    """8 weeks after chemoradiation, dexamethasone 2 -> 8 mg, nothing else. Source: Rowe 2018 gives an odds ratio
    (4.89, 1.003-19.27), not a likelihood ratio; §6 C11 calls it a weak signal. Expected: listed, not applied;
    P = the prior 0.57, indeterminate."""
    case = glioma_case(weeks_after_rt=8)
    tps = case.timepoints
    case = dataclasses.replace(
        case,
        timepoints=(
            dataclasses.replace(tps[0], steroids_mg_dexamethasone=2),
            dataclasses.replace(tps[1], steroids_mg_dexamethasone=8),
        ),
    )
    out = evaluate_case(case)
    assert out.probability.value == pytest.approx(0.57, abs=1e-9) and out.probability.label == "indeterminate"
    steroid = next(i for i in out.items if i.name == "steroid_escalation")
    assert steroid.likelihood_ratio is None and "not applied" in steroid.note


def test_vignette_disagreeing_modalities_widen_the_interval_and_are_mixed():
    """30 weeks, rCBV max 3.5 (tumour) against Cho/NAA 1.0 (treatment effect). Source: clinical_rules §3.5
    ("mixed" must be allowed), issue 12 (the interval widens when modalities disagree). Expected: the interval
    wider than with either marker alone, label "mixed / indeterminate"."""

    def width(marks: dict[str, float]) -> float:
        p = evaluate_case(glioma_case(weeks_after_rt=30, markers=marks)).probability
        return p.interval[1] - p.interval[0]

    both = evaluate_case(glioma_case(weeks_after_rt=30, markers={"rcbv_max": 3.5, "cho_naa": 1.0}))
    assert both.probability.label == "mixed / indeterminate"
    assert width({"rcbv_max": 3.5, "cho_naa": 1.0}) > max(width({"rcbv_max": 3.5}), width({"cho_naa": 1.0}))
    assert both.fusion.heterogeneity_sd > 0


def test_vignette_dependence_model_is_stated_and_weaker_than_multiplication():
    """40 weeks, rCBV 4.0, ADC 0.9e-3, Cho/NAA 2.5: three concordant families. Source: §3.6 (families are not
    independent); the seed review's combination accuracies imply rho ~0.3. Expected: below the naive product,
    never above 0.98, and an evidence row names the model and rho."""
    marks = {"rcbv_max": 4.0, "adc_mean": 0.0009, "cho_naa": 2.5}
    out = evaluate_case(glioma_case(weeks_after_rt=40, markers=marks))
    naive = evaluate_case(glioma_case(weeks_after_rt=40, markers=marks), naive=True)
    assert out.fusion.log_odds_posterior < naive.fusion.log_odds_posterior
    assert out.probability.value <= 0.98
    row = next(i for i in out.items if i.name == "dependence_model")
    assert "rho 0.3" in row.source and row.value > 1


def test_vignette_low_rcbv_under_bevacizumab_is_down_weighted_with_the_reason():
    """30 weeks after chemoradiation, on bevacizumab, rCBV max 0.8. Source: anti-VEGF therapy lowers rCBV whatever
    the tissue (clinical_rules §2.1/§3.2; RANO 2010 non-enhancing progression). Expected: the low rCBV is
    down-weighted to LR^0.5 (issue 12 item 5: down-weighted with the reason), a row says why; a high rCBV still
    counts in full."""
    bev = with_bevacizumab(glioma_case(weeks_after_rt=30))
    low = dataclasses.replace(
        bev,
        timepoints=(
            bev.timepoints[0],
            dataclasses.replace(bev.timepoints[1], markers={"rcbv_max": make_marker("rcbv_max", 0.8, source="r")}),
        ),
    )
    high = dataclasses.replace(
        low,
        timepoints=(
            low.timepoints[0],
            dataclasses.replace(low.timepoints[1], markers={"rcbv_max": make_marker("rcbv_max", 4.0, source="r")}),
        ),
    )
    out = evaluate_case(low)
    without_bev = evaluate_case(dataclasses.replace(low, treatments=glioma_case(weeks_after_rt=30).treatments))
    lr_full = next(c for c in without_bev.applied if c.name == "rcbv_max").log_lr
    lr_bev = next(c for c in out.applied if c.name == "rcbv_max").log_lr
    assert lr_full < 0 and lr_bev == pytest.approx(0.5 * lr_full, rel=1e-9)
    assert out.probability.value < evaluate_case(bev).probability.value
    note = next(i for i in out.items if i.name == "bevacizumab_rcbv_max")
    assert "bevacizumab" in note.note and "lowers rCBV" in note.note
    assert evaluate_case(high).probability.value > out.probability.value + 0.05


def test_vignette_impossible_marker_sets_are_refused_naming_the_field():
    """rCBV max below rCBV mean, or a negative CBV, cannot be measured (clinical_rules §5.1): refused, not weighed."""
    bad = glioma_case(weeks_after_rt=30, markers={"rcbv_max": 1.2, "rcbv_mean": 2.0})
    with pytest.raises(InputError, match=r"rcbv_max.*below rcbv_mean") as err:
        evaluate_case(bad)
    assert err.value.field == "timepoints[1].markers.rcbv_max" and err.value.file == "case.yaml"
    case = glioma_case(weeks_after_rt=30)
    neg = dataclasses.replace(
        case,
        timepoints=(
            case.timepoints[0],
            dataclasses.replace(case.timepoints[1], markers={"rcbv_mean": Marker("rcbv_mean", -0.5, "ratio", "r")}),
        ),
    )
    with pytest.raises(InputError, match="plausible range"):
        evaluate_case(neg)


def test_vignette_cho_cr_has_no_cut_off_of_its_own_and_is_reported():
    """Zhang 2014 gives Cho/Cr accuracy but no verified cut-off; 1.71-1.8 was the Cho/NAA range (issue 12)."""
    out = evaluate_case(glioma_case(weeks_after_rt=30, markers={"cho_cr": 2.4}))
    row = next(i for i in out.items if i.name == "cho_cr")
    assert row.likelihood_ratio is None and "not applied" in row.note
    assert math.isclose(out.probability.value, out.probability.prior)


def test_a_fet_tbr_max_below_half_the_background_is_refused_naming_the_marker():
    """Issue 12 review (vignette 81, end to end an InputError): 0.3 x the normal-brain mean cannot be a TBRmax."""
    from pseudoprog.markers import check_marker_value

    problem = check_marker_value("pet_fet_tbr_max", 0.3)
    assert problem is not None and "pet_fet_tbr_max" in problem and "plausible" in problem
    assert check_marker_value("pet_fet_tbr_max", 1.2) is None
    out = evaluate_case(glioma_case(weeks_after_rt=30, markers={"pet_fet_tbr_max": 1.2}))
    assert any(i.name == "pet_fet_tbr_max" for i in out.items)
