"""Priors: base rate by definition and denominator, and sourced modifiers."""

from __future__ import annotations

import datetime as dt
import itertools
import math

import numpy as np
import pytest

from pseudoprog.case import ClinicalStatus, LocationVsRT, MarkerStatus
from pseudoprog.evidence.fusion import soft_bound
from pseudoprog.evidence.priors import case_facts, choose_base_rate, compute_prior
from pseudoprog.evidence.stats import load_table

from .helpers import glioma_case


def _prior(case):
    return compute_prior(case_facts(case), rng=np.random.default_rng(0), n_draws=500)


# issue 12: one smooth curve through the sourced anchors (early enlargers 207/363 = 0.570; late PsP 7/26 at
# 24 weeks -> 0.73; late RN 10-25 % -> 0.825), not three steps.
@pytest.mark.parametrize(("weeks", "p"), [(8, 0.570), (24, 0.730), (60, 0.825)])
def test_glioma_base_rate_follows_time_since_radiotherapy(weeks, p):
    pr = _prior(glioma_case(weeks_after_rt=weeks))
    assert pr.prior.row_id == "glioma_hgg_after_rt" and pr.prior.value == pytest.approx(p, abs=1e-9)
    assert pr.prior.interval[0] < p < pr.prior.interval[1]


def test_glioma_prior_between_anchors_is_smooth_and_between_them():
    values = [_prior(glioma_case(weeks_after_rt=w)).prior.value for w in np.arange(10, 24.01, 1 / 7)]
    assert all(0.570 - 1e-9 <= v <= 0.730 + 1e-9 for v in values)
    assert all(b >= a for a, b in itertools.pairwise(values))  # monotone between anchors
    assert max(abs(b - a) for a, b in itertools.pairwise(values)) < 0.005  # per day


def test_every_table_row_names_a_source_tag():
    table = load_table("priors.yaml")
    for row in table["base_rates"] + table["modifiers"]:
        assert "[" in row["source"] and "]" in row["source"], row["id"]
    for row in load_table("likelihoods.yaml")["rows"]:
        assert any(tag in row["source"] for tag in ("[V", "[SEED", "[DERIVED]", "[UNVERIFIED]")), row["id"]


def test_mgmt_methylation_lowers_and_unmethylation_raises_the_odds_within_the_cap():
    meth = _prior(glioma_case(weeks_after_rt=8, mgmt=MarkerStatus.METHYLATED)).modifiers
    unmeth = _prior(glioma_case(weeks_after_rt=8, mgmt=MarkerStatus.UNMETHYLATED)).modifiers
    assert [c.name for c in meth] == ["mgmt_methylated"]
    assert math.exp(meth[0].log_lr) == pytest.approx(0.33)  # capped (clinical_rules §6 C21)
    assert math.exp(unmeth[0].log_lr) == pytest.approx((16.5 / 19) / (11.5 / 33), rel=1e-6)
    assert np.exp(meth[0].draws).min() >= 0.33 - 1e-12


def test_symptoms_are_a_grouped_clinical_modifier_from_counts():
    mods = _prior(glioma_case(clinical=ClinicalStatus.WORSE)).modifiers
    (worse,) = mods
    assert worse.group == "clinical" and math.exp(worse.log_lr) == pytest.approx(1.0 * (12.5 / 19) / (6.5 / 19))


def test_unquantified_modifiers_are_listed_not_applied():
    pr = _prior(glioma_case(location=LocationVsRT.MARGINAL))
    assert not pr.modifiers
    assert [m.id for m in pr.listed] == ["marginal"]


def test_out_of_field_enhancement_raises_the_probability_strongly():
    pr = _prior(glioma_case(location=LocationVsRT.OUT_OF_FIELD))
    assert [c.name for c in pr.modifiers] == ["out_of_field"] and math.exp(pr.modifiers[0].log_lr) == pytest.approx(10)


def test_metastasis_prior_depends_on_months_since_radiosurgery():
    facts = case_facts(glioma_case())
    early = dict(vars(facts), metastasis=True, glioma_grade="", srs=True, weeks_since_rt=4.0 * 4.35)
    late = dict(early, weeks_since_rt=14 * 4.35)
    cls = type(facts)
    e, lt = choose_base_rate(cls(**early)), choose_base_rate(cls(**late))
    assert e["id"] == lt["id"] == "metastasis_after_srs"
    assert e["p_tp"] == pytest.approx(0.525)  # Narloch 2017 <= 9 months, 10/19 (R32)
    # issue 12 / §3.3 correction: the late prior is no longer 0.063 (1/16 biopsies) but near equipoise
    assert 0.3 <= lt["p_tp"] < e["p_tp"] and lt["ci"][0] >= 0.10 and lt["ci"][1] >= 0.5


def test_no_radiation_uses_the_no_rt_row_and_metastasis_without_rt_is_refused():
    facts = case_facts(glioma_case())
    cls = type(facts)
    assert choose_base_rate(cls(**dict(vars(facts), weeks_since_rt=None)))["id"] == "glioma_no_rt"
    with pytest.raises(ValueError, match="metastasis"):
        choose_base_rate(cls(**dict(vars(facts), metastasis=True, glioma_grade="", weeks_since_rt=None)))


def test_n_draws_is_validated():
    with pytest.raises(ValueError, match="n_draws"):
        compute_prior(case_facts(glioma_case()), rng=np.random.default_rng(0), n_draws=0)


def test_facts_use_the_latest_scan_date():
    case = glioma_case(weeks_after_rt=10)
    f = case_facts(case)
    assert f.scan_date == case.latest.date and f.weeks_since_rt == pytest.approx(10.0)
    assert f.scan_date > dt.date(2026, 3, 13)


def _metastasis_case(*treatments, months_after: float = 6.0, steroids=(None, None)):
    from pseudoprog.case import Case, Diagnosis, DiagnosisType, Lesion, LesionMeasurement, Patient, Timepoint

    srs_day = dt.date(2025, 6, 2)
    scan = srs_day + dt.timedelta(days=round(30.44 * months_after))
    return Case(
        Patient("M-1"),
        Diagnosis(DiagnosisType.METASTASIS, primary="melanoma"),
        treatments,
        (
            Timepoint(srs_day - dt.timedelta(days=7), steroids_mg_dexamethasone=steroids[0]),
            Timepoint(
                scan,
                steroids_mg_dexamethasone=steroids[1],
                lesions=(Lesion("L1", LesionMeasurement(long_mm=12, perp_mm=10)),),
            ),
        ),
    )


def test_metastasis_modifiers_dual_ici_fractionation_and_prior_wbrt():
    from pseudoprog.case import Treatment, TreatmentType

    srs1 = Treatment(TreatmentType.SRS, dt.date(2025, 6, 2), dose_gy=20, fractions=1)
    srs3 = Treatment(TreatmentType.SRS, dt.date(2025, 6, 2), dose_gy=27, fractions=3)
    nivo_ipi = Treatment(TreatmentType.IMMUNOTHERAPY, dt.date(2025, 5, 20), agent="nivolumab+ipilimumab")
    pembro = Treatment(TreatmentType.IMMUNOTHERAPY, dt.date(2025, 5, 20), agent="pembrolizumab")
    late_ici = Treatment(TreatmentType.IMMUNOTHERAPY, dt.date(2025, 12, 1), agent="nivolumab+ipilimumab")
    wbrt = Treatment(TreatmentType.WBRT, dt.date(2024, 1, 8), dt.date(2024, 1, 19), dose_gy=30, fractions=10)

    dual = _prior(_metastasis_case(srs1, nivo_ipi))
    assert [c.name for c in dual.modifiers] == ["dual_ici_concurrent"]
    single = _prior(_metastasis_case(srs1, pembro))
    assert not single.modifiers and "single_ici" in [m.id for m in single.listed]
    far = case_facts(_metastasis_case(srs1, late_ici))
    assert not far.dual_ici  # started six months after radiosurgery: not concurrent
    frac = _prior(_metastasis_case(srs3))
    assert [c.name for c in frac.modifiers] == ["fractionated_srs"]
    assert math.exp(frac.modifiers[0].log_lr) == pytest.approx(0.98)
    after_wbrt = _prior(_metastasis_case(wbrt, srs1))
    assert "prior_wbrt_then_srs" in [m.id for m in after_wbrt.listed]
    assert after_wbrt.prior.row_id == "metastasis_after_srs"
    # issue 12 review (vignette 96): whole-brain RT without radiosurgery is not the near-equipoise post-SRS curve
    wbrt_only = _prior(_metastasis_case(wbrt))
    assert wbrt_only.prior.row_id == "metastasis_after_wbrt_only"
    assert wbrt_only.prior.value > after_wbrt.prior.value


def test_glioma_steroid_escalation_flair_decrease_and_bevacizumab():
    from dataclasses import replace

    from pseudoprog.case import FlairChange, Treatment, TreatmentType

    case = glioma_case(weeks_after_rt=8, clinical=ClinicalStatus.WORSE)
    tps = case.timepoints
    stepped = replace(
        case,
        timepoints=(
            replace(tps[0], steroids_mg_dexamethasone=2),
            replace(tps[1], steroids_mg_dexamethasone=8, flair_change=FlairChange.DECREASED),
        ),
    )
    pr = _prior(stepped)
    names = {c.name for c in pr.modifiers}
    # issue 12: Rowe's OR 4.89 is an odds ratio, not a likelihood ratio: listed with its direction, not applied
    assert names == {"clinical_worse", "flair_decreased"}
    steroid = next(m for m in pr.listed if m.id == "steroid_escalation")
    assert steroid.direction == "tumour"
    bev = replace(case, treatments=(*case.treatments, Treatment(TreatmentType.BEVACIZUMAB, dt.date(2026, 4, 1))))
    assert "bevacizumab" in {c.name for c in _prior(bev).modifiers}


def test_grouped_clinical_modifiers_count_once_in_the_fusion():
    from dataclasses import replace

    from pseudoprog.evidence import evaluate_case

    case = glioma_case(weeks_after_rt=8, clinical=ClinicalStatus.WORSE)
    tps = case.timepoints
    stepped = replace(
        case,
        timepoints=(replace(tps[0], steroids_mg_dexamethasone=2), replace(tps[1], steroids_mg_dexamethasone=8)),
    )
    out = evaluate_case(stepped, n_draws=200)
    weights = {w.name: w.weight for w in out.fusion.weights}
    assert weights == {"clinical_worse": 1.0}  # the steroid OR is no longer applied as an LR (issue 12)
    odds = 0.57 / 0.43 * (12.5 / 19) / (6.5 / 19)
    assert out.probability.value == pytest.approx(odds / (1 + odds))


def test_independent_modifiers_multiply_without_discount():
    from pseudoprog.evidence import evaluate_case

    case = glioma_case(weeks_after_rt=8, mgmt=MarkerStatus.UNMETHYLATED, location=LocationVsRT.OUT_OF_FIELD)
    out = evaluate_case(case, n_draws=200)
    assert {w.name: w.weight for w in out.fusion.weights} == {"mgmt_unmethylated": 1.0, "out_of_field": 1.0}
    odds = 0.57 / 0.43 * ((16.5 / 19) / (11.5 / 33)) * 10.0
    # the product of the LRs, then the soft bound of issue 12 item 3 (identity below 0.8, saturating to 0.98)
    bounded = float(soft_bound(np.array([odds / (1 + odds)]), (0.02, 0.98))[0])
    assert out.fusion.log_odds_posterior == pytest.approx(math.log(odds), rel=1e-6)
    assert out.probability.value == pytest.approx(bounded, rel=1e-6)
