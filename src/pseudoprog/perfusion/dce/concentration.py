"""DCE signal → contrast concentration (SPGR, fast exchange, linear relaxivity) and bolus-arrival detection."""

from __future__ import annotations

import numpy as np

from ...errors import CannotAssessError
from ..tables import load_table


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
