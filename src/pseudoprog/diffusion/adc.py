"""Apparent diffusion coefficient (ADC) from two or more b-values, and per-lesion ADC summaries.

Mono-exponential model S(b) = S0·exp(−b·ADC) (clinical_rules.md §5.4). Directions acquired at the same
b-value are combined by their geometric mean first (the trace image: mean of the directional ADCs). The
fit is a weighted linear least-squares fit of ln S against b, with weights S² (the first-order correction
for the log transform of noisy signals; Veraart et al., NeuroImage 2013;81:335–346), vectorised over all
voxels. When at least two distinct b ≥ 200 s/mm² exist only those are fitted (IVIM suppression); the
b-values used are always recorded, because ADC thresholds depend on them.

>>> import numpy as np
>>> b = np.array([0.0, 1000.0])
>>> s = 1000 * np.exp(-b * 0.8e-3)
>>> round(float(fit_adc(s, b_values=b).adc_mm2_s), 6)
0.0008
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..align.brainmask import bright_signal_mask
from ..errors import CannotAssessError, InputError
from ..files import load_table


@functools.cache
def adc_constants() -> dict[str, Any]:
    return load_table("diffusion", "adc")


@dataclass(frozen=True)
class AdcFit:
    """ADC map (mm²/s), extrapolated S0, fit quality and the b-values used; NaN where the fit failed."""

    adc_mm2_s: np.ndarray
    s0: np.ndarray
    failed: np.ndarray
    rmse_log: np.ndarray  # RMS residual of ln S (dimensionless)
    b_values_used: tuple[float, ...]
    parameters: dict[str, Any] = field(default_factory=dict)


def trace_by_b_value(dwi: np.ndarray, b_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Combine frames acquired at the same b-value (several directions) by their geometric mean.

    Returns ``(signals (..., n_unique_b), unique_b)``.
    """
    b = np.asarray(b_values, dtype=float)
    uniq = np.unique(np.round(b, 3))
    positive = np.isfinite(dwi) & (dwi > 0)
    logs = np.log(np.where(positive, dwi, 1.0))
    planes = []
    for u in uniq:  # one plane per distinct b-value (a handful), not per voxel
        sel = np.isclose(b, u, atol=1e-3)
        n = positive[..., sel].sum(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            planes.append(np.where(n > 0, np.exp((logs[..., sel] * positive[..., sel]).sum(-1) / n), np.nan))
    return np.stack(planes, axis=-1), uniq


def fit_adc(
    dwi: np.ndarray,
    *,
    b_values: np.ndarray | tuple[float, ...],
    min_b: float | None = None,
    mask: np.ndarray | None = None,
) -> AdcFit:
    """Mono-exponential ADC for every voxel.

    Parameters
    ----------
    dwi
        Diffusion-weighted signals with the b axis last: ``(..., n_frames)``.
    b_values
        b-value (s/mm²) of every frame.
    min_b
        Fit only b ≥ ``min_b`` when two or more distinct such b-values exist; default from ``adc.yaml`` (200).
    mask
        Voxels to fit; all when None.
    """
    dwi = np.asarray(dwi, dtype=float)
    b = np.asarray(b_values, dtype=float).ravel()
    if dwi.shape[-1] != b.size:
        raise ValueError(f"dwi has {dwi.shape[-1]} frames but {b.size} b-values were given")
    if np.any(~np.isfinite(b)) or np.any(b < 0):
        raise ValueError("b-values must be finite and ≥ 0")
    cfg = adc_constants()
    min_b = float(cfg["min_b_for_multi_b_s_per_mm2"]) if min_b is None else float(min_b)
    signals, ub = trace_by_b_value(dwi, b)
    if ub.size < 2:
        raise CannotAssessError(f"ADC needs at least two distinct b-values; this series has {ub.tolist()}")
    high = ub >= min_b
    if high.sum() >= 2:
        signals, ub = signals[..., high], ub[high]
    spatial = signals.shape[:-1]
    flat = signals.reshape(-1, ub.size)
    if mask is not None and np.shape(mask) != spatial:
        raise ValueError(f"mask shape {np.shape(mask)} does not match the image {spatial}")
    sel = np.ones(flat.shape[0], bool) if mask is None else np.asarray(mask, bool).reshape(-1)
    valid = sel & np.all(np.isfinite(flat) & (flat > 0), axis=1)
    y = np.log(np.where(valid[:, None], flat, 1.0))
    w = np.where(valid[:, None], flat, 0.0) ** 2  # WLLS weights
    sw = w.sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        bm = (w * ub).sum(1) / sw
        ym = (w * y).sum(1) / sw
        slope = (w * (ub - bm[:, None]) * (y - ym[:, None])).sum(1) / (w * (ub - bm[:, None]) ** 2).sum(1)
    adc = -slope
    s0 = np.exp(ym + adc * bm)
    resid = y - (np.log(s0)[:, None] - adc[:, None] * ub)
    rmse = np.sqrt(np.mean(resid**2, axis=1))
    lo, hi = cfg["plausible_mm2_s"]
    ok = valid & np.isfinite(adc) & (adc >= lo) & (adc <= hi)
    failed = sel & ~ok
    nan = np.nan
    return AdcFit(
        adc_mm2_s=np.where(ok, adc, nan).reshape(spatial),
        s0=np.where(ok, s0, nan).reshape(spatial),
        failed=failed.reshape(spatial),
        rmse_log=np.where(ok, rmse, nan).reshape(spatial),
        b_values_used=tuple(float(v) for v in ub),
        parameters={
            "model": "mono-exponential, weighted linear least squares on ln S (weights S^2)",
            "b_values_used_s_per_mm2": [float(v) for v in ub],
            "b_values_acquired_s_per_mm2": sorted({float(v) for v in np.round(b, 3)}),
            "min_b_for_multi_b_s_per_mm2": min_b,
            "directions_combined": "geometric mean per b-value (trace)",
            "plausible_mm2_s": [lo, hi],
        },
    )


def adc_map_from_series(dwi: np.ndarray, b_values: tuple[float, ...], *, file: str | None = None) -> AdcFit:
    """ADC of a DWI series (4D, one b-value per frame), with a background mask; clear errors for bad input."""
    if dwi.ndim != 4:
        raise InputError(f"a DWI series must be 4D (x, y, z, b), got shape {dwi.shape}", file=file)
    if not b_values:
        raise InputError(
            "the DWI series has no b-values",
            file=file,
            field="b-values",
            expected="DiffusionBValue in DICOM or a .bval file beside the NIfTI",
        )
    if len(b_values) != dwi.shape[-1]:
        raise InputError(f"{len(b_values)} b-values for {dwi.shape[-1]} frames", file=file, field="b-values")
    if not np.all(np.isfinite(dwi)):
        raise InputError("the DWI series contains NaN or infinite values", file=file, expected="finite signal")
    b = np.asarray(b_values, dtype=float)
    low = dwi[..., b == b.min()].mean(-1)
    cfg = adc_constants()
    mask = bright_signal_mask(low, fraction=cfg["background_fraction_of_p90"])
    return fit_adc(dwi, b_values=b, mask=mask)


def scanner_adc_to_mm2_s(adc: np.ndarray, *, brain: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """A scanner-computed ADC map in mm²/s, and the unit conversion applied (integers in 1e-6 mm²/s are common)."""
    cfg = adc_constants()
    values = adc[brain] if brain is not None else adc[adc > 0]
    if values.size == 0:
        raise CannotAssessError("the scanner ADC map has no positive values")
    med = float(np.median(values))
    if med > cfg["scanner_units_threshold"]:
        return adc * cfg[
            "scanner_unit_scale"
        ], f"median {med:g} > {cfg['scanner_units_threshold']}: taken as 1e-6 mm²/s"
    return adc.astype(float), "values taken as mm²/s"


@dataclass(frozen=True)
class AdcSummary:
    n_voxels: int
    mean_mm2_s: float
    median_mm2_s: float
    min_percentile_mm2_s: float  # the lesion_min_percentile (5th) — the robust "minimum"
    low_percentile_mm2_s: float  # the lesion_low_percentile (10th)
    ratio_to_reference: float | None


def lesion_adc_summary(adc_mm2_s: np.ndarray, lesion: np.ndarray, *, reference: np.ndarray | None = None) -> AdcSummary:
    """Mean, median, 5th and 10th percentile ADC in a lesion; ratio of means to a reference region if given."""
    if lesion.shape != adc_mm2_s.shape:
        raise ValueError(f"lesion mask shape {lesion.shape} does not match the ADC map {adc_mm2_s.shape}")
    vals = adc_mm2_s[lesion & np.isfinite(adc_mm2_s)]
    if vals.size == 0:
        raise CannotAssessError("no valid ADC voxel inside the lesion")
    cfg = adc_constants()
    ratio = None
    if reference is not None:
        ref = adc_mm2_s[reference & np.isfinite(adc_mm2_s)]
        if ref.size:
            ratio = float(vals.mean() / ref.mean())
    return AdcSummary(
        n_voxels=int(vals.size),
        mean_mm2_s=float(vals.mean()),
        median_mm2_s=float(np.median(vals)),
        min_percentile_mm2_s=float(np.percentile(vals, cfg["lesion_min_percentile"])),
        low_percentile_mm2_s=float(np.percentile(vals, cfg["lesion_low_percentile"])),
        ratio_to_reference=ratio,
    )
