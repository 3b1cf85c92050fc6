"""Leakage correction: BSW recovers known K1/K2; the sign of K2 follows the kind of leakage."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.perfusion.dsc import leakage as lk
from pseudoprog.perfusion.dsc.signal import cumulative_integral, delta_r2s, detect_baseline, integral
from pseudoprog.phantoms.dsc import DSCProtocol, tissue_signal

T = np.arange(60) * 1.5


def _ref() -> np.ndarray:
    x = np.clip(T - 20, 0, None)
    return 20 * (x / 4) ** 2 * np.exp(-x / 2) + 1.5 * (T > 25)


def test_bsw_recovers_known_k1_k2() -> None:
    ref = _ref()
    k1 = np.array([0.8, 1.5, 2.0])
    k2 = np.array([0.02, -0.01, 0.0])
    y = k1[:, None] * ref - k2[:, None] * cumulative_integral(ref, T)
    fit = lk.bsw_fit(y, ref, T)
    np.testing.assert_allclose(fit.k1, k1, atol=1e-6)
    np.testing.assert_allclose(fit.k2, k2, atol=1e-6)
    # The corrected curve is the intravascular part only.
    np.testing.assert_allclose(fit.corrected, k1[:, None] * ref, atol=1e-5)


def test_bsw_refuses_a_flat_reference() -> None:
    with pytest.raises(ValueError, match="reference"):
        lk.bsw_fit(np.ones((2, 60)), np.zeros(60), T)


def test_non_enhancing_reference_leaves_out_leaky_voxels() -> None:
    ref = _ref()
    rng = np.random.default_rng(0)
    normal = ref[None] * rng.uniform(0.8, 1.2, (200, 1)) + rng.normal(0, 0.2, (200, 60))
    leaky = ref[None] - 0.05 * cumulative_integral(ref, T)[None] + rng.normal(0, 0.2, (20, 60))
    _curve, idx = lk.non_enhancing_reference(np.vstack([normal, leaky]), T)
    assert np.all(idx < 200)  # none of the leaky voxels
    assert idx.size > 150


@pytest.mark.parametrize(("flip", "r2e", "sign"), [(60.0, 0.0, 1), (30.0, 40.0, -1)])
def test_k2_sign_follows_t1_or_t2star_dominant_leakage(flip: float, r2e: float, sign: int) -> None:
    prot = DSCProtocol(flip_deg=flip, n_frames=60, noise_fraction=0)
    les, art = tissue_signal(
        prot,
        s0=[1.0],
        t10_s=[1.6],
        cbv=[0.05],
        cbf_per_s=[0.05 / 4],
        ktrans_per_min=[0.05],
        ve=[0.3],
        r2s_e_per_mM_s=[r2e],
    )
    wm, _ = tissue_signal(
        prot,
        s0=[1.0],
        t10_s=[0.85],
        cbv=[0.022],
        cbf_per_s=[0.022 / 4],
        ktrans_per_min=[0.0],
        ve=[0.0],
        r2s_e_per_mM_s=[0.0],
    )
    b = detect_baseline(wm[0])
    d = delta_r2s(np.vstack([les, wm, art[None]]), b, te_ms=prot.te_ms).astype(np.float64)
    t = prot.times_s
    bsw = lk.bsw_fit(d[:1], d[1], t)
    bj = lk.bjornerud_correct(d[:1], d[2], t)
    assert np.sign(bsw.k2[0]) == sign
    assert np.sign(bj.k2[0]) == sign
    truth = 0.05 / 0.022
    unc = integral(d[:1], t)[0] / integral(d[1:2], t)[0]
    cor = integral(bj.corrected, t)[0] / integral(d[1:2], t)[0]
    assert abs(cor - truth) < abs(unc - truth)


def test_bjornerud_needs_a_long_enough_series() -> None:
    t = np.arange(12) * 1.5
    with pytest.raises(ValueError, match="too short"):
        lk.bjornerud_correct(np.ones((1, 12)), np.exp(-((t - 3) ** 2)), t)
