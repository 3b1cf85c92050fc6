"""The arterial input function (AIF) of a DSC series: automatic selection or a user's mask.

Automatic selection follows Mouridsen et al., MRM 2006;55:524-31, with the DSC_mri screening of
Peruzzo et al. 2011: among brain voxels whose signal is not saturated, keep those with the largest
ΔR2* area, drop the roughest, then cluster the curves (k-means, two rounds) and keep the cluster
whose bolus is high and early (largest peak / first moment). Roughness is measured outside the first
pass, so a narrow arterial peak is not mistaken for noise. The chosen voxels are returned so a
reader can check where the AIF came from, with two quality checks:

* **saturation** — at the bolus peak an artery's signal can fall to the noise floor, which truncates
  ΔR2*; such voxels are excluded and their share is reported;
* **partial volume** — an arterial peak only a few times the tissue peak suggests voxels diluted by
  tissue (the AIF is then too small and absolute CBV/CBF too large; rCBV is unaffected).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.cluster.vq import kmeans2

from ...errors import CannotAssessError
from ..tables import dsc_methods
from .signal import Baseline, integral


@dataclass(frozen=True)
class AIF:
    """The arterial curve (ΔR2*, 1/s) and the voxels it was averaged from (indices into the curves given)."""

    curve: np.ndarray
    voxels: np.ndarray  # int indices into the (n_voxels, n_frames) array the AIF was chosen from
    method: str  # "auto" | "mask"
    warnings: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)


def _first_moment(curves: np.ndarray, times: np.ndarray) -> np.ndarray:
    w = np.clip(curves, 0, None)
    total = w.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (w * times).sum(axis=-1) / total, np.inf)


def _pick_cluster(curves: np.ndarray, times: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (into ``curves``) of the k-means cluster with the largest peak / first-moment ratio."""
    if curves.shape[0] <= k:
        return np.arange(curves.shape[0])
    centroids, labels = kmeans2(curves.astype(np.float64), k, minit="++", seed=rng)
    present = np.unique(labels)
    score = centroids[present].max(axis=1) / _first_moment(centroids[present], times)
    best = present[int(np.argmax(score))]
    return np.flatnonzero(labels == best)


def quality_checks(
    aif_curve: np.ndarray, tissue_peak: float, *, n_saturated: int, n_candidates: int
) -> tuple[list[str], dict[str, Any]]:
    """Partial-volume and saturation warnings for a chosen AIF."""
    table = dsc_methods()["aif"]
    warnings: list[str] = []
    peak = float(np.max(aif_curve))
    ratio = peak / tissue_peak if tissue_peak > 0 else float("inf")
    if ratio < float(table["min_peak_ratio_to_tissue"]):
        warnings.append(
            f"AIF peak ΔR2* is only {ratio:.1f}× the median brain peak "
            f"(expected ≥ {table['min_peak_ratio_to_tissue']}): "
            "likely partial volume with tissue; absolute CBV and CBF are overestimated (rCBV is not affected)"
        )
    if n_candidates and n_saturated / n_candidates > 0.5:
        warnings.append(
            f"{n_saturated} of {n_candidates} high-area voxels reach the noise floor at the bolus peak (saturated) "
            "and were excluded from the AIF; consider a lower dose, shorter TE, or a manual AIF mask"
        )
    info = {"peak_delta_r2s_per_s": peak, "peak_ratio_to_brain": ratio, "n_saturated_excluded": n_saturated}
    return warnings, info


def select_aif(
    curves: np.ndarray,
    times_s: np.ndarray,
    baseline: Baseline,
    *,
    min_signal_fraction: np.ndarray | None = None,
    max_voxels: int | None = None,
    seed: int = 0,
) -> AIF:
    """Choose arterial voxels automatically among ``curves`` (brain voxels' ΔR2*, ``(n, T)``).

    Parameters
    ----------
    curves
        ΔR2* of candidate (brain) voxels, 1/s.
    times_s
        Frame times (s).
    baseline
        The pre-bolus frames (the first-moment and area are taken after them).
    min_signal_fraction
        Per voxel, the lowest signal over the series as a fraction of S0; voxels below the
        saturation limit of the data table are excluded. ``None``: no saturation check.
    max_voxels
        How many voxels are averaged into the AIF (default from the data table).
    seed
        Seed of the k-means initialisation (the result is deterministic).

    Raises
    ------
    CannotAssessError
        No candidate arterial voxels (no brain voxel with a bolus).
    """
    table = dsc_methods()["aif"]
    curves = np.asarray(curves)
    if curves.ndim != 2 or curves.shape[1] != np.asarray(times_s).size:
        raise ValueError(f"curves must be (n_voxels, {np.asarray(times_s).size}), got {curves.shape}")
    n_keep = int(table["max_voxels"] if max_voxels is None else max_voxels)
    if n_keep < 1:
        raise ValueError(f"max_voxels must be at least 1, got {n_keep}")
    t = np.asarray(times_s, dtype=np.float64)
    post = slice(baseline.start, None)
    area = integral(curves, t, start=baseline.start)
    finite = np.isfinite(area) & np.all(np.isfinite(curves), axis=1)
    if finite.sum() < 1 or not np.any(area[finite] > 0):
        raise CannotAssessError("no voxel shows a bolus passage: no arterial input function can be found")
    cut = np.percentile(area[finite], float(table["area_percentile"]))
    cand = np.flatnonzero(finite & (area >= cut) & (area > 0))
    n_high_area = cand.size
    n_saturated = 0
    if min_signal_fraction is not None:
        sat = np.asarray(min_signal_fraction)[cand] < float(table["saturation_min_signal_fraction"])
        n_saturated = int(sat.sum())
        cand = cand[~sat]
    if cand.size == 0:
        raise CannotAssessError(
            "every candidate arterial voxel is saturated (signal at the noise floor at the bolus peak): "
            "give an AIF mask (--aif-mask) or reduce TE / dose"
        )
    c = curves[cand][:, post].astype(np.float64)
    peaks = c.max(axis=1)
    # Roughness as noise relative to the bolus: second differences outside the first pass (the baseline and the
    # tail from 10 s after each voxel's peak), over the peak squared. The curvature of a narrow arterial peak
    # itself must not count as roughness.
    tt0 = t[post]
    d2 = np.diff(c, n=2, axis=1) ** 2
    t_mid = tt0[1:-1]
    t_peak = tt0[np.argmax(c, axis=1)]
    quiet = (t_mid[None, :] < t[baseline.stop]) | (t_mid[None, :] > t_peak[:, None] + 10.0)
    rough = (d2 * quiet).sum(axis=1) / np.maximum(quiet.sum(axis=1), 1) / np.maximum(peaks, 1e-12) ** 2
    smooth = rough <= np.percentile(rough, float(table["roughness_percentile"]))
    cand, c = cand[smooth], c[smooth]
    rng = np.random.default_rng(seed)
    tt = t[post]
    for _ in range(int(table["n_rounds"])):
        keep = _pick_cluster(c, tt, int(table["n_clusters"]), rng)
        cand, c = cand[keep], c[keep]
    if cand.size > n_keep:
        top = np.argsort(c.max(axis=1))[::-1][:n_keep]
        cand = np.sort(cand[top])
    aif_curve = curves[cand].astype(np.float64).mean(axis=0)
    tissue_peak = float(np.median(curves[:, post].max(axis=1)[finite]))  # no copy of the curves
    warnings, info = quality_checks(aif_curve, tissue_peak, n_saturated=n_saturated, n_candidates=n_high_area)
    info.update({"n_voxels": int(cand.size), "selection": "Mouridsen 2006 area/roughness screening + k-means"})
    return AIF(curve=aif_curve, voxels=cand, method="auto", warnings=tuple(warnings), info=info)


def aif_from_voxels(curves: np.ndarray, voxels: np.ndarray, times_s: np.ndarray, baseline: Baseline) -> AIF:
    """The AIF as the mean of given voxels (a user's mask), with the same quality checks."""
    idx = np.asarray(voxels, dtype=np.int64)
    if idx.size == 0:
        raise CannotAssessError("the AIF mask holds no voxel of the DSC brain: no arterial input function")
    aif_curve = np.asarray(curves)[idx].astype(np.float64).mean(axis=0)
    if not np.all(np.isfinite(aif_curve)) or aif_curve[baseline.start :].max() <= 0:
        raise CannotAssessError("the voxels of the AIF mask show no bolus passage (ΔR2* never rises)")
    post = slice(baseline.start, None)
    tissue_peak = float(np.median(np.asarray(curves)[:, post].max(axis=1)))
    warnings, info = quality_checks(aif_curve, tissue_peak, n_saturated=0, n_candidates=0)
    info.update({"n_voxels": int(idx.size), "selection": "user mask"})
    return AIF(curve=aif_curve, voxels=idx, method="mask", warnings=tuple(warnings), info=info)
