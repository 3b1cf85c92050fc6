"""Likelihood rows: LR+ / LR- outside the published cut-off range, log-linear inside, capped; row choice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pseudoprog.case import Marker
from pseudoprog.evidence.likelihoods import LikelihoodRow, LikelihoodTable, marker_evidence
from pseudoprog.markers import make_marker

CAP = (0.05, 20.0)


def _row(**kw) -> LikelihoodRow:
    base = dict(id="t", marker="rcbv_mean", source="[DERIVED] test", sens=0.88, spec=0.88, cutoff=(0.9, 2.15))
    base.update(kw)
    return LikelihoodRow(**base)


def test_outside_the_range_gives_the_pooled_lr_plus_and_minus():
    r = _row()
    assert math.exp(float(r.log_lr(3.0, r.sens, r.spec, CAP))) == pytest.approx(0.88 / 0.12)
    assert math.exp(float(r.log_lr(0.5, r.sens, r.spec, CAP))) == pytest.approx(0.12 / 0.88)
    mid = math.exp(float(r.log_lr((0.9 + 2.15) / 2, r.sens, r.spec, CAP)))
    assert mid == pytest.approx(1.0)  # symmetric sens/spec: the middle of the range is neutral


def test_lower_is_tumour_rows_mirror_and_single_cutoffs_step():
    adc = _row(marker="adc_mean", sens=0.71, spec=0.87, cutoff=(0.00113, 0.00138), higher_suggests="treatment_effect")
    assert float(adc.log_lr(0.0009, 0.71, 0.87, CAP)) > 0 > float(adc.log_lr(0.0016, 0.71, 0.87, CAP))
    step = _row(cutoff=(2.3, 2.3))
    assert float(step.positive_weight(2.3)) == 1.0 and float(step.positive_weight(2.29)) == 0.0


def test_infinite_lr_is_capped():
    r = _row(sens=0.91, spec=1.0, cutoff=(2.3, 2.3), lr_cap=20.0)
    assert math.exp(float(r.log_lr(3.0, r.sens, r.spec, CAP))) == pytest.approx(20.0)


def test_rows_are_validated():
    with pytest.raises(ValueError, match="informative"):
        _row(sens=0.4, spec=0.5)
    with pytest.raises(ValueError, match="reversed"):
        _row(cutoff=(2.0, 1.0))
    with pytest.raises(ValueError, match="higher_suggests"):
        _row(higher_suggests="up")


def test_row_choice_by_window_population_and_tracer():
    t = LikelihoodTable.load()
    # issue 12: within 12 weeks perfusion does not separate PsP from early TP (Rowe 2018): a flat row; the
    # PsP-specific pooled rows L08/L09 are used beyond that window beside L06/L07.
    assert {r.id for r in t.select("rcbv_max", population="glioma", window="early", tracer=None)} == {
        "R43-early-rcbv_max"
    }
    late = {r.id for r in t.select("rcbv_max", population="glioma", window="late", tracer=None)}
    assert late == {"L06", "L07", "L08", "L09"}
    # issue 12: metastasis-specific pooled rows replace the glioma row borrowed for metastases
    assert [r.id for r in t.select("rcbv_max", population="metastasis", window="late", tracer=None)] == [
        "DSC-met-2020",
        "AJR2018-met-advanced",
    ]
    # issue 12: the pooled FET meta-analysis replaces the single-study early rows (spec 100 %, LR capped at 20)
    early_fet = {r.id for r in t.select("pet_tbr_max", population="glioma", window="early", tracer="fet")}
    assert early_fet == {"L17-early"}
    assert {r.id for r in t.select("pet_tbr_max", population="glioma", window="late", tracer="fet")} == {
        "L17-late",
        "L19",
    }


def _evidence(markers, **kw):
    kw.setdefault("population", "glioma")
    kw.setdefault("window", "late")
    return marker_evidence(markers, rng=np.random.default_rng(0), n_draws=400, **kw)


def test_markers_without_portable_cutoff_or_tracer_are_reported_not_applied():
    ms = [
        make_marker("ktrans_mean", 0.2, source="reported"),
        make_marker("pet_tbr_max", 2.5, source="reported"),
        make_marker("lesion_quotient", 0.5, source="reported"),
    ]
    ev = _evidence(ms)
    assert not ev.applied
    reasons = {r.name: r.reason for r in ev.reported}
    assert "tracer unknown" in reasons["pet_tbr_max"]
    assert set(reasons) == {"ktrans_mean", "pet_tbr_max", "lesion_quotient"}


def test_tracer_from_quality_or_the_fet_marker_name():
    q = Marker("pet_tbr_max", 2.6, "ratio", "pet", quality={"tracer": "18F-FET"})
    alias = make_marker("pet_fet_tbr_max", 2.6, source="reported")
    for m in (q, alias):
        ev = _evidence([m], window="early")
        assert [c.name for c in ev.applied] == [m.name]
        # 2.6 is above the pooled cut-off range 1.9-2.3 of L17 (R21): its LR+ 0.91 / (1 - 0.84)
        assert ev.applied[0].log_lr == pytest.approx(math.log(0.91 / (1 - 0.84)))


def test_several_lesions_use_the_most_tumour_like_value_with_a_warning():
    ms = [
        make_marker("rcbv_max", 1.2, source="reported", lesion_id="L1"),
        make_marker("rcbv_max", 3.4, source="reported", lesion_id="L2"),
    ]
    ev = _evidence(ms)
    assert ev.applied[0].value == 3.4
    assert any("2 values" in w for w in ev.warnings)


def test_draws_vary_and_centre_on_the_point():
    ev = _evidence([make_marker("rcbv_mean", 3.0, source="reported")])
    c = ev.applied[0]
    assert c.draws.std() > 0.05
    assert abs(np.median(c.draws) - c.log_lr) < 0.3


def test_bad_context_is_refused():
    with pytest.raises(ValueError, match="population"):
        _evidence([], population="lymphoma")
    with pytest.raises(ValueError, match="window"):
        _evidence([], window="soon")


def test_binormal_rows_are_linear_monotone_capped_and_validated():
    r = _row(marker="pet_tbr_max", cutoff=None, binormal=(3.3, 1.0, 2.2, 0.4), n_tp=38, n_te=38)
    x = np.linspace(1.0, 6.0, 50)
    logs = r.point_log_lr(x, CAP)
    assert np.all(np.diff(logs) >= 0)
    assert float(r.point_log_lr(2.75, CAP)) == pytest.approx(0.0)  # midway between the class means
    assert math.exp(float(r.point_log_lr(20.0, CAP))) == pytest.approx(20.0)
    draws = r.draw_log_lr(3.5, np.random.default_rng(0), 500, CAP)
    assert draws.std() > 0 and abs(np.median(draws) - float(r.point_log_lr(3.5, CAP))) < 0.2
    with pytest.raises(ValueError, match="contradict"):
        _row(cutoff=None, binormal=(2.0, 1.0, 3.0, 1.0), n_tp=5, n_te=5)
    with pytest.raises(ValueError, match="n_tp"):
        _row(cutoff=None, binormal=(3.0, 1.0, 2.0, 1.0))
