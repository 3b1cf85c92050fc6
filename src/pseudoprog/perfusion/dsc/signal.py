"""DSC signal → relaxation-rate change ΔR2*(t): bolus-arrival (baseline) detection, single and dual echo.

Single gradient echo (clinical_rules.md §5.1.1)::

    ΔR2*(t) = −ln(S(t) / S0) / TE

Dual echo removes the T1 (leakage) effect that both echoes share (Vonken et al., MRM 1999;41:343-50;
Uematsu et al., Radiology 2000)::

    ΔR2*(t) = ln[(S1(t) / S1_0) / (S2(t) / S2_0)] / (TE2 − TE1)

Curves travel as ``(n_voxels, n_frames)`` arrays; everything here is vectorised over voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import CannotAssessError
from ..tables import dsc_methods


@dataclass(frozen=True)
class Baseline:
    """Pre-bolus frames ``[start, stop)`` used for S0, and the frame where the bolus arrives."""

    start: int  # first steady-state frame (leading non-steady-state frames skipped)
    stop: int  # exclusive
    arrival: int  # frame where the signal has dropped by the threshold (the baseline ends two frames before)
    peak: int  # frame of the deepest whole-brain signal drop

    @property
    def n_frames(self) -> int:
        return self.stop - self.start


def detect_baseline(
    curve: np.ndarray,
    *,
    drop_fraction: float | None = None,
    min_frames: int | None = None,
    max_leading_skip: int | None = None,
) -> Baseline:
    """Find the pre-bolus baseline on a whole-brain mean signal curve.

    The bolus arrives at the first frame whose signal is ``drop_fraction`` below the mean of the
    frames before it (DSC_mri: 5 %); the two frames before that are left out of the baseline as
    the threshold is crossed after the true onset and they may already carry contrast. Leading
    frames brighter than the steady state (T1 saturation not yet reached) are skipped.

    Raises
    ------
    CannotAssessError
        No bolus passage (signal never drops by ``drop_fraction``) or fewer than ``min_frames``
        baseline frames before it.
    """
    table = dsc_methods()["baseline"]
    drop = float(table["drop_fraction"] if drop_fraction is None else drop_fraction)
    need = int(table["min_frames"] if min_frames is None else min_frames)
    max_skip = int(table["max_leading_skip"] if max_leading_skip is None else max_leading_skip)
    if not 0 < drop < 1:
        raise ValueError(f"drop_fraction must be in (0, 1), got {drop}")
    if need < 1:
        raise ValueError(f"min_frames must be at least 1, got {need}")
    g = np.asarray(curve, dtype=np.float64)
    if g.ndim != 1 or g.size < need + 3:
        raise CannotAssessError(f"DSC series has {g.size} frames: too few for a baseline and a bolus passage")
    if not np.all(np.isfinite(g)):
        raise CannotAssessError("the DSC signal contains NaN or infinite values: S0 cannot be estimated")
    peak = int(np.argmin(g))
    if peak < need:
        raise CannotAssessError(
            f"the deepest signal drop is at frame {peak}: fewer than {need} frames before the bolus to estimate S0"
        )
    level = float(np.median(g[:peak]))
    if level <= 0 or (level - g[peak]) / level < drop:
        raise CannotAssessError(
            f"no bolus passage found: the whole-brain signal never falls {100 * drop:.0f} % below its baseline"
        )
    excess = float(table["steady_state_excess"])
    start = 0
    while start < max_skip and start < peak - need and g[start] > level * (1 + excess):
        start += 1
    running = np.cumsum(g[start : peak + 1])
    counts = np.arange(1, running.size + 1)
    means_before = np.concatenate([[g[start]], running[:-1] / counts[:-1]])
    below = g[start : peak + 1] < means_before * (1 - drop)
    below[0] = False
    arrival = start + int(np.argmax(below)) if below.any() else peak
    # The 5 % criterion fires a frame or two after the true onset: end the baseline two frames earlier.
    stop = max(start, arrival - 2)
    if stop - start < need:
        raise CannotAssessError(
            f"only {stop - start} baseline frame(s) before the bolus arrives (frame {arrival}); at least {need} are "
            "needed to estimate S0"
        )
    return Baseline(start=start, stop=stop, arrival=arrival, peak=peak)


def _check_signal(signal: np.ndarray, name: str) -> np.ndarray:
    s = np.asarray(signal)
    if s.ndim != 2:
        raise ValueError(f"{name} must be (n_voxels, n_frames), got shape {s.shape}")
    return s


def baseline_signal(signal: np.ndarray, baseline: Baseline) -> np.ndarray:
    """S0 of every voxel: the mean of the baseline frames."""
    s = _check_signal(signal, "signal")
    return s[:, baseline.start : baseline.stop].mean(axis=1)


def delta_r2s(signal: np.ndarray, baseline: Baseline, *, te_ms: float) -> np.ndarray:
    """Single-echo ΔR2* (1/s) of every voxel, ``(n_voxels, n_frames)`` float32.

    Signal at or below zero (noise floor) is clipped to 0.1 % of S0 so the logarithm stays finite;
    voxels whose S0 is not positive get ΔR2* = 0.
    """
    if not (np.isfinite(te_ms) and te_ms > 0):
        raise ValueError(f"te_ms must be a positive echo time in ms, got {te_ms}")
    s = _check_signal(signal, "signal").astype(np.float32, copy=False)
    s0 = baseline_signal(s, baseline).astype(np.float32)
    ok = s0 > 0
    # One output array, updated in place (no boolean-indexed copies of the whole series).
    out = np.maximum(s, (np.float32(1e-3) * s0)[:, None])
    out /= np.where(ok, s0, np.float32(1.0))[:, None]
    out[~ok] = 1.0
    np.log(out, out=out)
    out /= np.float32(-te_ms / 1000.0)
    return out


def delta_r2s_dual(
    echo1: np.ndarray, echo2: np.ndarray, baseline: Baseline, *, te1_ms: float, te2_ms: float
) -> np.ndarray:
    """Dual-echo ΔR2* (1/s), free of T1 effects: ``ln[(S1/S1_0)/(S2/S2_0)] / (TE2 − TE1)``."""
    if not (np.isfinite(te1_ms) and np.isfinite(te2_ms) and 0 < te1_ms < te2_ms):
        raise ValueError(f"need 0 < te1_ms < te2_ms, got {te1_ms} and {te2_ms}")
    s1 = _check_signal(echo1, "echo1")
    s2 = _check_signal(echo2, "echo2")
    if s1.shape != s2.shape:
        raise ValueError(f"the two echoes differ in shape: {s1.shape} and {s2.shape}")
    r1 = delta_r2s(s1, baseline, te_ms=te1_ms) * np.float32(te1_ms / 1000.0)  # −ln(S1/S1_0)
    r2 = delta_r2s(s2, baseline, te_ms=te2_ms) * np.float32(te2_ms / 1000.0)
    return ((r2 - r1) / np.float32((te2_ms - te1_ms) / 1000.0)).astype(np.float32)


def cumulative_integral(curves: np.ndarray, times_s: np.ndarray) -> np.ndarray:
    """Trapezoidal running integral ∫0^t along the last axis (same shape as ``curves``)."""
    c = np.asarray(curves)
    dt = np.diff(np.asarray(times_s, dtype=np.float64))
    steps = 0.5 * (c[..., 1:] + c[..., :-1]) * dt.astype(c.dtype if c.dtype.kind == "f" else np.float64)
    out = np.zeros_like(c, dtype=steps.dtype)
    np.cumsum(steps, axis=-1, out=out[..., 1:])
    return out


def integral(curves: np.ndarray, times_s: np.ndarray, *, start: int = 0) -> np.ndarray:
    """Trapezoidal integral of each curve from frame ``start`` to the end."""
    c = np.asarray(curves)
    t = np.asarray(times_s, dtype=np.float64)
    weights = np.zeros(t.size)
    dt = np.diff(t[start:])
    weights[start:-1] += dt / 2
    weights[start + 1 :] += dt / 2
    return c @ weights.astype(c.dtype if c.dtype.kind == "f" else np.float64)


def uniform_times(times_s: np.ndarray, *, tolerance: float = 0.05) -> tuple[np.ndarray, bool]:
    """A uniform time grid over the series, and whether the frames already are (within ``tolerance`` of dt)."""
    t = np.asarray(times_s, dtype=np.float64)
    if t.ndim != 1 or t.size < 2:
        raise ValueError("frame times must be a 1D array of at least two times")
    dts = np.diff(t)
    if np.any(dts <= 0):
        raise ValueError("frame times must increase")
    dt = float(np.median(dts))
    grid = t[0] + dt * np.arange(int(np.floor((t[-1] - t[0]) / dt + 1e-6)) + 1)
    regular = bool(np.all(np.abs(dts - dt) <= tolerance * dt)) and grid.size == t.size
    return (t if regular else grid), regular


def resample_curves(curves: np.ndarray, times_s: np.ndarray, grid_s: np.ndarray) -> np.ndarray:
    """Linear interpolation of every curve from ``times_s`` onto ``grid_s`` (vectorised over voxels)."""
    t = np.asarray(times_s, dtype=np.float64)
    idx = np.clip(np.searchsorted(t, grid_s, side="right") - 1, 0, t.size - 2)
    w = ((grid_s - t[idx]) / (t[idx + 1] - t[idx])).astype(np.float32)
    c = np.asarray(curves)
    return c[:, idx] * (1 - w) + c[:, idx + 1] * w
