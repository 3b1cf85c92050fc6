"""DCE forward models (Tofts, extended Tofts, Patlak) and the exact exponential convolution they share.

Time in minutes inside the models (Ktrans, kep in 1/min); C in mM.
"""

from __future__ import annotations

from typing import Literal

import numba
import numpy as np

Model = Literal["tofts", "extended_tofts", "patlak"]
MODELS: tuple[str, ...] = ("tofts", "extended_tofts", "patlak")


def _phi(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """φ1 = (1 − e^−x)/x, φ2 = (x − 1 + e^−x)/x² and their derivatives, stable at small x."""
    small = x < 1e-2
    xs = np.where(small, 1.0, x)
    e = np.exp(-xs)
    p1 = np.where(small, 1 - x / 2 + x**2 / 6 - x**3 / 24, -np.expm1(-xs) / xs)
    p2 = np.where(small, 0.5 - x / 6 + x**2 / 24 - x**3 / 120, (xs - 1 + e) / xs**2)
    d1 = np.where(small, -0.5 + x / 3 - x**2 / 8 + x**3 / 30, (e * (xs + 1) - 1) / xs**2)
    d2 = np.where(small, -1 / 6 + x / 12 - x**2 / 40 + x**3 / 180, -np.expm1(-xs) / xs**2 - 2 * (xs - 1 + e) / xs**3)
    return p1, p2, d1, d2


def exp_convolution(
    t_min: np.ndarray, cp: np.ndarray, kep: np.ndarray, *, derivative: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """F(t) = ∫₀ᵗ C_p(τ) e^(−kep (t−τ)) dτ for many kep at once, and ∂F/∂kep.

    ``cp`` (T,) is taken as linear between samples, which makes the recursion exact:
    F_n = E·F_{n−1} + Δ[(φ1−φ2)·c_{n−1} + φ2·c_n], E = e^(−kep Δ), x = kep Δ.
    The recursion over time is compiled with numba (a loop over time cannot be vectorised); the
    coefficients are computed with numpy for all voxels at once.

    Parameters
    ----------
    t_min
        Sample times (T,) in minutes, increasing.
    cp
        Input (T,) sampled at ``t_min``.
    kep
        Rate constants (n,) in 1/min, ≥ 0.

    Returns
    -------
    (F, dF)
        Arrays of shape (T, n) (``dF`` is None unless ``derivative``).
    """
    t_min = np.asarray(t_min, dtype=float)
    cp = np.ascontiguousarray(cp, dtype=float)
    kep = np.ascontiguousarray(kep, dtype=float).ravel()
    dts = np.diff(t_min)
    if np.any(dts <= 0):
        raise ValueError("sample times must be strictly increasing")
    uniform = bool(np.allclose(dts, dts[0], rtol=1e-6, atol=0.0))
    deltas = dts[:1] if uniform else dts
    # Coefficients per (distinct step, voxel): shape (S, n), S = 1 for uniform sampling.
    x = deltas[:, None] * kep[None, :]
    p1, p2, d1, d2 = _phi(x)
    e = np.exp(-x)
    dl = deltas[:, None]
    coef = np.stack([e, dl * (p1 - p2), dl * p2, -dl * e, dl**2 * (d1 - d2), dl**2 * d2])  # (6, S, n)
    f = np.zeros((t_min.size, kep.size))
    df = np.zeros((t_min.size, kep.size)) if derivative else np.zeros((1, 1))
    _recursion(cp, np.ascontiguousarray(coef), f, df, derivative)
    return f, (df if derivative else None)


@numba.njit(cache=True, nogil=True)
def _recursion(cp, coef, f, df, derivative):  # pragma: no cover - compiled
    n_t, n_v = f.shape
    uniform = coef.shape[1] == 1
    for n in range(1, n_t):
        s = 0 if uniform else n - 1
        c0 = cp[n - 1]
        c1 = cp[n]
        for v in range(n_v):
            e = coef[0, s, v]
            if derivative:
                df[n, v] = coef[3, s, v] * f[n - 1, v] + e * df[n - 1, v] + coef[4, s, v] * c0 + coef[5, s, v] * c1
            f[n, v] = e * f[n - 1, v] + coef[1, s, v] * c0 + coef[2, s, v] * c1


def model_curves(
    model: Model,
    t_s: np.ndarray,
    cp_mM: np.ndarray,
    *,
    ktrans: np.ndarray,
    ve: np.ndarray | None = None,
    vp: np.ndarray | None = None,
) -> np.ndarray:
    """Tissue concentration curves (n, T) for parameter arrays (n,) — the forward models of §5.2.3."""
    check_model(model)
    t_min = np.asarray(t_s, dtype=float) / 60.0
    ktrans = np.atleast_1d(np.asarray(ktrans, dtype=float))
    vp_ = np.zeros_like(ktrans) if vp is None else np.atleast_1d(np.asarray(vp, dtype=float))
    cp = np.asarray(cp_mM, dtype=float)
    if model == "patlak":
        integral = cumtrapz(cp, t_min)
        return (vp_[:, None] * cp[None, :]) + ktrans[:, None] * integral[None, :]
    if ve is None:
        raise ValueError(f"model {model} needs ve")
    kep = ktrans / np.atleast_1d(np.asarray(ve, dtype=float))
    f, _ = exp_convolution(t_min, cp, kep, derivative=False)
    out = ktrans[None, :] * f
    if model == "extended_tofts":
        out = out + vp_[None, :] * cp[:, None]
    return out.T


def cumtrapz(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Cumulative trapezoid integral along the last axis, starting at 0."""
    inc = 0.5 * (y[..., 1:] + y[..., :-1]) * np.diff(t)
    return np.concatenate([np.zeros((*y.shape[:-1], 1)), np.cumsum(inc, axis=-1)], axis=-1)


def check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
