"""Unit tests of perfusion/dce/t1mapping.py (VFA / DESPOT1)."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.perfusion.dce.t1mapping import fit_vfa_t1, spgr_signal


def test_vfa_recovers_t1_over_a_volume_with_noise():
    rng = np.random.default_rng(0)
    t1 = rng.uniform(0.3, 3.0, (20, 20, 3))
    fa = np.array([2.0, 5.0, 10.0, 15.0])
    s = spgr_signal(5000.0, 1 / t1[..., None], fa, 0.005)
    s = s + rng.normal(0, 1.0, s.shape)
    fit = fit_vfa_t1(s, flip_angles_deg=fa, tr_s=0.005)
    assert fit.t1_s.shape == t1.shape
    assert np.median(np.abs(fit.t1_s - t1) / t1) < 0.02
    assert not fit.failed.any()
    lin = fit_vfa_t1(s, flip_angles_deg=fa, tr_s=0.005, nonlinear=False)
    assert np.mean(fit.rmse) <= np.mean(lin.rmse) + 1e-9


def test_vfa_flags_impossible_voxels():
    fa = np.array([3.0, 15.0])
    s = np.array([[100.0, 300.0], [0.0, 10.0], [np.nan, 5.0]])
    fit = fit_vfa_t1(s, flip_angles_deg=fa, tr_s=0.005)
    assert fit.failed[1] and fit.failed[2]
    assert np.isnan(fit.t1_s[1]) and np.isnan(fit.t1_s[2])


def test_vfa_argument_checks():
    s = np.ones((4, 2))
    with pytest.raises(ValueError, match="two distinct"):
        fit_vfa_t1(s, flip_angles_deg=[5.0, 5.0], tr_s=0.005)
    with pytest.raises(ValueError, match="flip angles were given"):
        fit_vfa_t1(s, flip_angles_deg=[5.0, 10.0, 15.0], tr_s=0.005)
    with pytest.raises(ValueError, match="tr_s"):
        fit_vfa_t1(s, flip_angles_deg=[5.0, 10.0], tr_s=-1)


def test_vfa_reaches_the_nonlinear_least_squares_minimum():
    from scipy.optimize import least_squares

    rng = np.random.default_rng(4)
    fa = np.array([3.0, 6.0, 9.0, 15.0, 24.0, 35.0])
    t1 = rng.uniform(0.4, 2.5, 40)
    s = spgr_signal(3000.0, 1 / t1[:, None], fa, 0.005) + rng.normal(0, 8.0, (40, fa.size))
    fit = fit_vfa_t1(s, flip_angles_deg=fa, tr_s=0.005)
    for v in range(0, 40, 5):  # each voxel against scipy's own nonlinear fit of the signal
        res = least_squares(
            lambda p, v=v: spgr_signal(p[0], 1 / p[1], fa, 0.005) - s[v], x0=[3000.0, 1.0], xtol=1e-14, ftol=1e-14
        )
        assert fit.t1_s[v] == pytest.approx(res.x[1], rel=1e-6)
        assert fit.m0[v] == pytest.approx(res.x[0], rel=1e-6)


def test_vfa_falls_back_to_levenberg_marquardt_when_the_iteration_is_cut_short():
    rng = np.random.default_rng(5)
    fa = np.array([2.0, 5.0, 10.0, 15.0])
    t1 = rng.uniform(0.3, 3.0, 200)
    s = spgr_signal(5000.0, 1 / t1[:, None], fa, 0.005) + rng.normal(0, 2.0, (200, fa.size))
    full = fit_vfa_t1(s, flip_angles_deg=fa, tr_s=0.005)
    short = fit_vfa_t1(s, flip_angles_deg=fa, tr_s=0.005, iterations=1)  # never converges in one step
    lin = fit_vfa_t1(s, flip_angles_deg=fa, tr_s=0.005, nonlinear=False)
    assert np.all(short.rmse <= lin.rmse + 1e-9)
    assert np.all(full.rmse <= short.rmse * (1 + 1e-9) + 1e-9)
