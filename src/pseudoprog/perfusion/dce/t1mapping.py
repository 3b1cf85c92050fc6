"""Native T1 from variable-flip-angle (VFA) spoiled gradient-echo images (DESPOT1).

The SPGR steady state (clinical_rules.md §5.2.1) is

    S(α) = M0 · sin α · (1 − E1) / (1 − cos α · E1),   E1 = exp(−TR / T1).

Dividing by sin α makes it linear in S/tan α with slope E1 (Deoni, Rutt & Peters, MRM 2003;49:515–526),
which gives a closed-form start for every voxel. The nonlinear least-squares fit of the signal itself (which
weights the flip angles as the noise does; the linear form over-weights low-signal angles) is then solved as in
NOVIFAST (Ramos-Llordén et al., IEEE Trans Med Imaging 2018;37:2414–2427): with ``c1 = M0 (1 − E1)`` and
``c2 = E1`` the model is ``c1 sin α / (1 − c2 cos α)``, and its two stationarity conditions become linear in
(c1, c2) once the weights that depend on c2 are taken from the previous iterate, so each iteration is one 2×2
linear solve per voxel. Started from the linear solution it converges in a few iterations; a voxel whose
iteration does not converge or ends with a larger residual than its start is refitted by Levenberg–Marquardt on
(M0, E1). One compiled pass over the voxels does the start, the iteration and the residual. No B1 correction:
flip angles are taken as nominal.

>>> import numpy as np
>>> fa = np.array([2.0, 10.0, 20.0]); e1 = np.exp(-0.005 / 1.2)
>>> a = np.deg2rad(fa); s = 1000 * np.sin(a) * (1 - e1) / (1 - np.cos(a) * e1)
>>> fit = fit_vfa_t1(s, flip_angles_deg=fa, tr_s=0.005)
>>> round(float(fit.t1_s), 3)
1.2
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
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
        Refine the linear (DESPOT1) solution by nonlinear least squares on the signal equation.
    iterations
        Maximum iterations of the fixed-point solve (and of Levenberg–Marquardt where it is needed).
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
    m0, e1, ok, done = _vfa_kernel(s_safe, sin_a, cos_a, bad_input, nonlinear, iterations)
    if nonlinear and iterations:
        # The rare voxels where the fixed point did not converge or did not lower the residual: LM from the start.
        redo = np.flatnonzero(~done & ~bad_input)
        if redo.size:
            m0[redo], e1[redo] = _lm_spgr(s_safe[redo], sin_a, cos_a, m0[redo], e1[redo], iterations)
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


@numba.njit(cache=True, nogil=True)
def _vfa_kernel(s, sin_a, cos_a, bad, nonlinear, iterations):
    """Per voxel: the DESPOT1 start, then the NOVIFAST fixed-point iteration on (c1, c2) = (M0 (1 − E1), E1).

    Returns (M0, E1, the start was physical, the iteration converged to a residual no larger than the start's).
    """
    n, k = s.shape
    m0_out = np.empty(n)
    e1_out = np.empty(n)
    ok_out = np.zeros(n, dtype=np.bool_)
    done = np.zeros(n, dtype=np.bool_)
    tan_a = sin_a / cos_a
    for v in range(n):
        sig = s[v]
        # DESPOT1: y = S/sin α = E1 · (S/tan α) + M0 (1 − E1)
        xm = 0.0
        ym = 0.0
        for j in range(k):
            xm += sig[j] / tan_a[j]
            ym += sig[j] / sin_a[j]
        xm /= k
        ym /= k
        sxx = 0.0
        sxy = 0.0
        for j in range(k):
            dx = sig[j] / tan_a[j] - xm
            sxx += dx * dx
            sxy += dx * (sig[j] / sin_a[j] - ym)
        e1 = sxy / sxx if sxx > 0 else np.nan
        m0 = (ym - e1 * xm) / (1.0 - e1) if np.isfinite(e1) else np.nan
        ok = np.isfinite(e1) and 0 < e1 < 1 and np.isfinite(m0) and m0 > 0 and not bad[v]
        if not ok:
            e1 = 0.5
            m0 = sig.max()
        ok_out[v] = ok
        if nonlinear and iterations > 0 and not bad[v]:
            cost0 = 0.0
            for j in range(k):
                r = sig[j] - m0 * sin_a[j] * (1.0 - e1) / (1.0 - cos_a[j] * e1)
                cost0 += r * r
            c2 = e1
            c1 = m0 * (1.0 - e1)
            converged = False
            for _ in range(iterations):
                a11 = 0.0
                a12 = 0.0
                a21 = 0.0
                a22 = 0.0
                b1 = 0.0
                b2 = 0.0
                for j in range(k):
                    beta = 1.0 - c2 * cos_a[j]
                    w = sin_a[j] / (beta * beta)  # (∂f/∂c1) / β, frozen at the current c2
                    u = w * cos_a[j] / beta  # (∂f/∂c2) / (c1 β)
                    sc = sig[j] * cos_a[j]
                    a11 += w * sin_a[j]
                    a12 += w * sc
                    b1 += w * sig[j]
                    a21 += u * sin_a[j]
                    a22 += u * sc
                    b2 += u * sig[j]
                det = a11 * a22 - a12 * a21
                if not det != 0.0:
                    break
                new_c1 = (b1 * a22 - a12 * b2) / det
                new_c2 = (a11 * b2 - a21 * b1) / det
                if not (np.isfinite(new_c1) and np.isfinite(new_c2)):
                    break
                step = abs(new_c2 - c2)
                c1 = new_c1
                c2 = new_c2
                if step <= 1e-12 * max(abs(c2), 1e-12):
                    converged = True
                    break
            if converged and 0 < c2 < 1:
                new_m0 = c1 / (1.0 - c2)
                cost = 0.0
                for j in range(k):
                    r = sig[j] - c1 * sin_a[j] / (1.0 - cos_a[j] * c2)
                    cost += r * r
                if new_m0 > 0 and cost <= cost0:
                    m0 = new_m0
                    e1 = c2
                    done[v] = True
        m0_out[v] = m0
        e1_out[v] = e1
    return m0_out, e1_out, ok_out, done


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
