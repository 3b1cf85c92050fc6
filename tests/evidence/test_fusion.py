"""Fusion: the §3.6 arithmetic, the correlation rule, and the Monte Carlo interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pseudoprog.evidence.fusion import Contribution, PriorTerm, combine_log_lr, fuse


def _prior(p: float, n: int = 2000, spread: float = 0.0) -> PriorTerm:
    rng = np.random.default_rng(1)
    draws = np.clip(p + spread * rng.standard_normal(n), 0.01, 0.99)
    return PriorTerm(p, draws, "test", "t", (p - 2 * spread, p + 2 * spread))


def _c(name: str, lr: float, group: str, family: str, n: int = 2000, sd: float = 0.0) -> Contribution:
    rng = np.random.default_rng(hash(name) % 1000)
    return Contribution(name, 1.0, None, math.log(lr), math.log(lr) + sd * rng.standard_normal(n), "t", group, family)


def test_worked_example_of_clinical_rules_3_6():
    # GBM 8 weeks after CRT, prior 0.35, PsP-specific LR- 0.16 -> P(TP) ~ 0.08 (clinical_rules §3.6).
    result = fuse(_prior(0.35), [_c("rcbv", 0.16, "dsc", "perfusion")])
    assert result.value == pytest.approx(0.0793, abs=1e-3)


def test_no_contributions_gives_the_prior_exactly():
    result = fuse(_prior(0.55, spread=0.05), [])
    assert result.value == 0.55
    assert result.interval[0] < 0.55 < result.interval[1]


def test_same_group_uses_only_the_strongest():
    a, b = _c("rcbv_max", 4.0, "dsc", "perfusion"), _c("rcbv_mean", 7.0, "dsc", "perfusion")
    result = fuse(_prior(0.5), [a, b])
    assert result.value == pytest.approx(7 / 8)
    weights = {w.name: w.weight for w in result.weights}
    assert weights == {"rcbv_max": 0.0, "rcbv_mean": 1.0}


def test_later_groups_of_a_family_are_discounted_and_families_multiply():
    dsc, dce = _c("rcbv", 4.0, "dsc", "perfusion"), _c("ktrans", 9.0, "dce", "perfusion")
    adc = _c("adc", 2.0, "adc", "diffusion")
    result = fuse(_prior(0.5), [dsc, dce, adc], discount=0.5)
    # strongest perfusion group (9) whole, the other (4) to the power 0.5, diffusion whole.
    assert result.value == pytest.approx(9 * 2 * 2 / (9 * 2 * 2 + 1))
    naive = fuse(_prior(0.5), [dsc, dce, adc], naive=True)
    assert naive.value == pytest.approx(72 / 73)
    assert naive.value > result.value


def test_combine_is_column_wise_so_a_cohort_fuses_at_once():
    m = np.log(np.array([[2.0, 0.5, 3.0], [4.0, 0.25, 1.0]]))
    total, weights, _ = combine_log_lr(m, ["g", "g"], ["f", "f"], discount=0.5, naive=False)
    assert np.allclose(np.exp(total), [4.0, 0.25, 3.0])
    assert weights.tolist() == [[0, 0, 1], [1, 1, 0]]


def test_interval_contains_value_and_reflects_input_uncertainty():
    tight = fuse(_prior(0.5, spread=0.01), [_c("x", 5.0, "g", "f", sd=0.05)])
    loose = fuse(_prior(0.5, spread=0.1), [_c("x", 5.0, "g", "f", sd=0.6)])
    for r in (tight, loose):
        assert r.interval[0] <= r.value <= r.interval[1]
    assert (loose.interval[1] - loose.interval[0]) > 2 * (tight.interval[1] - tight.interval[0])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="discount"):
        fuse(_prior(0.5), [], discount=0.0)
    with pytest.raises(ValueError, match="draws"):
        fuse(_prior(0.5, n=10), [_c("x", 2.0, "g", "f", n=20)])
    with pytest.raises(ValueError, match="prior"):
        PriorTerm(1.0, np.ones(3), "t", "t", (1, 1))
    with pytest.raises(ValueError, match="finite"):
        Contribution("x", 1, None, math.inf, np.zeros(3), "s", "g", "f")
