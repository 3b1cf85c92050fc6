"""Unit tests of perfusion/dce/: convolution, models, fits, signal conversion, AIF and whole-series maps."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.errors import CannotAssessError, InputError
from pseudoprog.perfusion import dce
from pseudoprog.perfusion.dce.population_aif import parker_aif
from pseudoprog.perfusion.dce.t1mapping import spgr_signal

HCT = 0.42


@pytest.fixture(scope="module")
def timing():
    t = np.arange(0, 300, 2.0)
    cp = dce.parker_plasma_input(t, arrival_s=20.0, haematocrit=HCT)
    return t, cp


def test_exp_convolution_matches_fine_numerical_integral():
    t = np.linspace(0, 5, 51)  # minutes
    cp = np.interp(t, [0, 0.5, 1.0, 5.0], [0, 6.0, 2.0, 1.0])  # piecewise linear: the recursion is exact
    kep = np.array([0.0, 0.05, 0.7, 12.0])
    f, df = dce.exp_convolution(t, cp, kep)
    fine = np.linspace(0, 5, 50001)
    cpf = np.interp(fine, t, cp)
    for j, k in enumerate(kep):
        for n in (10, 30, 50):
            tau = fine[fine <= t[n] + 1e-12]
            ref = np.trapezoid(cpf[: tau.size] * np.exp(-k * (t[n] - tau)), tau)
            assert f[n, j] == pytest.approx(ref, rel=1e-5, abs=1e-8)
    # analytic derivative against a central difference
    h = 1e-6
    fp, _ = dce.exp_convolution(t, cp, kep + h, derivative=False)
    fm, _ = dce.exp_convolution(t, cp, np.maximum(kep - h, 0), derivative=False)
    num = (fp - fm) / (kep + h - np.maximum(kep - h, 0))
    np.testing.assert_allclose(df, num, rtol=1e-4, atol=1e-7)


def test_exp_convolution_uniform_and_irregular_sampling_agree():
    t = np.linspace(0, 4, 41)
    cp = parker_aif(t * 60, delay_s=10)
    kep = np.array([0.3, 3.0])
    f1, _ = dce.exp_convolution(t, cp, kep)
    # the same curve with one extra sample in the middle (non-uniform) gives the same values at shared times
    t2 = np.sort(np.append(t, 1.05))
    cp2 = np.interp(t2, t, cp)
    f2, _ = dce.exp_convolution(t2, cp2, kep)
    np.testing.assert_allclose(f2[np.isin(t2, t)], f1, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="increasing"):
        dce.exp_convolution(t[::-1], cp, kep)


@pytest.mark.parametrize("model", ["tofts", "extended_tofts", "patlak"])
def test_fit_recovers_parameters_of_noisy_curves(timing, model):
    t, cp = timing
    rng = np.random.default_rng(3)
    n = 400
    kt = rng.uniform(0.02, 0.4, n)
    ve = rng.uniform(0.05, 0.6, n)
    vp = rng.uniform(0.0, 0.1, n) if model != "tofts" else None
    c = dce.model_curves(model, t, cp, ktrans=kt, ve=ve, vp=vp)
    c = c + rng.normal(0, 0.005, c.shape)
    fit = dce.fit_dce(c, t_s=t, cp_mM=cp, model=model)
    err = np.abs(fit.ktrans - kt)
    assert np.mean(err <= 0.005 + 0.1 * kt) > 0.95
    if model != "patlak":
        assert np.mean(np.abs(fit.ve - ve) <= 0.05) > 0.95
    if vp is not None:
        assert np.mean(np.abs(fit.vp - vp) <= 0.025) > 0.95
    assert np.all(fit.rmse < 0.01)
    assert np.mean(fit.status == dce.FitStatus.OK) > 0.9


def test_nonlinear_refinement_beats_linear_start(timing):
    t, cp = timing
    rng = np.random.default_rng(5)
    kt, ve, vp = np.full(300, 0.15), np.full(300, 0.3), np.full(300, 0.04)
    c = dce.model_curves("extended_tofts", t, cp, ktrans=kt, ve=ve, vp=vp) + rng.normal(0, 0.02, (300, t.size))
    lin = dce.fit_dce(c, t_s=t, cp_mM=cp, method="linear")
    nl = dce.fit_dce(c, t_s=t, cp_mM=cp, method="nonlinear")
    assert np.all(nl.rmse <= lin.rmse + 1e-12)
    assert np.mean(nl.rmse) < np.mean(lin.rmse)


def test_fit_mask_and_invalid_voxels(timing):
    t, cp = timing
    c = dce.model_curves("tofts", t, cp, ktrans=np.full(6, 0.1), ve=np.full(6, 0.2)).reshape(2, 3, t.size)
    c[0, 0, 5] = np.nan
    mask = np.ones((2, 3), bool)
    mask[1, 2] = False
    fit = dce.fit_dce(c, t_s=t, cp_mM=cp, model="tofts", mask=mask)
    assert fit.status[0, 0] == dce.FitStatus.INVALID_SIGNAL and np.isnan(fit.ktrans[0, 0])
    assert fit.status[1, 2] == dce.FitStatus.OUTSIDE_MASK and np.isnan(fit.ktrans[1, 2])
    assert fit.ktrans[0, 1] == pytest.approx(0.1, rel=1e-3)
    assert fit.failed[0, 0] and not fit.failed[1, 2]


def test_fit_refuses_bad_arguments(timing):
    t, cp = timing
    c = np.zeros((2, t.size))
    with pytest.raises(ValueError, match="model"):
        dce.fit_dce(c, t_s=t, cp_mM=cp, model="2cxm")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method"):
        dce.fit_dce(c, t_s=t, cp_mM=cp, method="bayes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="share the time axis"):
        dce.fit_dce(c, t_s=t[:-1], cp_mM=cp[:-1][:-1])
    with pytest.raises(ValueError, match="non-finite"):
        dce.fit_dce(c, t_s=t, cp_mM=np.full(t.size, np.nan))
    with pytest.raises(ValueError, match="mask shape"):
        dce.fit_dce(c, t_s=t, cp_mM=cp, mask=np.ones(3, bool))


def test_signal_to_concentration_inverts_the_spgr_equation():
    r1, t10, tr, fa = 4.5, 1.2, 0.005, 20.0
    conc = np.concatenate([np.zeros(5), np.linspace(0.0, 3.0, 20)])
    r1_t = 1 / t10 + r1 * conc
    s = spgr_signal(1000.0, r1_t, fa, tr)
    back, failed = dce.signal_to_concentration(
        s, t10_s=t10, flip_angle_deg=fa, tr_s=tr, relaxivity_per_mM_s=r1, n_baseline=5
    )
    np.testing.assert_allclose(back, conc, atol=1e-9)
    assert not failed
    # A signal above what SPGR allows cannot be converted: flagged, not invented
    bad = s.copy()
    bad[-1] = 1e6
    _, failed = dce.signal_to_concentration(
        bad, t10_s=t10, flip_angle_deg=fa, tr_s=tr, relaxivity_per_mM_s=r1, n_baseline=5
    )
    assert failed
    with pytest.raises(ValueError, match="n_baseline"):
        dce.signal_to_concentration(s, t10_s=t10, flip_angle_deg=fa, tr_s=tr, relaxivity_per_mM_s=r1, n_baseline=0)


def test_parker_aif_shape_and_delay():
    t = np.arange(0, 120, 0.5)
    cb = parker_aif(t, delay_s=10.0)
    assert np.all(cb[t < 10] == 0)
    assert t[np.argmax(cb)] == pytest.approx(10 + 0.17046 * 60, abs=1.0)  # first-pass peak at T1
    assert 5.5 < cb.max() < 6.5
    with pytest.raises(ValueError):
        parker_aif(t, delay_s=-1)


def test_bolus_arrival_detection():
    t = np.arange(0, 120, 1.0)
    curve = 100 + 50 * parker_aif(t, delay_s=30.0)
    n_base, arrival = dce.detect_bolus_arrival(curve, t)
    assert 28 <= arrival <= 33 and n_base >= 25
    with pytest.raises(CannotAssessError):
        dce.detect_bolus_arrival(np.full(t.size, 100.0), t)


def test_relaxivity_lookup():
    r1, src = dce.relaxivity_for("Gadovist", 3.0)
    assert r1 == 5.0 and "Rohrer" in src
    r1, src = dce.relaxivity_for(None, 1.5)
    assert r1 == 4.5 and "default" in src


def _synthetic_dce(rng, *, t10=1.0, shape=(12, 10, 2)):
    t = np.arange(0, 300, 3.0)
    cp = dce.parker_plasma_input(t, arrival_s=30.0, haematocrit=HCT)
    kt = np.zeros(shape)
    ve = np.full(shape, 0.2)
    vp = np.full(shape, 0.02)
    kt[:6] = 0.2
    kt[6:] = 0.05
    conc = dce.model_curves("extended_tofts", t, cp, ktrans=kt.ravel(), ve=ve.ravel(), vp=vp.ravel())
    conc = conc.reshape(*shape, t.size)
    conc[0, 0, :] = cp * (1 - HCT)  # an artery: whole-blood concentration
    blood_t1 = 1.65
    t1 = np.full(shape, t10)
    t1[0, 0] = blood_t1
    r1_t = 1 / t1[..., None] + 4.5 * conc
    s = spgr_signal(1000.0, r1_t, 15.0, 0.005)
    s = s + rng.normal(0, 0.2, s.shape)
    return s, t, kt, t1


def test_compute_dce_maps_with_an_aif_mask_and_population(rng=None):
    rng = np.random.default_rng(11)
    s, t, kt, t1 = _synthetic_dce(rng)
    aif = np.zeros(kt.shape, bool)
    aif[0, 0] = True
    res = dce.compute_dce_maps(
        s, t, flip_angle_deg=15.0, tr_s=0.005, t10_s=t1, relaxivity_per_mM_s=4.5, haematocrit=HCT, aif=aif
    )
    tissue = ~aif
    np.testing.assert_allclose(res.fit.ktrans[tissue], kt[tissue], rtol=0.1, atol=0.005)
    assert res.aif.source == "mask" and res.parameters["aif_details"]["blood_t1_s"] == pytest.approx(1.65)
    assert set(res.maps()) >= {"ktrans", "ve", "vp", "rmse", "r2", "fit_status", "t10", "auc90"}
    # The population AIF has the same shape as the one simulated, so Ktrans is close too
    pop = dce.compute_dce_maps(
        s, t, flip_angle_deg=15.0, tr_s=0.005, t10_s=t1, relaxivity_per_mM_s=4.5, haematocrit=HCT, aif="population"
    )
    assert np.nanmedian(np.abs(pop.fit.ktrans[tissue] - kt[tissue]) / kt[tissue]) < 0.2
    assert any("population" in w for w in pop.warnings)


def test_compute_dce_maps_refuses_bad_series():
    t = np.arange(20.0)
    with pytest.raises(InputError, match="4D"):
        dce.compute_dce_maps(np.ones((4, 4, 20)), t, flip_angle_deg=15, tr_s=0.005, t10_s=1.0)
    s = np.ones((4, 4, 1, 20))
    s[0, 0, 0, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        dce.compute_dce_maps(s, t, flip_angle_deg=15, tr_s=0.005, t10_s=1.0)
    with pytest.raises(InputError, match="frames"):
        dce.compute_dce_maps(np.ones((4, 4, 1, 5)), t[:5], flip_angle_deg=15, tr_s=0.005, t10_s=1.0)
    with pytest.raises(InputError, match="AIF mask"):
        dce.compute_dce_maps(
            np.ones((4, 4, 1, 20)) + np.arange(20),
            t,
            flip_angle_deg=15,
            tr_s=0.005,
            t10_s=1.0,
            aif=np.zeros((4, 4, 1), bool),
        )


def test_protocol_warnings():
    assert dce.protocol_warnings(tr_ms=5.0, flip_angle_deg=15.0, duration_s=400.0) == []
    w = dce.protocol_warnings(tr_ms=12.0, flip_angle_deg=45.0, duration_s=100.0)
    assert len(w) == 3


def test_fit_converges_when_vp_sits_on_its_bound():
    """vp = 0 with noise pushes vp below its bound: held there, the other parameters converge in a few steps
    (a projected step that kept pushing vp out only crawled along the bound)."""
    from pseudoprog.perfusion.dce.fitting import fit_dce
    from pseudoprog.perfusion.dce.models import model_curves
    from pseudoprog.perfusion.dce.population_aif import parker_aif

    t = np.arange(0, 600, 0.5)
    cp = parker_aif(t, delay_s=30) / (1 - 0.45)
    kt, ve = np.array([0.35, 0.2, 0.1, 0.01]), np.array([0.5, 0.5, 0.5, 0.05])
    c = model_curves("extended_tofts", t, cp, ktrans=kt, ve=ve, vp=np.zeros(4))
    c = c + np.random.default_rng(1).normal(0, 1e-4, c.shape)
    short = fit_dce(c, t_s=t, cp_mM=cp, iterations=15)
    long = fit_dce(c, t_s=t, cp_mM=cp, iterations=300)
    np.testing.assert_allclose(short.ktrans, long.ktrans, rtol=1e-9)
    np.testing.assert_allclose(short.rmse, long.rmse, rtol=1e-9)
    np.testing.assert_allclose(long.ktrans, kt, rtol=0.01)


def test_closed_form_grid_residual_and_step_solver_match_the_direct_computation():
    """The grid start's closed-form sum of squares equals the model's residual (so skipping its equations where
    the linear start is better changes nothing), and the compiled 3×3 step solver matches numpy's solve."""
    from pseudoprog.perfusion.dce import fitting as fit_mod
    from pseudoprog.perfusion.dce.models import cumtrapz, exp_convolution, model_curves

    rng = np.random.default_rng(3)
    t = np.arange(0, 300, 2.0)
    t_min = t / 60
    cp = parker_aif(t, delay_s=20) / (1 - 0.42)
    n = 40
    c = model_curves(
        "extended_tofts",
        t,
        cp,
        ktrans=rng.uniform(0.01, 0.5, n),
        ve=rng.uniform(0.05, 0.6, n),
        vp=rng.uniform(0, 0.1, n),
    )
    c = c + rng.normal(0, 0.01, c.shape)
    bounds = fit_mod.load_table("dce_constants")["fit_bounds"]
    grid = fit_mod._kep_grid(bounds)
    f, _ = exp_convolution(t_min, cp, grid, derivative=False)
    sums = fit_mod._first_pass(c, np.diff(t_min), cumtrapz(cp, t_min), cp)
    centred = c - c.mean(1, keepdims=True)
    np.testing.assert_allclose(sums[7], (centred**2).sum(1), rtol=1e-10)
    kt, kep, vp, sse = fit_mod._grid_start(c @ f, sums[6], sums[5], f, grid, cp, True, bounds)
    direct = fit_mod._equations(c, t_min, cp, kt, kep, vp, True)[0]
    known = np.isfinite(sse)
    assert known.sum() > n // 2
    np.testing.assert_allclose(sse[known], direct[known], rtol=1e-8)
    _, jtj, jtr = fit_mod._equations(c, t_min, cp, kt, kep, vp, True)
    lam = np.full(n, 1e-3)
    mid = np.full(n, 0.05)  # off every bound: nothing held
    step = fit_mod._bounded_step(jtj, jtr, lam, np.full(n, 0.2), mid, np.arange(n), bounds, 3)
    damped = jtj + (lam[:, None] * np.einsum("npp->np", jtj))[:, :, None] * np.eye(3)
    np.testing.assert_allclose(step, np.linalg.solve(damped, jtr[..., None])[..., 0], rtol=1e-9, atol=1e-14)
    # a system that cannot be solved (non-finite equations) fails that voxel only
    singular = fit_mod._bounded_step(
        np.full((1, 3, 3), np.nan), np.ones((1, 3)), lam[:1], mid, mid, np.arange(1), bounds, 3, failed=np.inf
    )
    assert np.all(singular == np.inf)


@pytest.mark.parametrize("n", [3, 16, 16 + 5, 16 + 8, 16 + 9, 40])
def test_normal_equations_small_remainder_one_voxel_at_a_time_is_the_same(n):
    """A remainder of at most half a block is summed one voxel at a time: the same sums as the blocked kernel (to the
    rounding of fused multiply-adds, which the two kernels may place differently)."""
    from pseudoprog.perfusion.dce import fitting as fit_mod

    rng = np.random.default_rng(n)
    t_min = np.arange(0, 300, 2.0) / 60
    cp = parker_aif(t_min * 60, delay_s=20) / (1 - HCT)
    c = rng.normal(0.2, 0.05, (50, t_min.size))
    rows = rng.choice(50, n, replace=False)
    kt, kep, vp = rng.uniform(0.01, 0.5, n), rng.uniform(0.05, 3.0, n), rng.uniform(0, 0.1, n)
    delta = t_min[1] - t_min[0]
    got = fit_mod._normal_equations(c, rows, np.array([delta]), cp, kt, kep, vp, 3)
    blocked = fit_mod._normal_equations_blocked(c, rows, delta, cp, kt, kep, vp, 3)
    scalar = fit_mod._normal_equations_scalar(c, rows, np.array([delta]), cp, kt, kep, vp, 3)
    for g, b, s in zip(got, blocked, scalar, strict=True):
        np.testing.assert_allclose(g, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
        np.testing.assert_allclose(g, s, rtol=1e-12, atol=1e-12 * np.abs(s).max())


def _lm_passes(monkeypatch):
    """Record each Levenberg–Marquardt iteration's voxels and their damping on entry."""
    from pseudoprog.perfusion.dce import fitting as fit_mod

    seen: list[tuple[np.ndarray, np.ndarray]] = []
    original = fit_mod._lm_iteration

    def recording(c, ids, deltas, cp, ktrans, kep, vp, cost, jtj, jtr, lam, *rest):
        seen.append((ids.copy(), lam[ids].copy()))
        return original(c, ids, deltas, cp, ktrans, kep, vp, cost, jtj, jtr, lam, *rest)

    monkeypatch.setattr(fit_mod, "_lm_iteration", recording)
    return seen


def test_well_posed_voxels_start_almost_undamped_and_an_ill_posed_one_keeps_the_conservative_damping(monkeypatch):
    """Where the undamped step from the start stays within the bounds, the LM starts almost as Gauss–Newton and
    most voxels converge in one pass over their curve; a voxel pushed to the ve = 1 bound (a curve that never
    washes out) starts with the conservative damping. The answers are the least-squares optimum (scipy's
    trust-region solver on the same model, to tight tolerances)."""
    from scipy.optimize import least_squares

    from pseudoprog.perfusion.dce import fitting as fit_mod
    from pseudoprog.perfusion.dce.models import model_curves

    t = np.arange(0, 300, 2.0)
    cp = parker_aif(t, delay_s=20) / (1 - HCT)
    rng = np.random.default_rng(5)
    n = 64
    kt, ve, vp = rng.uniform(0.02, 0.4, n), rng.uniform(0.1, 0.6, n), rng.uniform(0.01, 0.1, n)
    c = model_curves("extended_tofts", t, cp, ktrans=kt, ve=ve, vp=vp) + rng.normal(0, 0.005, (n, t.size))
    rising = model_curves("extended_tofts", t, cp, ktrans=np.array([0.05]), ve=np.array([3.0]), vp=np.array([0.0]))
    seen = _lm_passes(monkeypatch)
    fit = dce.fit_dce(np.vstack([c, rising]), t_s=t, cp_mM=cp)
    ids, lam = seen[0]
    assert np.all(lam[ids < n] == fit_mod._LAM0_FEASIBLE)
    assert lam[ids == n].tolist() == [fit_mod._LAM0]
    assert fit.ve[n] == pytest.approx(1.0) and fit.status[n] == dce.FitStatus.AT_BOUND
    passes = sum(int(np.sum(i < n)) for i, _ in seen)
    assert passes <= 1.3 * n  # 73 passes; the conservative damping everywhere: 144
    for v in range(0, n, 8):

        def residual(x, v=v):
            model = model_curves("extended_tofts", t, cp, ktrans=x[:1], ve=x[:1] / x[1:2], vp=x[2:])
            return model[0] - c[v]

        ref = least_squares(residual, [kt[v], kt[v] / ve[v], vp[v]], xtol=1e-13, ftol=1e-13, gtol=1e-13).x
        got = np.array([fit.ktrans[v], fit.kep[v], fit.vp[v]])
        np.testing.assert_allclose(got, ref, rtol=5e-5, atol=1e-7)


def test_a_voxel_on_the_ve_bound_moves_along_it_to_the_constrained_optimum(monkeypatch):
    """A curve that never washes out pushes ve to its bound 1: the step is taken along the bound (Ktrans and kep
    together) instead of being projected back onto it after each step, so the voxel converges in a few passes (it
    crawled along the bound until the iteration cap) to the best fit with ve = 1."""
    from scipy.optimize import least_squares

    from pseudoprog.perfusion.dce.models import model_curves

    t = np.arange(0, 300, 2.0)
    cp = parker_aif(t, delay_s=20) / (1 - HCT)
    rng = np.random.default_rng(11)
    truth = [(0.05, 3.0, 0.0), (0.02, 5.0, 0.03), (0.1, 2.0, 0.01)]
    c = np.vstack(
        [
            model_curves("extended_tofts", t, cp, ktrans=np.array([k]), ve=np.array([e]), vp=np.array([p]))
            for k, e, p in truth
        ]
    )
    c = c + rng.normal(0, 0.002, c.shape)
    seen = _lm_passes(monkeypatch)
    fit = dce.fit_dce(c, t_s=t, cp_mM=cp, iterations=50)
    assert np.allclose(fit.ve, 1.0) and np.all(fit.status == dce.FitStatus.AT_BOUND)
    assert len(seen) <= 15  # 50 (the cap) when each step was projected back onto the bound
    for v in range(len(truth)):

        def residual(x, v=v):
            return model_curves("extended_tofts", t, cp, ktrans=x[:1], ve=np.ones(1), vp=x[1:])[0] - c[v]

        ref = least_squares(residual, [0.05, 0.01], bounds=([0, 0], [5, 1]), xtol=1e-14, ftol=1e-14, gtol=1e-14)
        np.testing.assert_allclose([fit.ktrans[v], fit.vp[v]], ref.x, rtol=1e-4, atol=1e-7)
        assert fit.rmse[v] <= np.sqrt(np.mean(ref.fun**2)) * (1 + 1e-7)  # the LM stops on a 1e-7 cost change
