"""DCE-MRI: signal → concentration, arterial input, and Tofts / extended Tofts / Patlak maps.

The steps follow clinical_rules.md §5.2:

1. **Concentration.** The SPGR signal of every frame, relative to the pre-contrast baseline, gives
   R1(t) through the native T1 (a VFA map or a given value); C(t) = (R1(t) − R10) / r1 (fast
   exchange, linear relaxivity).
2. **Arterial input.** From a user's mask, from automatically chosen arterial voxels (largest
   enhancement, then earliest peak), or the Parker population AIF shifted to the detected bolus
   arrival (also used when an automatic AIF is too partial-volumed to be plausible). Whole-blood
   concentration becomes plasma with C_p = C_b / (1 − Hct).
3. **Models.** Standard Tofts C = Ktrans·(C_p ∗ e^(−kep t)); extended Tofts adds vp·C_p; Patlak
   C = vp·C_p + Ktrans·∫C_p. Every voxel starts from the linear least-squares solution of the
   integrated form (Murase, MRM 2004;51:858–862) and from a kep grid with the linear parameters
   solved in closed form (variable projection), whichever fits better; a Levenberg–Marquardt
   refinement then runs on all voxels at once. The convolution with e^(−kep t) is evaluated
   exactly for a piecewise-linear C_p by a recursion over time that is vectorised over voxels, with
   its analytic derivative in kep — so no loop over voxels anywhere.

Units: time in s at the interface, minutes inside the models (Ktrans, kep in 1/min); C in mM;
ve, vp fractions. Constants with their sources are in ``perfusion/data/dce_constants.yaml``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, Literal

import numba
import numpy as np

from ..errors import CannotAssessError, InputError
from .aif_population import parker_aif
from .tables import field_key, load_table

log = logging.getLogger(__name__)

Model = Literal["tofts", "extended_tofts", "patlak"]
MODELS: tuple[str, ...] = ("tofts", "extended_tofts", "patlak")


class FitStatus(IntEnum):
    """Per-voxel outcome written to the ``fit_status`` map."""

    OK = 0
    OUTSIDE_MASK = 1
    INVALID_SIGNAL = 2  # non-finite or non-positive signal, or no baseline
    CONCENTRATION_FAILED = 3  # the SPGR equation has no solution for some frame (signal above its maximum)
    AT_BOUND = 4  # the best fit lies on a parameter bound (Ktrans, kep, ve or vp)
    NOT_FINITE = 5  # the fit produced no finite parameters


# ---------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------


def relaxivity_for(agent: str | None, field_strength_t: float | None) -> tuple[float, str]:
    """r1 (1/(mM·s)) of a contrast agent at a field strength, and where the number came from."""
    table = load_table("dce_constants")["relaxivity_per_mM_s"]
    if agent:
        name = agent.strip().lower()
        for word in name.replace("-", " ").split():
            generic = table["aliases"].get(word, word)
            if generic in table["agents"]:
                value = float(table["agents"][generic][field_key(field_strength_t)])
                return value, f"{generic} at {field_key(field_strength_t)} T, {table['source']}"
    return float(table["default"]), f"agent not recognised or not recorded: default {table['default_source']}"


def blood_t1_for(field_strength_t: float | None) -> tuple[float, str]:
    table = load_table("dce_constants")["blood_t1_s"]
    key = field_key(field_strength_t)
    return float(table[key]), f"arterial blood T1 at {key} T, {table['source']}"


def default_haematocrit() -> float:
    return float(load_table("dce_constants")["haematocrit"]["value"])


# ---------------------------------------------------------------------------------------------
# Signal → concentration
# ---------------------------------------------------------------------------------------------


def signal_to_concentration(
    signal: np.ndarray,
    *,
    t10_s: np.ndarray | float,
    flip_angle_deg: float,
    tr_s: float,
    relaxivity_per_mM_s: float,
    n_baseline: int,
    baseline_start: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """SPGR signal-time curves → contrast concentration (mM), clinical_rules.md §5.2.2.

    Parameters
    ----------
    signal
        Signals with time last, shape ``(..., T)``.
    t10_s
        Native T1 in seconds: a scalar or an array of the spatial shape ``signal.shape[:-1]``.
    flip_angle_deg, tr_s
        Flip angle (degrees) and repetition time (s) of the dynamic series.
    relaxivity_per_mM_s
        r1 of the agent.
    n_baseline
        Number of pre-contrast frames (from the first); frames ``baseline_start … n_baseline − 1`` are averaged
        for S_pre.
    baseline_start
        First frame of the baseline average: 1 skips a first dynamic acquired before the steady state.

    Returns
    -------
    (concentration, failed)
        ``concentration`` has the shape of ``signal`` (NaN where it cannot be computed); ``failed`` is a
        boolean map of the spatial shape, true where any frame has no solution.
    """
    signal = np.asarray(signal, dtype=float)
    if signal.ndim < 1 or signal.shape[-1] < 2:
        raise ValueError("signal must have a time axis (last) with at least two frames")
    if not 1 <= n_baseline < signal.shape[-1]:
        raise ValueError(f"n_baseline must be between 1 and {signal.shape[-1] - 1}, got {n_baseline}")
    if not 0 <= baseline_start < n_baseline:
        raise ValueError(f"baseline_start must be in [0, n_baseline), got {baseline_start}")
    if not (0 < flip_angle_deg < 180):
        raise ValueError(f"flip_angle_deg must be in (0, 180), got {flip_angle_deg}")
    if not (tr_s > 0 and np.isfinite(tr_s)):
        raise ValueError(f"tr_s must be a positive number of seconds, got {tr_s}")
    if not (relaxivity_per_mM_s > 0):
        raise ValueError(f"relaxivity_per_mM_s must be positive, got {relaxivity_per_mM_s}")
    t10 = np.broadcast_to(np.asarray(t10_s, dtype=float), signal.shape[:-1])
    a = np.deg2rad(flip_angle_deg)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r10 = 1.0 / t10
        e10 = np.exp(-tr_s * r10)
        b = (1.0 - e10) / (1.0 - np.cos(a) * e10)
        s_pre = signal[..., baseline_start:n_baseline].mean(axis=-1)
        y = signal / s_pre[..., None] * b[..., None]
        e1 = (1.0 - y) / (1.0 - np.cos(a) * y)
        r1 = -np.log(e1) / tr_s
        conc = (r1 - r10[..., None]) / relaxivity_per_mM_s
    # y = S / (M0 sin α) must stay below 1: above it no R1 reproduces the signal
    conc = np.where(y < 1.0, conc, np.nan)
    bad_voxel = ~(np.isfinite(t10) & (t10 > 0) & np.isfinite(s_pre) & (s_pre > 0))
    failed = bad_voxel | ~np.all(np.isfinite(conc), axis=-1)
    conc = np.where(np.isfinite(conc), conc, np.nan)
    return conc, failed


def detect_bolus_arrival(curve: np.ndarray, t_s: np.ndarray, *, fraction: float | None = None) -> tuple[int, float]:
    """Frame index and time (s) at which a bolus arrives on one (arterial or mean) signal curve.

    The bolus is found where the enhancement first exceeds ``fraction`` of the peak enhancement
    (dce_constants.yaml ``bolus_arrival_fraction_of_peak``); the arrival is the last frame before that which is
    still at the baseline level. Returns ``(n_baseline, arrival_s)``: ``n_baseline`` frames (≥ 1) precede the
    arrival.
    """
    curve = np.asarray(curve, dtype=float)
    if curve.ndim != 1 or curve.size != len(t_s):
        raise ValueError("curve must be 1D with one value per frame")
    frac = float(load_table("dce_constants")["bolus_arrival_fraction_of_peak"]) if fraction is None else fraction
    if not 0 < frac < 1:
        raise ValueError("fraction must be in (0, 1)")
    rise = np.abs(curve - np.median(curve[: max(2, min(5, curve.size // 10))]))
    peak = rise.max()
    if not np.isfinite(peak) or peak <= 0:
        raise CannotAssessError("no contrast enhancement found in the arterial curve: the bolus cannot be located")
    first = int(np.argmax(rise > frac * peak))
    # Walk back from the crossing to the last frame still at baseline level (within 3 robust SD of the early frames
    # and 0.1 % of the peak), so that the baseline average holds no contrast.
    early = rise[: max(2, first // 2)]
    noise = 1.4826 * float(np.median(np.abs(early - np.median(early))))
    level = float(np.median(early)) + 3 * noise + 0.001 * peak
    j = first
    while j > 1 and rise[j - 1] > level:
        j -= 1
    n_baseline = max(1, j)
    return n_baseline, float(t_s[min(n_baseline, t_s.size - 1)])


# ---------------------------------------------------------------------------------------------
# Exponential convolution (exact for a piecewise-linear input), vectorised over voxels
# ---------------------------------------------------------------------------------------------


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
    _check_model(model)
    t_min = np.asarray(t_s, dtype=float) / 60.0
    ktrans = np.atleast_1d(np.asarray(ktrans, dtype=float))
    vp_ = np.zeros_like(ktrans) if vp is None else np.atleast_1d(np.asarray(vp, dtype=float))
    cp = np.asarray(cp_mM, dtype=float)
    if model == "patlak":
        integral = _cumtrapz(cp, t_min)
        return (vp_[:, None] * cp[None, :]) + ktrans[:, None] * integral[None, :]
    if ve is None:
        raise ValueError(f"model {model} needs ve")
    kep = ktrans / np.atleast_1d(np.asarray(ve, dtype=float))
    f, _ = exp_convolution(t_min, cp, kep, derivative=False)
    out = ktrans[None, :] * f
    if model == "extended_tofts":
        out = out + vp_[None, :] * cp[:, None]
    return out.T


def _cumtrapz(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Cumulative trapezoid integral along the last axis, starting at 0."""
    inc = 0.5 * (y[..., 1:] + y[..., :-1]) * np.diff(t)
    return np.concatenate([np.zeros((*y.shape[:-1], 1)), np.cumsum(inc, axis=-1)], axis=-1)


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")


# ---------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DceFit:
    """Pharmacokinetic maps of one fit, in the spatial shape of the input (NaN outside the mask / failed)."""

    model: str
    ktrans: np.ndarray  # 1/min
    ve: np.ndarray  # fraction (NaN for Patlak)
    vp: np.ndarray  # fraction (NaN for standard Tofts)
    kep: np.ndarray  # 1/min (NaN for Patlak)
    rmse: np.ndarray  # mM
    r2: np.ndarray  # coefficient of determination of the concentration fit
    status: np.ndarray  # uint8 FitStatus codes
    parameters: dict[str, Any] = field(default_factory=dict)
    delay_s: np.ndarray | None = None  # chosen arterial delay per voxel when candidate delays were given

    @property
    def failed(self) -> np.ndarray:
        return (self.status != FitStatus.OK) & (self.status != FitStatus.OUTSIDE_MASK)


def fit_dce(
    concentration: np.ndarray,
    *,
    t_s: np.ndarray,
    cp_mM: np.ndarray,
    model: Model = "extended_tofts",
    mask: np.ndarray | None = None,
    method: Literal["linear", "nonlinear"] = "nonlinear",
    iterations: int = 50,
    chunk_voxels: int | None = None,
    delays_s: tuple[float, ...] | None = None,
) -> DceFit:
    """Fit a pharmacokinetic model to every voxel's concentration curve.

    Parameters
    ----------
    concentration
        Tissue concentration (mM), time last: ``(..., T)``.
    t_s
        Frame times in seconds (T,), increasing.
    cp_mM
        Plasma arterial input (T,) in mM, sampled at ``t_s``.
    model
        ``"tofts"``, ``"extended_tofts"`` or ``"patlak"``.
    mask
        Voxels to fit (spatial shape); all when None.
    method
        ``"linear"``: closed-form solutions only — linear least squares of Murase's integrated form (or
        Patlak's linear model) and the kep-grid variable-projection start, whichever fits better;
        ``"nonlinear"``: then Levenberg–Marquardt on the model curves over all voxels at once.
    iterations
        Maximum Levenberg–Marquardt iterations.
    chunk_voxels
        Voxels processed together (bounds memory: a few arrays of T × chunk doubles); by default about
        5 million samples per chunk.
    delays_s
        Candidate arterial-to-tissue delays (s, ≥ 0). When given, the whole fit is repeated with the input
        delayed by each value (linear interpolation, zero before the start) and every voxel keeps the delay with
        the smallest residual; the chosen delay is in ``DceFit.delay_s``. None: no delay.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0, 300, 2.0); cp = parker_aif(t, delay_s=20) / (1 - 0.42)
    >>> c = model_curves("extended_tofts", t, cp, ktrans=np.array([0.2]), ve=np.array([0.3]), vp=np.array([0.05]))
    >>> fit = fit_dce(c, t_s=t, cp_mM=cp, model="extended_tofts")
    >>> [round(float(v[0]), 3) for v in (fit.ktrans, fit.ve, fit.vp)]
    [0.2, 0.3, 0.05]
    """
    _check_model(model)
    if method not in ("linear", "nonlinear"):
        raise ValueError(f"method must be 'linear' or 'nonlinear', got {method!r}")
    if iterations < 0 or (chunk_voxels is not None and chunk_voxels < 1):
        raise ValueError("iterations must be ≥ 0 and chunk_voxels ≥ 1")
    conc = np.asarray(concentration, dtype=float)
    t_s = np.asarray(t_s, dtype=float)
    cp = np.asarray(cp_mM, dtype=float)
    if t_s.ndim != 1 or conc.shape[-1] != t_s.size or cp.shape != t_s.shape:
        raise ValueError(
            f"concentration (…, {conc.shape[-1]}), t_s {t_s.shape} and cp_mM {cp.shape} must share the time axis"
        )
    if t_s.size < 4:
        raise ValueError("a DCE fit needs at least 4 frames")
    if not np.all(np.isfinite(cp)):
        raise ValueError("the arterial input cp_mM contains non-finite values")
    if np.any(np.diff(t_s) <= 0):
        raise ValueError("t_s must be strictly increasing")
    delays = (0.0,) if delays_s is None else tuple(float(d) for d in delays_s)
    if not delays or any(not np.isfinite(d) or d < 0 for d in delays):
        raise ValueError(f"delays_s must be non-empty finite values ≥ 0, got {delays_s}")
    spatial = conc.shape[:-1]
    if mask is None:
        mask = np.ones(spatial, dtype=bool)
    elif mask.shape != spatial:
        raise ValueError(f"mask shape {mask.shape} does not match the concentration's spatial shape {spatial}")
    flat = conc.reshape(-1, t_s.size)
    idx = np.flatnonzero(mask.reshape(-1))
    n_all = flat.shape[0]
    out = {k: np.full(n_all, np.nan) for k in ("ktrans", "ve", "vp", "kep", "rmse", "r2", "delay_s")}
    status = np.full(n_all, FitStatus.OUTSIDE_MASK, dtype=np.uint8)
    bounds = load_table("dce_constants")["fit_bounds"]
    t_min = t_s / 60.0
    chunk = chunk_voxels or max(1000, 5_000_000 // t_s.size)
    for start in range(0, idx.size, chunk):
        sel = idx[start : start + chunk]
        c = flat[sel]
        valid = np.all(np.isfinite(c), axis=1)
        res: dict[str, np.ndarray] = {}
        for d in delays:  # a handful of candidate delays, each fitted over all voxels at once
            cp_d = np.interp(t_s - d, t_s, cp, left=0.0) if d > 0 else cp
            trial = _fit_chunk(np.where(valid[:, None], c, 0.0), t_min, cp_d, model, method, iterations, bounds)
            trial["delay_s"] = np.full(c.shape[0], d)
            if not res:
                res = trial
            else:
                better = trial["rmse"] < res["rmse"]
                res = {k: np.where(better, trial[k], res[k]) for k in res}
        for k in out:
            out[k][sel] = np.where(valid, res[k], np.nan)
        st = np.where(valid, res["status"], FitStatus.INVALID_SIGNAL)
        status[sel] = st
    delay_map = out.pop("delay_s").reshape(spatial)
    shape_out = {k: v.reshape(spatial) for k, v in out.items()}
    return DceFit(
        model=model,
        status=status.reshape(spatial),
        delay_s=delay_map if delays_s is not None else None,
        parameters={
            "model": model,
            "delays_s": list(delays) if delays_s is not None else None,
            "method": method,
            "iterations_max": iterations,
            "bounds": bounds,
            "linear_start": "Murase 2004 integrated linear least squares and a kep grid with closed-form linear "
            "parameters (variable projection), whichever fits better",
        },
        **shape_out,
    )


def _fit_chunk(c, t_min, cp, model, method, iterations, bounds) -> dict[str, np.ndarray]:
    n = c.shape[0]
    cp_int = _cumtrapz(cp, t_min)
    kt_lo, kt_hi = bounds["ktrans_per_min"]
    kep_lo, kep_hi = bounds["kep_per_min"]
    ve_lo, ve_hi = bounds["ve"]
    vp_lo, vp_hi = bounds["vp"]
    if model == "patlak":
        x = np.stack([cp_int, cp], axis=1)  # (T, 2): Ktrans, vp — linear and shared by all voxels
        coef, *_ = np.linalg.lstsq(x, c.T, rcond=None)
        ktrans, vp = coef[0], coef[1]
        kep = np.full(n, np.nan)
        ve = np.full(n, np.nan)
        at_bound = (ktrans < kt_lo) | (ktrans > kt_hi) | (vp < vp_lo) | (vp > vp_hi)
        ktrans, vp = np.clip(ktrans, kt_lo, kt_hi), np.clip(vp, vp_lo, vp_hi)
        sse = ((c - ktrans[:, None] * cp_int[None, :] - vp[:, None] * cp[None, :]) ** 2).sum(1)
    else:
        with_vp = model == "extended_tofts"
        ktrans, kep, vp = _linear_start(c, t_min, cp, cp_int, with_vp)
        ktrans, kep, vp = _clip(ktrans, kep, vp, bounds, with_vp)
        g_kt, g_kep, g_vp = _grid_start(c, t_min, cp, with_vp, bounds)
        use_grid = _sse(c, t_min, cp, g_kt, g_kep, g_vp, with_vp) < _sse(c, t_min, cp, ktrans, kep, vp, with_vp)
        ktrans = np.where(use_grid, g_kt, ktrans)
        kep = np.where(use_grid, g_kep, kep)
        vp = np.where(use_grid, g_vp, vp)
        if method == "nonlinear" and iterations:
            ktrans, kep, vp, sse = _levenberg_marquardt(c, t_min, cp, ktrans, kep, vp, with_vp, bounds, iterations)
        else:
            sse = _sse(c, t_min, cp, ktrans, kep, vp, with_vp)
        with np.errstate(divide="ignore", invalid="ignore"):
            ve = ktrans / kep
        at_bound = (
            np.isclose(ktrans, kt_hi)
            | np.isclose(kep, kep_lo)
            | np.isclose(kep, kep_hi)
            | (ve >= ve_hi * (1 - 1e-9))
            | (with_vp & np.isclose(vp, vp_hi))
        )
        at_bound &= ktrans > kt_lo  # Ktrans = 0 (no leakage) is a valid answer, whatever kep then is
        if not with_vp:
            vp = np.full(n, np.nan)
        ve = np.clip(ve, ve_lo, ve_hi)
    rmse = np.sqrt(sse / c.shape[1])
    ss_tot = ((c - c.mean(axis=1, keepdims=True)) ** 2).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1.0 - sse / ss_tot, np.nan)
    finite = np.isfinite(ktrans) & (np.isfinite(ve) | (model == "patlak")) & np.isfinite(rmse)
    status = np.where(~finite, FitStatus.NOT_FINITE, np.where(at_bound, FitStatus.AT_BOUND, FitStatus.OK))
    return {"ktrans": ktrans, "ve": ve, "vp": vp, "kep": kep, "rmse": rmse, "r2": r2, "status": status}


def _clip(ktrans, kep, vp, bounds, with_vp):
    kt_lo, kt_hi = bounds["ktrans_per_min"]
    kep_lo, kep_hi = bounds["kep_per_min"]
    ve_lo, ve_hi = bounds["ve"]
    vp_lo, vp_hi = bounds["vp"]
    ktrans = np.clip(np.nan_to_num(ktrans, nan=0.01), kt_lo, kt_hi)
    kep = np.clip(np.nan_to_num(kep, nan=0.5), kep_lo, kep_hi)
    # ve = Ktrans / kep within its bounds
    kep = np.clip(kep, np.maximum(ktrans / ve_hi, kep_lo), np.maximum(ktrans / ve_lo, kep_lo))
    kep = np.minimum(kep, kep_hi)
    vp = np.clip(np.nan_to_num(vp, nan=0.0), vp_lo, vp_hi) if with_vp else np.zeros_like(ktrans)
    return ktrans, kep, vp


def _linear_start(c, t_min, cp, cp_int, with_vp):
    """Murase's integrated linear form, solved per voxel with batched normal equations.

    Tofts:   C = Ktrans·∫C_p − kep·∫C
    ETofts:  C = (Ktrans + kep·vp)·∫C_p − kep·∫C + vp·C_p
    """
    c_int = _cumtrapz(c, t_min)  # (n, T)
    cols_shared = [cp_int] + ([cp] if with_vp else [])
    p = 2 + int(with_vp)
    n = c.shape[0]
    xtx = np.empty((n, p, p))
    xty = np.empty((n, p))
    # Column order: [∫Cp, −∫C, (Cp)]
    xtx[:, 0, 0] = cp_int @ cp_int
    xtx[:, 0, 1] = xtx[:, 1, 0] = -(c_int @ cp_int)
    xtx[:, 1, 1] = (c_int * c_int).sum(1)
    xty[:, 0] = c @ cp_int
    xty[:, 1] = -(c * c_int).sum(1)
    if with_vp:
        xtx[:, 0, 2] = xtx[:, 2, 0] = cp_int @ cp
        xtx[:, 1, 2] = xtx[:, 2, 1] = -(c_int @ cp)
        xtx[:, 2, 2] = cp @ cp
        xty[:, 2] = c @ cp
    del cols_shared
    ridge = 1e-12 * np.trace(xtx, axis1=1, axis2=2)[:, None, None] * np.eye(p)
    try:
        coef = np.linalg.solve(xtx + ridge, xty[..., None])[..., 0]
    except np.linalg.LinAlgError:
        coef = np.full((n, p), np.nan)
    kep = coef[:, 1]
    vp = coef[:, 2] if with_vp else np.zeros(n)
    ktrans = coef[:, 0] - kep * vp
    return ktrans, kep, vp


def _grid_start(c, t_min, cp, with_vp, bounds, n_grid: int = 24):
    """Best kep on a log grid, with Ktrans (and vp) solved in closed form for each grid value."""
    kep_lo, kep_hi = bounds["kep_per_min"]
    grid = np.geomspace(max(kep_lo, 1e-3), kep_hi, n_grid)
    f, _ = exp_convolution(t_min, cp, grid, derivative=False)  # (T, G): shared by all voxels
    cf = c @ f  # (n, G)
    ff = (f * f).sum(0)  # (G,)
    cc = (c * c).sum(1)  # (n,)
    if with_vp:
        fc = cp @ f  # (G,)
        pp = cp @ cp
        cpc = c @ cp  # (n,)
        det = ff * pp - fc**2  # (G,)
        with np.errstate(divide="ignore", invalid="ignore"):
            kt = (pp * cf - fc[None, :] * cpc[:, None]) / det
            vp = (ff[None, :] * cpc[:, None] - fc[None, :] * cf) / det
        kt = np.maximum(np.nan_to_num(kt), 0.0)
        vp = np.maximum(np.nan_to_num(vp), 0.0)
        sse = cc[:, None] - 2 * kt * cf - 2 * vp * cpc[:, None] + kt**2 * ff + 2 * kt * vp * fc + vp**2 * pp
    else:
        kt = np.maximum(cf / ff, 0.0)
        vp = np.zeros_like(kt)
        sse = cc[:, None] - 2 * kt * cf + kt**2 * ff
    best = np.argmin(sse, axis=1)
    rows = np.arange(c.shape[0])
    return _clip(kt[rows, best], grid[best], vp[rows, best], bounds, with_vp)


def _levenberg_marquardt(c, t_min, cp, ktrans, kep, vp, with_vp, bounds, iterations):
    """Projected Levenberg–Marquardt on (Ktrans, kep[, vp]) for every voxel at once.

    Each voxel keeps its own damping factor; a step is accepted only where it lowers that voxel's
    sum of squares. The Jacobian is analytic (∂C/∂Ktrans = F, ∂C/∂kep = Ktrans·∂F/∂kep,
    ∂C/∂vp = C_p) and is reduced to the normal equations inside one compiled pass over time per
    voxel, so no (voxels × frames) array is ever stored.
    """
    p = 3 if with_vp else 2
    eye = np.eye(p)
    c = np.ascontiguousarray(c, dtype=float)
    deltas = _deltas(t_min)
    cp = np.ascontiguousarray(cp, dtype=float)
    ktrans, kep, vp = (np.array(a, dtype=float) for a in (ktrans, kep, vp))
    cost, jtj, jtr = _normal_equations(c, deltas, cp, ktrans, kep, vp, p)
    lam = np.full(c.shape[0], 1e-2)
    active = np.ones(c.shape[0], dtype=bool)
    for _ in range(iterations):
        ids = np.flatnonzero(active)
        if ids.size == 0:
            break
        diag = np.einsum("npp->np", jtj[ids])
        damped = jtj[ids] + (lam[ids, None] * np.maximum(diag, 1e-12))[:, :, None] * eye
        try:
            step = np.linalg.solve(damped, jtr[ids][..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.zeros((ids.size, p))
        step = np.nan_to_num(step)
        n_kt, n_kep, n_vp = _clip(
            ktrans[ids] + step[:, 0],
            kep[ids] + step[:, 1],
            (vp[ids] + step[:, 2]) if with_vp else vp[ids],
            bounds,
            with_vp,
        )
        n_cost, n_jtj, n_jtr = _normal_equations(c[ids], deltas, cp, n_kt, n_kep, n_vp, p)
        better = n_cost < cost[ids]
        acc = ids[better]
        rel_change = (cost[acc] - n_cost[better]) / np.maximum(cost[acc], 1e-30)
        ktrans[acc], kep[acc], vp[acc] = n_kt[better], n_kep[better], n_vp[better]
        cost[acc], jtj[acc], jtr[acc] = n_cost[better], n_jtj[better], n_jtr[better]
        lam[acc] = np.maximum(lam[acc] / 5.0, 1e-9)
        rej = ids[~better]
        lam[rej] = lam[rej] * 10.0
        small_step = np.all(
            np.abs(step[better]) <= 1e-5 * (np.abs(np.stack([n_kt, n_kep, n_vp], 1)[better, :p]) + 1e-3), 1
        )
        active[acc[(rel_change < 1e-7) | small_step]] = False
        active[rej[lam[rej] > 1e6]] = False
    return ktrans, kep, vp, cost


def _deltas(t_min: np.ndarray) -> np.ndarray:
    """Sampling intervals: one value when uniform (to 1e-6), else every interval."""
    d = np.diff(np.asarray(t_min, dtype=float))
    return np.ascontiguousarray(d[:1] if np.allclose(d, d[0], rtol=1e-6, atol=0.0) else d)


def _sse(c, t_min, cp, ktrans, kep, vp, with_vp) -> np.ndarray:
    """Sum of squared residuals of the (extended) Tofts model per voxel (no curves stored)."""
    cost, _, _ = _normal_equations(
        np.ascontiguousarray(c, dtype=float),
        _deltas(t_min),
        np.ascontiguousarray(cp, dtype=float),
        np.asarray(ktrans, dtype=float),
        np.asarray(kep, dtype=float),
        np.asarray(vp, dtype=float),
        3 if with_vp else 2,
    )
    return cost


@numba.njit(cache=True, nogil=True)
def _phi_scalar(x):  # pragma: no cover - compiled
    """Scalar version of :func:`_phi` (φ1, φ2, φ1', φ2')."""
    if x < 1e-2:
        x2 = x * x
        x3 = x2 * x
        return (
            1 - x / 2 + x2 / 6 - x3 / 24,
            0.5 - x / 6 + x2 / 24 - x3 / 120,
            -0.5 + x / 3 - x2 / 8 + x3 / 30,
            -1 / 6 + x / 12 - x2 / 40 + x3 / 180,
        )
    e = np.exp(-x)
    om = -np.expm1(-x)
    return om / x, (x - 1 + e) / (x * x), (e * (x + 1) - 1) / (x * x), om / (x * x) - 2 * (x - 1 + e) / (x * x * x)


@numba.njit(cache=True, nogil=True)
def _normal_equations(c, deltas, cp, ktrans, kep, vp, p):  # pragma: no cover - compiled
    """Sum of squares, JᵀJ and Jᵀr of the (extended) Tofts model for every voxel, in one pass over time.

    ``deltas`` holds the sampling intervals (minutes): one value for uniform sampling, else T − 1.
    """
    n_v, n_t = c.shape
    uniform = deltas.shape[0] == 1
    cost = np.zeros(n_v)
    jtj = np.zeros((n_v, p, p))
    jtr = np.zeros((n_v, p))
    for v in range(n_v):
        k = kep[v]
        kt = ktrans[v]
        vpv = vp[v]
        f = 0.0
        df = 0.0
        e = a = b = de = da = db = 0.0
        # frame 0: F = 0
        r = c[v, 0] - vpv * cp[0]
        cost[v] += r * r
        if p == 3:
            jtj[v, 2, 2] += cp[0] * cp[0]
            jtr[v, 2] += cp[0] * r
        for n in range(1, n_t):
            if n == 1 or not uniform:
                delta = deltas[0] if uniform else deltas[n - 1]
                x = k * delta
                p1, p2, d1, d2 = _phi_scalar(x)
                e = np.exp(-x)
                a = delta * (p1 - p2)
                b = delta * p2
                de = -delta * e
                da = delta * delta * (d1 - d2)
                db = delta * delta * d2
            c0 = cp[n - 1]
            c1 = cp[n]
            df = de * f + e * df + da * c0 + db * c1
            f = e * f + a * c0 + b * c1
            r = c[v, n] - (kt * f + vpv * c1)
            cost[v] += r * r
            j0 = f
            j1 = kt * df
            jtj[v, 0, 0] += j0 * j0
            jtj[v, 0, 1] += j0 * j1
            jtj[v, 1, 1] += j1 * j1
            jtr[v, 0] += j0 * r
            jtr[v, 1] += j1 * r
            if p == 3:
                jtj[v, 0, 2] += j0 * c1
                jtj[v, 1, 2] += j1 * c1
                jtj[v, 2, 2] += c1 * c1
                jtr[v, 2] += c1 * r
        jtj[v, 1, 0] = jtj[v, 0, 1]
        if p == 3:
            jtj[v, 2, 0] = jtj[v, 0, 2]
            jtj[v, 2, 1] = jtj[v, 1, 2]
    return cost, jtj, jtr


# ---------------------------------------------------------------------------------------------
# Arterial input
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArterialInput:
    """The plasma arterial input used for a fit, and how it was obtained."""

    cp_mM: np.ndarray  # plasma concentration per frame
    source: str  # "mask" | "automatic" | "population (Parker 2006)"
    n_voxels: int  # arterial voxels averaged (0 for the population AIF)
    haematocrit: float
    bolus_arrival_s: float
    details: dict[str, Any] = field(default_factory=dict)


def select_arterial_voxels(signal: np.ndarray, *, n_baseline: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Automatic AIF voxels: the largest enhancement, then the earliest peak among those.

    Parameters
    ----------
    signal
        Dynamic signal, time last, spatial shape ``S``.
    n_baseline
        Pre-contrast frames.
    mask
        Where to search (e.g. the brain); everywhere when None.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the chosen voxels (shape ``S``).
    """
    cfg = load_table("dce_constants")["auto_aif"]
    spatial = signal.shape[:-1]
    search = np.ones(spatial, dtype=bool) if mask is None else mask.astype(bool)
    base = signal[..., :n_baseline].mean(-1)
    rel = signal.max(-1) - base  # absolute enhancement: a ratio would favour noisy, dark voxels
    rel = np.where(search & np.isfinite(rel) & (base > 0), rel, -np.inf)
    n_cand = max(int(cfg["max_voxels"]), int(np.ceil(cfg["top_fraction_by_peak"] * np.count_nonzero(search))))
    order = np.argsort(rel.ravel())[::-1][:n_cand]
    order = order[np.isfinite(rel.ravel()[order])]
    if order.size == 0:
        raise CannotAssessError("no enhancing voxel found for an automatic arterial input function")
    peaks = np.argmax(signal.reshape(-1, signal.shape[-1])[order], axis=1)
    earliest = order[np.argsort(peaks, kind="stable")[: int(cfg["max_voxels"])]]
    out = np.zeros(int(np.prod(spatial)), dtype=bool)
    out[earliest] = True
    return out.reshape(spatial)


# ---------------------------------------------------------------------------------------------
# Protocol checks (clinical_rules.md §4.6)
# ---------------------------------------------------------------------------------------------


def protocol_warnings(*, tr_ms: float | None, flip_angle_deg: float | None, duration_s: float | None) -> list[str]:
    """Departures of a DCE acquisition from the recommended protocol (warnings, not errors)."""
    p = load_table("dce_constants")["protocol"]
    out = []
    lo, hi = p["repetition_time_ms"]
    if tr_ms is not None and not lo <= tr_ms <= hi:
        out.append(f"DCE TR {tr_ms:g} ms is outside the recommended {lo:g}–{hi:g} ms ({p['source']})")
    if flip_angle_deg is not None and abs(flip_angle_deg - p["flip_angle_deg"]) > 10:
        out.append(f"DCE flip angle {flip_angle_deg:g}° differs from the recommended {p['flip_angle_deg']:g}°")
    if duration_s is not None and duration_s < p["min_duration_s"]:
        out.append(
            f"DCE acquisition lasts {duration_s:.0f} s, shorter than the recommended {p['min_duration_s']:.0f} s: "
            "Ktrans and ve are less reliable"
        )
    return out


def validate_dynamic(data: np.ndarray, t_s: np.ndarray | None, *, file: str | None = None) -> None:
    """Refuse a dynamic series that cannot be fitted, naming the file and what is wrong."""
    if data.ndim != 4:
        raise InputError(f"a DCE series must be 4D (x, y, z, time), got shape {data.shape}", file=file)
    if t_s is None:
        raise InputError(
            "the DCE series has no frame times",
            file=file,
            field="frame times",
            expected="TriggerTime/AcquisitionTime in DICOM or FrameTimesStart/RepetitionTime in JSON",
        )
    if data.shape[-1] < 10:
        raise InputError(f"the DCE series has only {data.shape[-1]} frames", file=file, expected="≥ 10 dynamics")
    if not np.all(np.isfinite(data)):
        raise InputError("the DCE series contains NaN or infinite values", file=file, expected="finite signal")


def _image_aif(
    signal,
    t_s,
    aif_mask,
    t10,
    t10_is_map,
    blood_t1_s,
    field_strength_t,
    flip_angle_deg,
    tr_s,
    relaxivity,
    n_baseline,
    hct,
    *,
    user_mask: bool,
) -> ArterialInput:
    """Plasma input from the mean signal of arterial voxels (blood T1 from the T1 map there, else the table)."""
    curve = signal[aif_mask].mean(0)
    if blood_t1_s is None:
        t10_in_aif = t10[aif_mask]
        t10_in_aif = t10_in_aif[np.isfinite(t10_in_aif)]
        if t10_is_map and t10_in_aif.size:
            blood_t1_s, bt1_source = float(np.median(t10_in_aif)), "median native T1 map in the AIF voxels"
        else:
            blood_t1_s, bt1_source = blood_t1_for(field_strength_t)
    else:
        bt1_source = "given by the user"
    cb, failed = signal_to_concentration(
        curve,
        t10_s=blood_t1_s,
        flip_angle_deg=flip_angle_deg,
        tr_s=tr_s,
        relaxivity_per_mM_s=relaxivity,
        n_baseline=n_baseline,
    )
    if bool(failed) and user_mask:
        raise CannotAssessError(
            "the arterial signal exceeds what the SPGR equation allows (saturation or inflow): "
            "choose another AIF mask or use the population AIF"
        )
    return ArterialInput(
        cp_mM=cb / (1.0 - hct),
        source="mask" if user_mask else "automatic",
        n_voxels=int(aif_mask.sum()),
        haematocrit=hct,
        bolus_arrival_s=float(t_s[n_baseline]),
        details={"blood_t1_s": blood_t1_s, "blood_t1_source": bt1_source},
    )


def parker_plasma_input(t_s: np.ndarray, *, arrival_s: float, haematocrit: float) -> np.ndarray:
    """Parker population AIF as plasma concentration (mM) starting at ``arrival_s``."""
    if not 0 <= haematocrit < 1:
        raise ValueError(f"haematocrit must be in [0, 1), got {haematocrit}")
    return parker_aif(t_s, delay_s=max(arrival_s, 0.0)) / (1.0 - haematocrit)


# ---------------------------------------------------------------------------------------------
# Whole-series maps
# ---------------------------------------------------------------------------------------------

MAP_UNITS = {
    "ktrans": "1/min",
    "ve": "fraction",
    "vp": "fraction",
    "kep": "1/min",
    "rmse": "mM",
    "r2": "1",
    "fit_status": "code (0 ok, 1 outside mask, 2 invalid signal, 3 concentration failed, 4 at bound, 5 not finite)",
    "t10": "s",
    "auc90": "mM·s",
}


@dataclass(frozen=True)
class DceResult:
    """Everything a DCE analysis produced, on the dynamic series' grid."""

    fit: DceFit
    t10_s: np.ndarray  # native T1 used per voxel
    aif: ArterialInput
    aif_mask: np.ndarray | None  # voxels averaged for the AIF (None for the population AIF)
    tissue_mask: np.ndarray
    auc90: np.ndarray  # initial area under the concentration curve over 90 s after arrival (mM·s)
    n_baseline: int
    parameters: dict[str, Any]
    warnings: tuple[str, ...]

    def maps(self) -> dict[str, np.ndarray]:
        """Name → map (spatial shape), units in :data:`MAP_UNITS`."""
        status = self.fit.status.copy()
        out = {"ktrans": self.fit.ktrans, "kep": self.fit.kep, "ve": self.fit.ve}
        if self.fit.model != "tofts":
            out["vp"] = self.fit.vp
        if self.fit.model == "patlak":
            out.pop("kep")
            out.pop("ve")
        out.update(
            {"rmse": self.fit.rmse, "r2": self.fit.r2, "fit_status": status, "t10": self.t10_s, "auc90": self.auc90}
        )
        return out


def compute_dce_maps(
    signal: np.ndarray,
    t_s: np.ndarray,
    *,
    flip_angle_deg: float,
    tr_s: float,
    t10_s: np.ndarray | float,
    field_strength_t: float | None = None,
    contrast_agent: str | None = None,
    relaxivity_per_mM_s: float | None = None,
    haematocrit: float | None = None,
    blood_t1_s: float | None = None,
    aif: Literal["auto", "population"] | np.ndarray = "auto",
    model: Model = "extended_tofts",
    method: Literal["linear", "nonlinear"] = "nonlinear",
    n_baseline: int | None = None,
    tissue_mask: np.ndarray | None = None,
    file: str | None = None,
) -> DceResult:
    """Ktrans, ve, vp (and fit quality) maps from a dynamic SPGR series.

    Parameters
    ----------
    signal
        Dynamic signal ``(x, y, z, T)``.
    t_s
        Frame times in seconds from the first frame.
    flip_angle_deg, tr_s
        Flip angle and repetition time of the dynamic series.
    t10_s
        Native T1 (s): a map of the spatial shape (from VFA) or one value.
    field_strength_t, contrast_agent
        Select the relaxivity and the blood T1 from the tables when not given.
    relaxivity_per_mM_s, haematocrit, blood_t1_s
        Override the table values (r1 in 1/(mM·s); Hct fraction; arterial blood T1 in s).
    aif
        ``"auto"`` (automatic arterial voxels), ``"population"`` (Parker 2006) or a boolean mask of
        arterial voxels of the spatial shape.
    model, method
        See :func:`fit_dce`.
    n_baseline
        Pre-contrast frames; detected from the arterial curve when None.
    tissue_mask
        Voxels to fit; by default every voxel above the background threshold (dce_constants.yaml).
    file
        Name of the source, used in error messages only.
    """
    validate_dynamic(signal, t_s, file=file)
    _check_model(model)
    t_s = np.asarray(t_s, dtype=float)
    spatial = signal.shape[:-1]
    warnings: list[str] = []
    table = load_table("dce_constants")
    if relaxivity_per_mM_s is None:
        relaxivity_per_mM_s, r1_source = relaxivity_for(contrast_agent, field_strength_t)
        if "not recognised" in r1_source:
            warnings.append(f"contrast agent not recorded or not recognised: r1 = {relaxivity_per_mM_s} /mM/s assumed")
    else:
        r1_source = "given by the user"
    hct = default_haematocrit() if haematocrit is None else float(haematocrit)
    if not 0 <= hct < 1:
        raise ValueError(f"haematocrit must be in [0, 1), got {hct}")
    t10 = np.broadcast_to(np.asarray(t10_s, dtype=float), spatial)
    base_img = signal[..., : max(1, n_baseline or 3)].mean(-1)
    if tissue_mask is None:
        thr = table["tissue_threshold_fraction_of_p90"] * np.percentile(base_img, 90)
        tissue_mask = base_img > thr
    tissue_mask = tissue_mask & np.isfinite(t10) & (t10 > 0)

    # Bolus arrival and baseline length
    aif_mask: np.ndarray | None = None
    if isinstance(aif, np.ndarray):
        if aif.shape != spatial:
            raise InputError(
                f"AIF mask shape {aif.shape} does not match the DCE grid {spatial}", file=file, field="aif mask"
            )
        aif_mask = aif.astype(bool)
        if not aif_mask.any():
            raise InputError("the AIF mask is empty", file=file, field="aif mask")
    elif not isinstance(aif, str) or aif not in ("auto", "population"):
        raise ValueError(f"aif must be 'auto', 'population' or a mask, got {aif!r}")
    if n_baseline is None:
        if aif_mask is not None:
            probe = signal[aif_mask].mean(0)
        else:
            rise = np.where(tissue_mask, signal.max(-1) - signal[..., 0], -np.inf)
            top = rise >= np.percentile(rise[tissue_mask], 99) if tissue_mask.any() else tissue_mask
            if not top.any():
                raise CannotAssessError("no tissue signal in the DCE series")
            probe = signal[top].mean(0)
        n_baseline, _ = detect_bolus_arrival(probe, t_s)
    if not 1 <= n_baseline < t_s.size - 3:
        raise ValueError(f"n_baseline must be between 1 and {t_s.size - 4}, got {n_baseline}")
    if n_baseline < 3:
        warnings.append(f"only {n_baseline} pre-contrast frame(s): the baseline signal is noisy")
    if isinstance(aif, str) and aif == "auto":
        aif_mask = select_arterial_voxels(signal, n_baseline=n_baseline, mask=tissue_mask)

    art: ArterialInput | None = None
    if aif_mask is not None:
        art = _image_aif(
            signal,
            t_s,
            aif_mask,
            t10,
            np.ndim(t10_s) > 0,
            blood_t1_s,
            field_strength_t,
            flip_angle_deg,
            tr_s,
            relaxivity_per_mM_s,
            n_baseline,
            hct,
            user_mask=not isinstance(aif, str),
        )
        floor = float(table["min_plausible_aif_peak_plasma_mM"])
        peak = float(np.max(art.cp_mM)) if np.all(np.isfinite(art.cp_mM)) else float("nan")
        if isinstance(aif, str) and not peak >= floor:
            warnings.append(
                f"the automatic arterial input peaks at {peak:.2f} mM (< {floor} mM plasma): the voxels are partial-"
                "volumed, so the population AIF is used instead"
            )
            art, aif_mask = None, None
        elif not isinstance(aif, str) and not peak >= floor:
            warnings.append(
                f"the arterial input from the mask peaks at only {peak:.2f} mM: partial volume is "
                "likely and Ktrans overestimated"
            )
    if art is None:
        arrival = float(t_s[n_baseline])
        art = ArterialInput(
            cp_mM=parker_plasma_input(t_s, arrival_s=arrival, haematocrit=hct),
            source="population (Parker et al., MRM 2006)",
            n_voxels=0,
            haematocrit=hct,
            bolus_arrival_s=arrival,
        )
        warnings.append("population AIF used: Ktrans assumes an average arterial curve, not this patient's")
    cp = art.cp_mM

    conc, conc_failed = signal_to_concentration(
        signal,
        t10_s=t10,
        flip_angle_deg=flip_angle_deg,
        tr_s=tr_s,
        relaxivity_per_mM_s=relaxivity_per_mM_s,
        n_baseline=n_baseline,
    )
    fit_mask = tissue_mask & ~conc_failed
    fit = fit_dce(
        np.where(fit_mask[..., None], conc, 0.0), t_s=t_s, cp_mM=cp, model=model, mask=fit_mask, method=method
    )
    status = fit.status.copy()
    status[tissue_mask & conc_failed] = FitStatus.CONCENTRATION_FAILED
    fit = replace(fit, status=status)
    # Initial area under the curve over 90 s from arrival (semi-quantitative, model-free)
    arrival = art.bolus_arrival_s
    win = (t_s >= arrival) & (t_s <= arrival + 90.0)
    auc = np.full(spatial, np.nan)
    if win.sum() >= 2:
        auc_all = np.trapezoid(np.where(fit_mask[..., None], conc, 0.0)[..., win], t_s[win], axis=-1)
        auc = np.where(fit_mask, auc_all, np.nan)
    n_failed = int(np.count_nonzero(fit.failed & tissue_mask))
    if tissue_mask.any() and n_failed > 0.2 * tissue_mask.sum():
        warnings.append(f"{n_failed} of {int(tissue_mask.sum())} tissue voxels failed the fit (see fit_status)")
    params = {
        "model": model,
        "method": method,
        "flip_angle_deg": flip_angle_deg,
        "repetition_time_s": tr_s,
        "relaxivity_per_mM_s": relaxivity_per_mM_s,
        "relaxivity_source": r1_source,
        "haematocrit": hct,
        "haematocrit_source": "given by the user" if haematocrit is not None else table["haematocrit"]["source"],
        "t10": "map" if np.ndim(t10_s) > 0 else f"{float(t10_s)} s (one value)",
        "n_baseline_frames": n_baseline,
        "bolus_arrival_s": art.bolus_arrival_s,
        "aif_source": art.source,
        "aif_voxels": art.n_voxels,
        "aif_details": art.details,
        "aif_peak_mM": float(np.max(cp)),
        "aif_plasma_mM": cp.tolist(),
        "frame_times_s": t_s.tolist(),
        "fit": fit.parameters,
        "tissue_voxels": int(tissue_mask.sum()),
        "failed_voxels": n_failed,
    }
    return DceResult(
        fit=fit,
        t10_s=np.where(tissue_mask, t10, np.nan),
        aif=art,
        aif_mask=aif_mask,
        tissue_mask=tissue_mask,
        auc90=auc,
        n_baseline=n_baseline,
        parameters=params,
        warnings=tuple(warnings),
    )
