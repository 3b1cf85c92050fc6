"""Voxelwise DCE model fitting: linear start (Murase 2004) or kep grid (variable projection), then a
Levenberg–Marquardt refinement over all voxels at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from ..tables import load_table
from .models import Model, check_model, cumtrapz, exp_convolution


class FitStatus(IntEnum):
    """Per-voxel outcome written to the ``fit_status`` map."""

    OK = 0
    OUTSIDE_MASK = 1
    INVALID_SIGNAL = 2  # non-finite or non-positive signal, or no baseline
    CONCENTRATION_FAILED = 3  # the SPGR equation has no solution for some frame (signal above its maximum)
    AT_BOUND = 4  # the best fit lies on a parameter bound (Ktrans, kep, ve or vp)
    NOT_FINITE = 5  # the fit produced no finite parameters


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
        Voxels processed together (bounds memory: no T × chunk array is made beyond the input's rows); by default
        about 8 million samples per chunk.
    delays_s
        Candidate arterial-to-tissue delays (s, ≥ 0). When given, the whole fit is repeated with the input
        delayed by each value (linear interpolation, zero before the start) and every voxel keeps the delay with
        the smallest residual; the chosen delay is in ``DceFit.delay_s``. None: no delay.

    Examples
    --------
    >>> import numpy as np
    >>> from .models import model_curves
    >>> from pseudoprog.perfusion.dce.population_aif import parker_aif
    >>> t = np.arange(0, 300, 2.0); cp = parker_aif(t, delay_s=20) / (1 - 0.42)
    >>> c = model_curves("extended_tofts", t, cp, ktrans=np.array([0.2]), ve=np.array([0.3]), vp=np.array([0.05]))
    >>> fit = fit_dce(c, t_s=t, cp_mM=cp, model="extended_tofts")
    >>> [round(float(v[0]), 3) for v in (fit.ktrans, fit.ve, fit.vp)]
    [0.2, 0.3, 0.05]
    """
    check_model(model)
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
    chunk = chunk_voxels or max(1000, 8_000_000 // t_s.size)
    for start in range(0, idx.size, chunk):
        sel = idx[start : start + chunk]
        # a run of consecutive voxels (the whole image, a box) is read in place instead of copied
        c = flat[sel[0] : sel[-1] + 1] if sel[-1] - sel[0] + 1 == sel.size else flat[sel]
        valid = np.all(np.isfinite(c), axis=1)
        res: dict[str, np.ndarray] = {}
        for d in delays:  # a handful of candidate delays, each fitted over all voxels at once
            cp_d = np.interp(t_s - d, t_s, cp, left=0.0) if d > 0 else cp
            c_ok = c if valid.all() else np.where(valid[:, None], c, 0.0)  # copy only when some curve is bad
            trial = _fit_chunk(c_ok, t_min, cp_d, model, method, iterations, bounds)
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
    cp_int = cumtrapz(cp, t_min)
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
        # One compiled pass over every curve gives the sums of the linear start and of R².
        grid = _kep_grid(bounds)
        f_grid, _ = exp_convolution(t_min, cp, grid, derivative=False)  # (T, G): shared by all voxels
        sums = _first_pass(c, np.diff(np.asarray(t_min, dtype=float)), cp_int, cp)
        murase, cc, ss_tot = sums[:6], sums[6], sums[7]
        # ΣC·F_g for every kep of the grid is a matrix product: BLAS's blocked kernel is ~3× faster than summing it
        # in the pass above. One BLAS thread: the fit is single-threaded (a case runs its timepoints side by side).
        with threadpool_limits(limits=1, user_api="blas"):
            cf = c @ f_grid  # (n, G)
        ktrans, kep, vp = _linear_start(murase, cp_int, cp, with_vp)
        ktrans, kep, vp = _clip(ktrans, kep, vp, bounds, with_vp)
        g_kt, g_kep, g_vp, g_sse = _grid_start(cf, cc, murase[5], f_grid, grid, cp, with_vp, bounds)
        # The residual of each start comes with its normal equations: the better start's seed the LM. The grid
        # start's residual is known in closed form, so its equations are evaluated only where it may win.
        eq = list(_equations(c, t_min, cp, ktrans, kep, vp, with_vp))
        # NaN (clipped off the grid): not known, evaluated — unless the clipped grid start is the linear start itself
        # (both at Ktrans = 0 on the bounds: 964 of 966 clipped starts on the QIBA DRO), whose equations are known.
        same = (g_kt == ktrans) & (g_kep == kep) & (g_vp == vp)
        maybe = np.flatnonzero(~(g_sse > eq[0] * (1 + 1e-6) + 1e-9 * cc) & ~same)
        if maybe.size:
            g_eq = _normal_equations(
                c,
                maybe,
                _deltas(t_min),
                np.ascontiguousarray(cp, dtype=float),
                g_kt[maybe],
                g_kep[maybe],
                g_vp[maybe],
                3 if with_vp else 2,
            )
            win = g_eq[0] < eq[0][maybe]
            use = maybe[win]
            ktrans[use], kep[use], vp[use] = g_kt[use], g_kep[use], g_vp[use]
            for k in range(3):
                eq[k][use] = g_eq[k][win]
        sse = eq[0]
        if method == "nonlinear" and iterations:
            start = (sse, eq[1], eq[2])
            ktrans, kep, vp, sse = _levenberg_marquardt(
                c, t_min, cp, ktrans, kep, vp, with_vp, bounds, iterations, start=start
            )
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
    if model == "patlak":
        centred = c - c.mean(axis=1, keepdims=True)
        ss_tot = np.einsum("nt,nt->n", centred, centred)
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


def _linear_start(sums, cp_int, cp, with_vp):
    """Murase's integrated linear form, solved per voxel with batched normal equations.

    Tofts:   C = Ktrans·∫C_p − kep·∫C
    ETofts:  C = (Ktrans + kep·vp)·∫C_p − kep·∫C + vp·C_p

    ``sums`` are the six per-voxel sums of :func:`_first_pass` (the voxel's own running integral ∫C is
    accumulated there, so no (voxels × frames) integral is stored).
    """
    p = 2 + int(with_vp)
    s_ip, s_ii, s_cp, s_ci, s_ia, s_ca = sums
    n = s_ip.shape[0]
    xtx = np.empty((n, p, p))
    xty = np.empty((n, p))
    # Column order: [∫Cp, −∫C, (Cp)]
    xtx[:, 0, 0] = cp_int @ cp_int
    xtx[:, 0, 1] = xtx[:, 1, 0] = -s_ip
    xtx[:, 1, 1] = s_ii
    xty[:, 0] = s_cp
    xty[:, 1] = -s_ci
    if with_vp:
        xtx[:, 0, 2] = xtx[:, 2, 0] = cp_int @ cp
        xtx[:, 1, 2] = xtx[:, 2, 1] = -s_ia
        xtx[:, 2, 2] = cp @ cp
        xty[:, 2] = s_ca
    ridge = 1e-12 * np.trace(xtx, axis1=1, axis2=2)[:, None, None] * np.eye(p)
    try:
        coef = np.linalg.solve(xtx + ridge, xty[..., None])[..., 0]
    except np.linalg.LinAlgError:
        coef = np.full((n, p), np.nan)
    kep = coef[:, 1]
    vp = coef[:, 2] if with_vp else np.zeros(n)
    ktrans = coef[:, 0] - kep * vp
    return ktrans, kep, vp


# The passes over every curve may fuse a multiply and an add (one rounding instead of two): ~20 % faster on the QIBA
# DRO, every fitted parameter unchanged to 1e-10 of (|value| + 1e-3). Nothing else is relaxed (sums keep their order).
_FMA = {"contract"}


@numba.njit(cache=True, nogil=True, fastmath=_FMA)
def _first_pass(c, dt, cp_int, cp):  # pragma: no cover - compiled
    """One pass over each voxel's curve. Rows of the result (n_v columns):

    0–5  Murase's sums Σ∫C·∫Cp, Σ(∫C)², ΣC·∫Cp, ΣC·∫C, Σ∫C·Cp, ΣC·Cp (∫C the running trapezoid integral);
    6–7  ΣC², and Σ(C − C₀)² − (Σ(C − C₀))²/T = Σ(C − mean)² (shifted by the first sample: no cancellation).
    """
    n_v, n_t = c.shape
    out = np.zeros((8, n_v))
    for v in range(n_v):
        ci = 0.0
        s_ip = s_ii = s_cp = s_ci = s_ia = s_ca = s_cc = s_d = s_dd = 0.0
        x0 = c[v, 0]
        for n in range(n_t):
            x = c[v, n]
            if n > 0:
                ci += 0.5 * (x + c[v, n - 1]) * dt[n - 1]
            s_ip += ci * cp_int[n]
            s_ii += ci * ci
            s_cp += x * cp_int[n]
            s_ci += x * ci
            s_ia += ci * cp[n]
            s_ca += x * cp[n]
            s_cc += x * x
            d = x - x0
            s_d += d
            s_dd += d * d
        out[0, v] = s_ip
        out[1, v] = s_ii
        out[2, v] = s_cp
        out[3, v] = s_ci
        out[4, v] = s_ia
        out[5, v] = s_ca
        out[6, v] = s_cc
        out[7, v] = s_dd - s_d * s_d / n_t
    return out


def _kep_grid(bounds, n_grid: int = 24) -> np.ndarray:
    kep_lo, kep_hi = bounds["kep_per_min"]
    return np.geomspace(max(kep_lo, 1e-3), kep_hi, n_grid)


def _grid_start(cf, cc, cpc, f, grid, cp, with_vp, bounds):
    """Best kep on a log grid, with Ktrans (and vp) solved in closed form for each grid value.

    ``cf`` (n, G) = ΣC·F_g, ``cc`` = ΣC², ``cpc`` = ΣC·Cp per voxel. Returns the clipped start and its sum of
    squares in closed form (NaN where clipping moved kep off the grid value: not known in closed form).
    """
    ff = (f * f).sum(0)  # (G,)
    if with_vp:
        fc = cp @ f  # (G,)
        pp = cp @ cp
        det = ff * pp - fc**2  # (G,)
        with np.errstate(divide="ignore", invalid="ignore"):
            kt = (pp * cf - fc[None, :] * cpc[:, None]) / det
            vp = (ff[None, :] * cpc[:, None] - fc[None, :] * cf) / det
        kt = np.maximum(np.nan_to_num(kt), 0.0)
        vp = np.maximum(np.nan_to_num(vp), 0.0)
        sse = cc[:, None] - 2 * kt * cf - 2 * vp * cpc[:, None] + kt**2 * ff + 2 * kt * vp * fc + vp**2 * pp
    else:
        fc = np.zeros_like(ff)
        pp = 0.0
        kt = np.maximum(cf / ff, 0.0)
        vp = np.zeros_like(kt)
        sse = cc[:, None] - 2 * kt * cf + kt**2 * ff
    best = np.argmin(sse, axis=1)
    rows = np.arange(cf.shape[0])
    g_kt, g_kep, g_vp = _clip(kt[rows, best], grid[best], vp[rows, best], bounds, with_vp)
    b_cf, b_ff, b_fc = cf[rows, best], ff[best], fc[best]
    g_sse = cc - 2 * g_kt * b_cf - 2 * g_vp * cpc + g_kt**2 * b_ff + 2 * g_kt * g_vp * b_fc + g_vp**2 * pp
    return g_kt, g_kep, g_vp, np.where(g_kep == grid[best], g_sse, np.nan)


_LAM0 = 1e-2  # initial damping, relative to the diagonal of JᵀJ, where the undamped step leaves the bounds
_LAM0_FEASIBLE = 1e-4  # initial damping where the undamped step from the start stays within every bound
_STEP_TOL = 1e-5  # converged when no parameter moves by more than this fraction of (|value| + 1e-3)


def _levenberg_marquardt(c, t_min, cp, ktrans, kep, vp, with_vp, bounds, iterations, start=None):
    """Projected Levenberg–Marquardt on (Ktrans, kep[, vp]) for every voxel at once.

    Each voxel keeps its own damping factor; a step is accepted only where it lowers that voxel's
    sum of squares. The Jacobian is analytic (∂C/∂Ktrans = F, ∂C/∂kep = Ktrans·∂F/∂kep,
    ∂C/∂vp = C_p) and is reduced to the normal equations inside one compiled pass over time per
    voxel, so no (voxels × frames) array is ever stored.

    A parameter held at a bound by its gradient (Ktrans or vp at its limit, the descent direction
    pointing outside) is kept fixed in the step, so the other parameters converge instead of
    crawling along the bound. A voxel whose undamped Gauss–Newton step from the start is already
    below the convergence tolerance keeps its start (the linear solution was the answer); likewise a voxel
    stops once the undamped step from its accepted point is below the tolerance, without another pass.

    The first damping depends on that undamped step: where it stays within every bound (Ktrans, kep, ve, vp) the
    problem is locally well posed and the LM starts almost as Gauss–Newton (λ₀ = 1e-4: quadratic convergence from
    the closed-form start); where it leaves them (a voxel at the ve or Ktrans bound, a flat Ktrans–kep valley that
    sends kep far away) the conservative λ₀ = 1e-2 is kept, so that the projection onto the bounds does not throw
    the voxel about.
    """
    p = 3 if with_vp else 2
    c = np.ascontiguousarray(c, dtype=float)
    deltas = _deltas(t_min)
    cp = np.ascontiguousarray(cp, dtype=float)
    ktrans, kep, vp = (np.array(a, dtype=float) for a in (ktrans, kep, vp))
    if start is None:
        cost, jtj, jtr = _normal_equations(c, np.arange(c.shape[0]), deltas, cp, ktrans, kep, vp, p)
    else:  # the caller already has them at this start
        cost, jtj, jtr = (np.array(a, dtype=float) for a in start)
    all_ids = np.arange(c.shape[0])
    # Undamped (up to rounding) Gauss–Newton step; a voxel whose system cannot be solved is not converged.
    gn = _bounded_step(jtj, jtr, np.full(c.shape[0], 1e-12), ktrans, vp, all_ids, bounds, p, failed=np.inf, kep=kep)
    active = ~_small(gn, ktrans, kep, vp, p)
    kt_b, kep_b, ve_b, vp_b = (bounds[k] for k in ("ktrans_per_min", "kep_per_min", "ve", "vp"))
    bnd = np.array([*kt_b, *kep_b, *ve_b, *vp_b], dtype=float)
    lam = np.where(_feasible(gn, ktrans, kep, vp, bnd, p), _LAM0_FEASIBLE, _LAM0)
    for _ in range(iterations):
        ids = np.flatnonzero(active)
        if ids.size == 0:
            break
        _lm_iteration(c, ids, deltas, cp, ktrans, kep, vp, cost, jtj, jtr, lam, active, bnd, p)
    return ktrans, kep, vp, cost


def _feasible(step, ktrans, kep, vp, bnd, p) -> np.ndarray:
    """Whether the (finite) step lands within the Ktrans, kep, ve and vp bounds ``bnd`` (lo/hi pairs) unprojected."""
    kt, kp = ktrans + step[:, 0], kep + step[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ve = kt / kp
        ok = np.all(np.isfinite(step), 1) & (kt >= bnd[0]) & (kt <= bnd[1]) & (kp >= bnd[2]) & (kp <= bnd[3])
        ok &= (ve >= bnd[4]) & (ve <= bnd[5])
    if p == 3:
        w = vp + step[:, 2]
        ok &= (w >= bnd[6]) & (w <= bnd[7])
    return ok


@numba.njit(cache=True, nogil=True)
def _lm_iteration(c, ids, deltas, cp, ktrans, kep, vp, cost, jtj, jtr, lam, active, bnd, p):  # pragma: no cover
    """One Levenberg–Marquardt iteration for the voxels ``ids``, updating the per-voxel arrays in place.

    ``bnd``: Ktrans, kep, ve and vp bounds as [lo, hi] pairs. A step is accepted where it lowers the voxel's sum
    of squares (damping / 5, at least 1e-9), else the damping × 10; a voxel stops when the accepted step or the
    next undamped one is below the tolerance, when the cost falls by less than 1e-7 of itself, or when its
    damping exceeds 1e6. The same arithmetic as numpy over all voxels, without its per-call overhead (most
    iterations serve a few slow voxels).
    """
    m = ids.shape[0]
    step = _solve_steps(
        jtj[ids],
        jtr[ids],
        lam[ids],
        ktrans[ids],
        kep[ids],
        vp[ids],
        bnd[0],
        bnd[1],
        bnd[4],
        bnd[5],
        bnd[6],
        bnd[7],
        0.0,
    )
    n_kt = np.empty(m)
    n_kep = np.empty(m)
    n_vp = np.zeros(m)
    for i in range(m):
        v = ids[i]
        kt = ktrans[v] + step[i, 0]
        kt = min(max(0.01 if np.isnan(kt) else kt, bnd[0]), bnd[1])
        kp = kep[v] + step[i, 1]
        kp = min(max(0.5 if np.isnan(kp) else kp, bnd[2]), bnd[3])
        kp = min(max(kp, max(kt / bnd[5], bnd[2])), max(kt / bnd[4], bnd[2]))  # ve = Ktrans / kep in bounds
        n_kt[i] = kt
        n_kep[i] = min(kp, bnd[3])
        if p == 3:
            w = vp[v] + step[i, 2]
            n_vp[i] = min(max(0.0 if np.isnan(w) else w, bnd[6]), bnd[7])
    n_cost, n_jtj, n_jtr = _normal_equations(c, ids, deltas, cp, n_kt, n_kep, n_vp, p)
    tiny = np.full(1, 1e-12)
    for i in range(m):
        v = ids[i]
        if n_cost[i] < cost[v]:
            rel_change = (cost[v] - n_cost[i]) / max(cost[v], 1e-30)
            ktrans[v] = n_kt[i]
            kep[v] = n_kep[i]
            vp[v] = n_vp[i]
            cost[v] = n_cost[i]
            jtj[v] = n_jtj[i]
            jtr[v] = n_jtr[i]
            lam[v] = max(lam[v] / 5.0, 1e-9)
            small_step = _small_one(step[i], ktrans[v], kep[v], vp[v], p)
            # the next undamped step, a 3×3 solve on the equations just evaluated: below the tolerance, the voxel
            # has converged without another pass over its curve to take it
            nxt = _solve_steps(
                jtj[v : v + 1],
                jtr[v : v + 1],
                tiny,
                ktrans[v : v + 1],
                kep[v : v + 1],
                vp[v : v + 1],
                bnd[0],
                bnd[1],
                bnd[4],
                bnd[5],
                bnd[6],
                bnd[7],
                np.inf,
            )
            if rel_change < 1e-7 or small_step or _small_one(nxt[0], ktrans[v], kep[v], vp[v], p):
                active[v] = False
        else:
            lam[v] = lam[v] * 10.0
            if lam[v] > 1e6:
                active[v] = False


@numba.njit(cache=True, nogil=True)
def _small_one(step, ktrans, kep, vp, p):  # pragma: no cover - compiled
    """:func:`_small` for one voxel."""
    for i in range(p):
        value = ktrans if i == 0 else (kep if i == 1 else vp)
        if not (np.isfinite(step[i]) and abs(step[i]) <= _STEP_TOL * (abs(value) + 1e-3)):
            return False
    return True


def _small(step, ktrans, kep, vp, p) -> np.ndarray:
    """Whether every parameter's step is below the convergence tolerance."""
    params = np.stack([ktrans, kep, vp], 1)[:, :p]
    return np.all(np.isfinite(step), 1) & np.all(np.abs(step) <= _STEP_TOL * (np.abs(params) + 1e-3), 1)


def _bounded_step(jtj, jtr, lam, ktrans, vp, ids, bounds, p, failed=0.0, kep=None) -> np.ndarray:
    """Damped Gauss–Newton step with Ktrans and vp held where they sit on a bound the gradient pushes against, and
    (given ``kep``) ve = Ktrans / kep held on its bound likewise."""
    kt_lo, kt_hi = bounds["ktrans_per_min"]
    ve_lo, ve_hi = bounds["ve"]
    vp_lo, vp_hi = bounds["vp"]
    return _solve_steps(
        np.ascontiguousarray(jtj, dtype=float),
        np.ascontiguousarray(jtr, dtype=float),
        np.ascontiguousarray(lam, dtype=float),
        np.ascontiguousarray(ktrans[ids], dtype=float),
        np.full(len(ids), np.nan) if kep is None else np.ascontiguousarray(kep[ids], dtype=float),
        np.ascontiguousarray(vp[ids], dtype=float),
        float(kt_lo),
        float(kt_hi),
        float(ve_lo),
        float(ve_hi),
        float(vp_lo),
        float(vp_hi),
        float(failed),
    )


@numba.njit(cache=True, nogil=True)
def _solve_steps(
    jtj, jtr, lam, kt, kep, vp, kt_lo, kt_hi, ve_lo, ve_hi, vp_lo, vp_hi, failed
):  # pragma: no cover - compiled
    """Per voxel: (JᵀJ + λ·diag(JᵀJ)) s = Jᵀr for a 2×2 or 3×3 system, a parameter on a bound the gradient pushes
    against (Jᵀr > 0: the cost falls as it grows) held fixed; Gaussian elimination with partial pivoting. A
    singular or non-finite system gives ``failed`` for that voxel.

    ve = Ktrans / kep on its bound (Ktrans free) with the gradient pushing outward is held too: the step then moves
    along the bound (s_Ktrans = ve_bound · s_kep; the constraint's multiplier cancels from the sum of the first two
    equations), instead of being projected back onto it after each step — a crawl along the bound. NaN ``kep``:
    nothing held for ve."""
    m, p = jtr.shape
    out = np.empty((m, p))
    a = np.empty((p, p))
    b = np.empty(p)
    for v in range(m):
        for i in range(p):
            for j in range(p):
                a[i, j] = jtj[v, i, j]
            a[i, i] += lam[v] * max(jtj[v, i, i], 1e-12)
            b[i] = jtr[v, i]
        for k in range(0, p, 2):  # 0: Ktrans, 2: vp
            if k == 0:
                value, lo, hi = kt[v], kt_lo, kt_hi
            else:
                value, lo, hi = vp[v], vp_lo, vp_hi
            if (value <= lo and b[k] <= 0) or (value >= hi and b[k] >= 0):
                for j in range(p):
                    a[k, j] = 0.0
                    a[j, k] = 0.0
                a[k, k] = 1.0
                b[k] = 0.0
        kt_free = not ((kt[v] <= kt_lo and b[0] <= 0) or (kt[v] >= kt_hi and b[0] >= 0))
        if kt_free and kep[v] > 0:
            ve = kt[v] / kep[v]
            r = 0.0
            if ve >= ve_hi * (1 - 1e-9) and b[0] - ve_hi * b[1] > 0:
                r = ve_hi
            elif ve <= ve_lo * (1 + 1e-9) and ve_lo * b[1] - b[0] > 0:
                r = ve_lo
            if r > 0:
                for j in range(p):
                    a[1, j] += r * a[0, j]
                    a[0, j] = 0.0
                b[1] += r * b[0]
                a[0, 0] = 1.0
                a[0, 1] = -r
                b[0] = 0.0
        ok = True
        for col in range(p):
            piv = col
            for r in range(col + 1, p):
                if abs(a[r, col]) > abs(a[piv, col]):
                    piv = r
            if not abs(a[piv, col]) > 0.0:  # zero or NaN pivot
                ok = False
                break
            if piv != col:
                for j in range(p):
                    a[col, j], a[piv, j] = a[piv, j], a[col, j]
                b[col], b[piv] = b[piv], b[col]
            for r in range(col + 1, p):
                fct = a[r, col] / a[col, col]
                for j in range(col, p):
                    a[r, j] -= fct * a[col, j]
                b[r] -= fct * b[col]
        if ok:
            for i in range(p - 1, -1, -1):
                acc = b[i]
                for j in range(i + 1, p):
                    acc -= a[i, j] * out[v, j]
                out[v, i] = acc / a[i, i]
            for i in range(p):
                if not np.isfinite(out[v, i]):
                    ok = False
        if not ok:
            for i in range(p):
                out[v, i] = failed
    return out


def _deltas(t_min: np.ndarray) -> np.ndarray:
    """Sampling intervals: one value when uniform (to 1e-6), else every interval."""
    d = np.diff(np.asarray(t_min, dtype=float))
    return np.ascontiguousarray(d[:1] if np.allclose(d, d[0], rtol=1e-6, atol=0.0) else d)


def _equations(c, t_min, cp, ktrans, kep, vp, with_vp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum of squares, JᵀJ and Jᵀr of the (extended) Tofts model per voxel (no curves stored)."""
    c = np.ascontiguousarray(c, dtype=float)
    return _normal_equations(
        c,
        np.arange(c.shape[0]),
        _deltas(t_min),
        np.ascontiguousarray(cp, dtype=float),
        np.asarray(ktrans, dtype=float),
        np.asarray(kep, dtype=float),
        np.asarray(vp, dtype=float),
        3 if with_vp else 2,
    )


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
def _normal_equations(c, rows, deltas, cp, ktrans, kep, vp, p):  # pragma: no cover - compiled
    """Sum of squares, JᵀJ and Jᵀr of the (extended) Tofts model for the voxels ``c[rows]``, in one pass over
    time each (the parameters are given per entry of ``rows``; the rows are read in place, not copied).

    ``deltas`` holds the sampling intervals (minutes): one value for uniform sampling, else T − 1.
    """
    if deltas.shape[0] > 1:
        return _normal_equations_scalar(c, rows, deltas, cp, ktrans, kep, vp, p)
    n_v = rows.shape[0]
    # A block costs the same whatever its fill (~10 single voxels): a remainder of at most half a block — the last
    # Levenberg–Marquardt iterations serve a few slow voxels — goes one voxel at a time (the same sums, to rounding).
    n_blk = n_v - n_v % _BLOCK if n_v % _BLOCK <= _BLOCK // 2 else n_v
    cost, jtj, jtr = _normal_equations_blocked(c, rows[:n_blk], deltas[0], cp, ktrans, kep, vp, p)
    if n_blk == n_v:
        return cost, jtj, jtr
    s = slice(n_blk, n_v)
    r_cost, r_jtj, r_jtr = _normal_equations_scalar(c, rows[s], deltas, cp, ktrans[s], kep[s], vp[s], p)
    return (np.concatenate((cost, r_cost)), np.concatenate((jtj, r_jtj)), np.concatenate((jtr, r_jtr)))


_BLOCK = 16  # voxels advanced together through time (a compile-time constant: the inner loop is vectorised)


@numba.njit(cache=True, nogil=True, fastmath=_FMA)
def _normal_equations_blocked(c, rows, delta, cp, ktrans, kep, vp, p):  # pragma: no cover - compiled
    """:func:`_normal_equations` for uniform sampling, ``_BLOCK`` voxels at a time with time outermost.

    One voxel's recursion is a serial chain over time; advancing a block of voxels together lets each time step
    run as vector arithmetic across the block (every voxel's sums are formed in the same order as the one-voxel
    loop, so the results are the same to rounding).
    """
    n_t = c.shape[1]
    n_v = rows.shape[0]
    nb = _BLOCK
    cost = np.zeros(n_v)
    jtj = np.zeros((n_v, p, p))
    jtr = np.zeros((n_v, p))
    s22_all = 0.0
    for n in range(n_t):
        s22_all += cp[n] * cp[n]
    ct = np.zeros((n_t, nb))
    coef = np.zeros((8, nb))  # e, a, b, de, da, db, Ktrans, vp
    st = np.zeros((11, nb))  # f, df, sse, s00, s01, s11, s02, s12, g0, g1, g2
    for start in range(0, n_v, nb):
        m = min(nb, n_v - start)
        coef[:] = 0.0
        st[:] = 0.0
        for b in range(nb):
            if b < m:
                row = rows[start + b]
                x = kep[start + b] * delta
                p1, p2, d1, d2 = _phi_scalar(x)
                coef[0, b] = np.exp(-x)
                coef[1, b] = delta * (p1 - p2)
                coef[2, b] = delta * p2
                coef[3, b] = -delta * coef[0, b]
                coef[4, b] = delta * delta * (d1 - d2)
                coef[5, b] = delta * delta * d2
                coef[6, b] = ktrans[start + b]
                coef[7, b] = vp[start + b]
                for n in range(n_t):
                    ct[n, b] = c[row, n]
            else:
                for n in range(n_t):
                    ct[n, b] = 0.0
            r = ct[0, b] - coef[7, b] * cp[0]
            st[2, b] = r * r
            st[10, b] = cp[0] * r
        e_ = coef[0]
        a_ = coef[1]
        b_ = coef[2]
        de_ = coef[3]
        da_ = coef[4]
        db_ = coef[5]
        kt_ = coef[6]
        vp_ = coef[7]
        f_ = st[0]
        df_ = st[1]
        sse_ = st[2]
        s00 = st[3]
        s01 = st[4]
        s11 = st[5]
        s02 = st[6]
        s12 = st[7]
        g0 = st[8]
        g1 = st[9]
        g2 = st[10]
        for n in range(1, n_t):
            c0 = cp[n - 1]
            c1 = cp[n]
            cn = ct[n]
            for b in range(nb):
                fo = f_[b]
                dfn = de_[b] * fo + e_[b] * df_[b] + da_[b] * c0 + db_[b] * c1
                fn = e_[b] * fo + a_[b] * c0 + b_[b] * c1
                f_[b] = fn
                df_[b] = dfn
                r = cn[b] - (kt_[b] * fn + vp_[b] * c1)
                j1 = kt_[b] * dfn
                sse_[b] += r * r
                s00[b] += fn * fn
                s01[b] += fn * j1
                s11[b] += j1 * j1
                g0[b] += fn * r
                g1[b] += j1 * r
                s02[b] += fn * c1
                s12[b] += j1 * c1
                g2[b] += c1 * r
        for b in range(m):
            v = start + b
            cost[v] = sse_[b]
            jtj[v, 0, 0] = s00[b]
            jtj[v, 0, 1] = jtj[v, 1, 0] = s01[b]
            jtj[v, 1, 1] = s11[b]
            jtr[v, 0] = g0[b]
            jtr[v, 1] = g1[b]
            if p == 3:
                jtj[v, 0, 2] = jtj[v, 2, 0] = s02[b]
                jtj[v, 1, 2] = jtj[v, 2, 1] = s12[b]
                jtj[v, 2, 2] = s22_all
                jtr[v, 2] = g2[b]
    return cost, jtj, jtr


@numba.njit(cache=True, nogil=True, fastmath=_FMA)
def _normal_equations_scalar(c, rows, deltas, cp, ktrans, kep, vp, p):  # pragma: no cover - compiled
    """Sum of squares, JᵀJ and Jᵀr of the (extended) Tofts model for the voxels ``c[rows]``, in one pass over
    time each (the parameters are given per entry of ``rows``; the rows are read in place, not copied).

    ``deltas`` holds the sampling intervals (minutes): one value for uniform sampling, else T − 1.
    """
    n_t = c.shape[1]
    n_v = rows.shape[0]
    uniform = deltas.shape[0] == 1
    cost = np.zeros(n_v)
    jtj = np.zeros((n_v, p, p))
    jtr = np.zeros((n_v, p))
    for v in range(n_v):
        row = rows[v]
        k = kep[v]
        kt = ktrans[v]
        vpv = vp[v]
        f = 0.0
        df = 0.0
        e = a = b = de = da = db = 0.0
        # The sums are kept in local scalars (registers) during the pass and stored once per voxel.
        s00 = s01 = s11 = s02 = s12 = s22 = 0.0
        g0 = g1 = g2 = 0.0
        # frame 0: F = 0
        r = c[row, 0] - vpv * cp[0]
        sse = r * r
        if p == 3:
            s22 += cp[0] * cp[0]
            g2 += cp[0] * r
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
            r = c[row, n] - (kt * f + vpv * c1)
            sse += r * r
            j0 = f
            j1 = kt * df
            s00 += j0 * j0
            s01 += j0 * j1
            s11 += j1 * j1
            g0 += j0 * r
            g1 += j1 * r
            if p == 3:
                s02 += j0 * c1
                s12 += j1 * c1
                s22 += c1 * c1
                g2 += c1 * r
        cost[v] = sse
        jtj[v, 0, 0] = s00
        jtj[v, 0, 1] = jtj[v, 1, 0] = s01
        jtj[v, 1, 1] = s11
        jtr[v, 0] = g0
        jtr[v, 1] = g1
        if p == 3:
            jtj[v, 0, 2] = jtj[v, 2, 0] = s02
            jtj[v, 1, 2] = jtj[v, 2, 1] = s12
            jtj[v, 2, 2] = s22
            jtr[v, 2] = g2
    return cost, jtj, jtr
