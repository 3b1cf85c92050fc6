"""Native T1 from variable-flip-angle (VFA) spoiled gradient-echo images (DESPOT1).

The SPGR steady state (clinical_rules.md §5.2.1) is

    S(α) = M0 · sin α · (1 − E1) / (1 − cos α · E1),   E1 = exp(−TR / T1).

Dividing by sin α makes it linear in S/tan α with slope E1 (Deoni, Rutt & Peters, MRM 2003;49:515–526),
which gives a closed-form start for every voxel at once; a vectorised Levenberg–Marquardt on
(M0, E1) then fits the signal itself, which weights the flip angles as the noise does (the linear
form over-weights low-signal angles). No B1 correction: flip angles are taken as nominal.

>>> import numpy as np
>>> fa = np.array([2.0, 10.0, 20.0]); e1 = np.exp(-0.005 / 1.2)
>>> a = np.deg2rad(fa); s = 1000 * np.sin(a) * (1 - e1) / (1 - np.cos(a) * e1)
>>> fit = fit_vfa_t1(s, flip_angles_deg=fa, tr_s=0.005)
>>> round(float(fit.t1_s), 3)
1.2
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VfaT1Fit:
    """Result of a VFA fit; arrays have the input's spatial shape. Failed voxels hold NaN."""

    t1_s: np.ndarray
    m0: np.ndarray
    failed: np.ndarray  # bool: no physical solution (E1 outside (0, 1), non-finite or non-positive signal)
    rmse: np.ndarray  # root-mean-square residual of the signal fit, in signal units


def spgr_signal(m0: np.ndarray | float, r1_per_s: np.ndarray | float, flip_deg: np.ndarray | float, tr_s: float):
    """SPGR steady-state signal (clinical_rules.md §5.2.1), broadcasting over all arguments."""
    a = np.deg2rad(flip_deg)
    e1 = np.exp(-tr_s * np.asarray(r1_per_s, dtype=float))
    return m0 * np.sin(a) * (1.0 - e1) / (1.0 - np.cos(a) * e1)


def fit_vfa_t1(
    signal: np.ndarray,
    *,
    flip_angles_deg: np.ndarray | tuple[float, ...],
    tr_s: float,
    nonlinear: bool = True,
    iterations: int = 30,
    mask: np.ndarray | None = None,
) -> VfaT1Fit:
    """Fit T1 and M0 to VFA signals.

    Parameters
    ----------
    signal
        Signals with the flip-angle axis last: shape ``(..., n_angles)``.
    flip_angles_deg
        Nominal flip angles in degrees, one per entry of the last axis (at least two distinct).
    tr_s
        Repetition time in seconds.
    nonlinear
        Refine the linear (DESPOT1) solution by Levenberg–Marquardt on the signal equation.
    iterations
        Maximum Levenberg–Marquardt iterations.
    mask
        Voxels to fit (spatial shape); the others are returned as failed. All when None.

    Returns
    -------
    VfaT1Fit
    """
    fa = np.asarray(flip_angles_deg, dtype=float).ravel()
    signal = np.asarray(signal, dtype=float)
    if signal.shape[-1] != fa.size:
        raise ValueError(f"signal has {signal.shape[-1]} values on its last axis but {fa.size} flip angles were given")
    if np.unique(fa).size < 2:
        raise ValueError("VFA T1 mapping needs at least two distinct flip angles")
    if np.any(fa <= 0) or np.any(fa >= 90):
        raise ValueError(f"flip angles must be in (0, 90) degrees, got {fa.tolist()}")
    if not (np.isfinite(tr_s) and tr_s > 0):
        raise ValueError(f"tr_s must be a positive number of seconds, got {tr_s}")
    if iterations < 0:
        raise ValueError("iterations must be ≥ 0")
    shape = signal.shape[:-1]
    s = signal.reshape(-1, fa.size)
    a = np.deg2rad(fa)
    sin_a, cos_a = np.sin(a), np.cos(a)
    bad_input = ~np.all(np.isfinite(s), axis=1) | np.any(s <= 0, axis=1)
    if mask is not None:
        if np.shape(mask) != shape:
            raise ValueError(f"mask shape {np.shape(mask)} does not match the signal's spatial shape {shape}")
        bad_input |= ~np.asarray(mask, bool).reshape(-1)
    s_safe = np.where(bad_input[:, None], 1.0, s)
    # DESPOT1: y = S/sin α = E1 · (S/tan α) + M0 (1 − E1)
    y = s_safe / sin_a
    x = s_safe / np.tan(a)
    xm, ym = x.mean(axis=1, keepdims=True), y.mean(axis=1, keepdims=True)
    sxx = ((x - xm) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = ((x - xm) * (y - ym)).sum(axis=1) / sxx
        m0 = (ym[:, 0] - e1 * xm[:, 0]) / (1.0 - e1)
    ok = np.isfinite(e1) & (e1 > 0) & (e1 < 1) & np.isfinite(m0) & (m0 > 0) & ~bad_input
    e1 = np.where(ok, e1, 0.5)
    m0 = np.where(ok, m0, s_safe.max(axis=1))
    if nonlinear and iterations:
        fit_ids = np.flatnonzero(~bad_input)
        m0[fit_ids], e1[fit_ids] = _lm_spgr(s_safe[fit_ids], sin_a, cos_a, m0[fit_ids], e1[fit_ids], iterations)
        ok = ok | ((e1 > 0) & (e1 < 1) & (m0 > 0) & ~bad_input)
    model = m0[:, None] * sin_a * (1 - e1[:, None]) / (1 - cos_a * e1[:, None])
    rmse = np.sqrt(np.mean((model - s_safe) ** 2, axis=1))
    ok &= (e1 > 0) & (e1 < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(ok, -tr_s / np.log(e1), np.nan)
    return VfaT1Fit(
        t1_s=t1.reshape(shape),
        m0=np.where(ok, m0, np.nan).reshape(shape),
        failed=(~ok).reshape(shape),
        rmse=np.where(ok, rmse, np.nan).reshape(shape),
    )


def _lm_spgr(s, sin_a, cos_a, m0, e1, iterations):
    """Levenberg–Marquardt on (M0, E1) for every voxel at once (2×2 normal equations per voxel)."""

    def model_and_jac(m0_, e1_):
        den = 1.0 - cos_a * e1_[:, None]
        f = sin_a * (1.0 - e1_[:, None]) / den
        jm = f
        je = m0_[:, None] * sin_a * (cos_a - 1.0) / den**2
        return m0_[:, None] * f, jm, je

    lam = np.full(m0.shape, 1e-3)
    model, jm, je = model_and_jac(m0, e1)
    cost = ((s - model) ** 2).sum(axis=1)
    for _ in range(iterations):
        r = s - model
        a11, a12, a22 = (jm * jm).sum(1), (jm * je).sum(1), (je * je).sum(1)
        g1, g2 = (jm * r).sum(1), (je * r).sum(1)
        b11, b22 = a11 * (1 + lam), a22 * (1 + lam)
        det = b11 * b22 - a12 * a12
        with np.errstate(divide="ignore", invalid="ignore"):
            d_m0 = (b22 * g1 - a12 * g2) / det
            d_e1 = (b11 * g2 - a12 * g1) / det
        new_m0 = np.where(np.isfinite(d_m0), m0 + d_m0, m0)
        new_e1 = np.clip(np.where(np.isfinite(d_e1), e1 + d_e1, e1), 1e-9, 1 - 1e-12)
        new_model, new_jm, new_je = model_and_jac(new_m0, new_e1)
        new_cost = ((s - new_model) ** 2).sum(axis=1)
        better = new_cost < cost
        m0 = np.where(better, new_m0, m0)
        e1 = np.where(better, new_e1, e1)
        model = np.where(better[:, None], new_model, model)
        jm = np.where(better[:, None], new_jm, jm)
        je = np.where(better[:, None], new_je, je)
        converged = better & (np.abs(cost - new_cost) <= 1e-12 * np.maximum(cost, 1e-30))
        cost = np.where(better, new_cost, cost)
        lam = np.where(better, lam / 10, lam * 10)
        if np.all(converged | (lam > 1e8)):
            break
    return m0, e1
