"""DSC perfusion: leakage-corrected rCBV, CBF, MTT, K2 and fractional tumour burden from a dynamic T2*-weighted series.

The flow for one series (every step vectorised over all brain voxels)::

    signal ─► brain mask, bolus arrival ─► ΔR2*(t) (single or dual echo) ─► AIF (auto or mask)
          ─► leakage correction (BSW or Bjørnerud) ─► CBV = ∫ΔR2* / ∫AIF, CBF = max(SVD residue),
             MTT = CBV / CBF ─► NAWM reference ─► rCBV, rCBF, FTB classes ─► per-lesion summaries

Usage (not run as a doctest: it needs a real case or file)::

    model = DSCModel(te_ms=30.0, leakage="bsw")
    fit = model.fit(volume, lesion_mask=enhancing)
    fit.maps["rcbv"].data.shape, fit.summarise(enhancing).rcbv_p90

Absolute CBV (ml/100 g) and CBF (ml/100 g/min) use the measured AIF and kH/ρ; they carry the
AIF's partial volume and the different ΔR2* relaxivity of blood and tissue, so only the
relative maps (normalised to NAWM) and MTT are meant for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from ...case import Volume
from ...errors import CannotAssessError, InputError
from ..tables import dsc_methods
from . import leakage as lk
from .aif import AIF, aif_from_voxels, select_aif
from .deconvolution import METHODS as DECONV_METHODS
from .deconvolution import deconvolve
from .reference import Reference, auto_nawm, reference_from_mask
from .signal import (
    Baseline,
    cumulative_integral,
    delta_r2s,
    delta_r2s_dual,
    detect_baseline,
    integral,
    resample_curves,
    uniform_times,
)

if TYPE_CHECKING:
    from ..reference_region import Midline

# The FTB thresholds (Hu et al. 2012; Iv et al. 2019) were derived on BSW-corrected rCBV.
FTB_NOTE = (
    "FTB thresholds 1.0 / 1.75 were derived with BSW leakage correction (Hu et al., AJNR 2012; Iv et al., "
    "AJNR 2019); --leakage bsw reproduces that method exactly"
)

_PLANE = np.zeros((3, 3, 3), dtype=bool)
_PLANE[:, :, 1] = True


@dataclass(frozen=True)
class DSCMap:
    name: str
    data: np.ndarray  # spatial grid of the input series
    unit: str
    description: str


@dataclass(frozen=True)
class LesionSummary:
    """Per-lesion DSC numbers the evidence stage consumes (rCBV leakage-corrected unless named otherwise)."""

    n_voxels: int
    volume_mm3: float
    rcbv_mean: float
    rcbv_p90: float
    rcbv_p95: float
    rcbv_skewness: float
    rcbv_kurtosis: float  # excess (Fisher) kurtosis
    ftb_above_1: float  # fraction with rCBV > 1.0
    ftb_high: float  # fraction with rCBV > 1.75
    ftb_low: float  # fraction with rCBV < 1.0
    rcbf_p90: float
    psr: float | None
    rcbv_uncorrected_mean: float
    rcbv_uncorrected_p90: float
    k2_mean: float
    robust_max_percentile: float


@dataclass(frozen=True)
class DSCFit:
    """All maps of one DSC series with everything needed to check or reproduce them."""

    maps: dict[str, DSCMap]
    affine: np.ndarray
    brain: np.ndarray
    aif: AIF
    aif_mask: np.ndarray
    reference: Reference
    baseline: Baseline
    times_s: np.ndarray
    parameters: dict[str, Any]
    warnings: tuple[str, ...]
    psr_signal: np.ndarray = field(repr=False)  # (x, y, z, T) signal used for PSR (the longer echo)

    @property
    def voxel_volume_mm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def summarise(self, lesion: np.ndarray) -> LesionSummary:
        """Summaries of the leakage-corrected rCBV, rCBF, FTB and PSR inside ``lesion`` (bool, this grid).

        Raises
        ------
        CannotAssessError
            Fewer than ``min_lesion_voxels`` of the lesion lie in the analysed brain.
        """
        table = dsc_methods()["summaries"]
        lesion = np.asarray(lesion, dtype=bool)
        if lesion.shape != self.brain.shape:
            raise ValueError(f"lesion mask shape {lesion.shape} does not match the DSC grid {self.brain.shape}")
        rcbv = self.maps["rcbv"].data
        sel = lesion & self.brain & np.isfinite(rcbv)
        n = int(sel.sum())
        if n < int(table["min_lesion_voxels"]):
            raise CannotAssessError(
                f"only {n} voxel(s) of the lesion lie in the DSC brain (need {table['min_lesion_voxels']}): the lesion "
                "is too small or thin for the DSC resolution"
            )
        v = rcbv[sel].astype(np.float64)
        vu = self.maps["rcbv_uncorrected"].data[sel].astype(np.float64)
        pmax = float(table["robust_max_percentile"])
        low, high = float(table["ftb_low"]), float(table["ftb_high"])
        rcbf = self.maps["rcbf"].data[sel].astype(np.float64)
        curve = self.psr_signal[sel].astype(np.float64).mean(axis=0)
        return LesionSummary(
            n_voxels=n,
            volume_mm3=n * self.voxel_volume_mm3,
            rcbv_mean=float(v.mean()),
            rcbv_p90=float(np.percentile(v, pmax)),
            rcbv_p95=float(np.percentile(v, 95)),
            rcbv_skewness=_skewness(v) if n > 2 else float("nan"),
            rcbv_kurtosis=_excess_kurtosis(v) if n > 3 else float("nan"),
            ftb_above_1=float((v > low).mean()),
            ftb_high=float((v > high).mean()),
            ftb_low=float((v < low).mean()),
            rcbf_p90=float(np.percentile(rcbf[np.isfinite(rcbf)], pmax)) if np.isfinite(rcbf).any() else float("nan"),
            psr=percentage_signal_recovery(curve, self.baseline),
            rcbv_uncorrected_mean=float(vu.mean()),
            rcbv_uncorrected_p90=float(np.percentile(vu, pmax)),
            k2_mean=float(np.nanmean(self.maps["k2"].data[sel])),
            robust_max_percentile=pmax,
        )


def _central_moments(v: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """Deviations from the mean, second moment, and whether the spread is nil, as ``scipy.stats`` computes them
    (``skew``/``kurtosis`` with ``bias=True``: the same operations in the same order, so the same numbers).
    Here rather than ``scipy.stats``, whose import alone took 0.2 s of every run (nothing else imports it)."""
    mean = v.mean(axis=0, keepdims=True)
    d = v - mean
    m2 = float(np.mean(d**2, axis=0))
    nil = bool(m2 <= (np.finfo(np.float64).eps * float(mean[0])) ** 2)
    return d, m2, nil


def _skewness(v: np.ndarray) -> float:
    """Sample skewness of a float64 vector (``scipy.stats.skew``, biased): NaN when the values do not vary."""
    d, m2, nil = _central_moments(v)
    s = d.copy()
    s = s**2
    s *= d
    return float("nan") if nil else float(np.mean(s, axis=0)) / m2**1.5


def _excess_kurtosis(v: np.ndarray) -> float:
    """Excess (Fisher) kurtosis of a float64 vector (``scipy.stats.kurtosis``, biased): NaN when nothing varies."""
    d, m2, nil = _central_moments(v)
    s = d**2
    s = s**2
    return float("nan") if nil else float(np.mean(s, axis=0)) / m2**2.0 - 3


def percentage_signal_recovery(curve: np.ndarray, baseline: Baseline) -> float | None:
    """PSR as a fraction: ``(S_post − S_min) / (S_pre − S_min)`` (Barajas et al., Radiology 2009)."""
    frac = float(dsc_methods()["psr"]["post_window_fraction"])
    c = np.asarray(curve, dtype=np.float64)
    pre = float(c[baseline.start : baseline.stop].mean())
    s_min = float(c[baseline.arrival :].min())
    n_post = max(1, round(frac * c.size))
    post = float(c[-n_post:].mean())
    if pre - s_min <= 0:
        return None
    return (post - s_min) / (pre - s_min)


def brain_mask(mean_image: np.ndarray, *, threshold_fraction: float = 0.2) -> np.ndarray:
    """Head voxels with signal, minus the scalp: threshold, in-plane opening, largest component, holes filled."""
    if not 0 < threshold_fraction < 1:
        raise ValueError(f"threshold_fraction must be in (0, 1), got {threshold_fraction}")
    img = np.where(np.isfinite(mean_image), mean_image, 0.0)
    if not np.any(img > 0):
        raise CannotAssessError("the DSC series has no signal (all voxels zero or not finite)")
    raw = img > threshold_fraction * float(np.percentile(img[img > 0], 99))
    core = ndimage.binary_erosion(raw, structure=_PLANE, iterations=2)
    lab, n = ndimage.label(core)
    if n == 0:
        core = raw
        lab, n = ndimage.label(raw)
    sizes = ndimage.sum(np.ones_like(lab), lab, index=np.arange(1, n + 1))
    keep = lab == (int(np.argmax(sizes)) + 1)
    keep = ndimage.binary_dilation(keep, structure=_PLANE, iterations=2) & raw
    filled = np.stack([ndimage.binary_fill_holes(keep[:, :, k]) for k in range(keep.shape[2])], axis=2)
    return filled


def _all_finite(series: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Per voxel, whether every frame is finite, given the mean over frames: a NaN or infinite frame makes
    the mean non-finite, so only the voxels whose mean is not finite (possibly an overflow) are checked frame
    by frame."""
    finite = np.isfinite(mean)
    if not finite.all():
        finite[~finite] = np.isfinite(series[~finite]).all(axis=-1)
    return finite


class DSCModel:
    """DSC analysis options (keyword-only, validated); :meth:`fit` runs it on a series.

    Parameters
    ----------
    te_ms
        Echo time in ms (the first echo for dual-echo data).
    te2_ms
        Second echo time in ms for dual-echo data (then :meth:`fit` needs ``echo2``).
    leakage
        ``"auto"`` (default: BSW or Bjørnerud chosen from the data per lesion or region, see
        :func:`leakage.auto_correct`), ``"bsw"`` (Boxerman–Schmainda–Weisskoff, the consensus method the FTB
        thresholds were derived with), ``"bjornerud"`` (residue-tail, insensitive to transit-time differences)
        or ``"none"``.
    preload
        Whether a preload bolus was given (``None``: not recorded); used by the ``"auto"`` choice.
    deconvolution
        ``"osvd"`` (default), ``"csvd"`` or ``"ssvd"``.
    svd_threshold
        Truncation for sSVD/cSVD (fraction of the largest singular value); default from the data table.
    brain_threshold
        Fraction of the 99th-percentile mean signal below which voxels are background.
    """

    def __init__(
        self,
        *,
        te_ms: float,
        te2_ms: float | None = None,
        leakage: str = lk.DEFAULT,
        deconvolution: str = "osvd",
        svd_threshold: float | None = None,
        brain_threshold: float = 0.2,
        preload: bool | None = None,
    ) -> None:
        if not (isinstance(te_ms, (int, float)) and np.isfinite(te_ms) and 0 < te_ms < 200):
            raise ValueError(f"te_ms must be an echo time in ms (0-200), got {te_ms!r}")
        if te2_ms is not None and not (np.isfinite(te2_ms) and te_ms < te2_ms < 200):
            raise ValueError(f"te2_ms must be a longer echo time than te_ms (ms), got {te2_ms!r}")
        if leakage not in lk.METHODS:
            raise ValueError(f"leakage must be one of {', '.join(lk.METHODS)}, got {leakage!r}")
        if deconvolution not in DECONV_METHODS:
            raise ValueError(f"deconvolution must be one of {', '.join(DECONV_METHODS)}, got {deconvolution!r}")
        if svd_threshold is not None and not 0 < svd_threshold < 1:
            raise ValueError(f"svd_threshold must be in (0, 1), got {svd_threshold}")
        if not 0 < brain_threshold < 1:
            raise ValueError(f"brain_threshold must be in (0, 1), got {brain_threshold}")
        self.te_ms = float(te_ms)
        self.te2_ms = None if te2_ms is None else float(te2_ms)
        self.leakage = leakage
        self.preload = preload
        self.deconvolution = deconvolution
        self.svd_threshold = svd_threshold
        self.brain_threshold = brain_threshold

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _check_volume(v: Volume, what: str) -> np.ndarray:
        if not v.is_dynamic or v.frame_times_s is None:
            raise InputError(f"{what} is not a dynamic (4D) series with frame times", expected="a 4D DSC series")
        if v.data.shape[3] < 15:
            raise CannotAssessError(f"{what} has {v.data.shape[3]} frames: too few for a DSC bolus passage")
        return v.data

    @staticmethod
    def _grid_mask(mask: np.ndarray | None, shape: tuple[int, ...], what: str) -> np.ndarray | None:
        if mask is None:
            return None
        m = np.asarray(mask)
        if m.shape != shape:
            raise InputError(
                f"{what} has shape {m.shape} but the DSC grid is {shape}",
                expected="a mask on the DSC series' own grid (resample it first)",
            )
        return m.astype(bool)

    # -- the fit, step by step -----------------------------------------------------------------

    def _echoes(self, signal: Volume, echo2: Volume | None) -> tuple[np.ndarray, np.ndarray]:
        """The first-echo data and the T2*-weighted echo (the second for dual-echo data), checked."""
        data = self._check_volume(signal, "the DSC series")
        if self.te2_ms is None:
            if echo2 is not None:
                raise ValueError("echo2 was given without te2_ms")
            return data, data
        if echo2 is None:
            raise ValueError("te2_ms was given: pass the second echo as echo2")
        data2 = self._check_volume(echo2, "the second echo")
        if data2.shape != data.shape:
            raise InputError(f"the echoes differ in shape: {data.shape} and {data2.shape}")
        return data, data2

    def _brain(
        self, data: np.ndarray, t2w: np.ndarray, user_brain: np.ndarray | None, warnings: list[str]
    ) -> np.ndarray:
        """Brain voxels with finite signal in every frame (the user's mask, else a threshold of the mean image)."""
        spatial = data.shape[:3]
        with np.errstate(invalid="ignore", over="ignore"):
            t2w_mean = t2w.mean(axis=3)
            finite = _all_finite(t2w, t2w_mean)
            if data is not t2w:
                finite &= _all_finite(data, data.mean(axis=3))
        n_bad = int((~finite).sum())
        if not finite.any():
            raise CannotAssessError("every voxel of the DSC series has NaN or infinite values")
        if user_brain is None:
            mean_img = np.where(finite, t2w_mean, 0.0)
            bm = brain_mask(mean_img, threshold_fraction=self.brain_threshold)
        else:
            bm = user_brain
        bm &= finite
        if n_bad and (bm.sum() + n_bad) and n_bad > 0.01 * np.prod(spatial):
            warnings.append(f"{n_bad} voxel(s) hold NaN or infinite values and were left out")
        if bm.sum() < 50:
            raise CannotAssessError(f"only {int(bm.sum())} brain voxels with signal: not a usable DSC series")
        return bm

    def _relaxation_curves(
        self, data: np.ndarray, t2w: np.ndarray, idx: np.ndarray, frame_times_s: np.ndarray, warnings: list[str]
    ) -> _Curves:
        """ΔR2*(t) of the brain voxels on a uniform time grid, with the baseline, S0 and the signal drop."""
        s2w = t2w.reshape(-1, t2w.shape[3])[idx]
        baseline = detect_baseline(s2w.mean(axis=0, dtype=np.float64))
        times = np.asarray(frame_times_s, dtype=np.float64)
        if self.te2_ms is not None:
            s1 = data.reshape(-1, data.shape[3])[idx]
            drs = delta_r2s_dual(s1, s2w, baseline, te1_ms=self.te_ms, te2_ms=float(self.te2_ms))
        else:
            drs = delta_r2s(s2w, baseline, te_ms=self.te_ms)
        s0 = s2w[:, baseline.start : baseline.stop].mean(axis=1)
        min_frac = s2w[:, baseline.arrival :].min(axis=1) / np.maximum(s0, 1e-12)
        drs[:, : baseline.start] = 0.0  # non-steady-state leading frames carry no information
        grid, regular = uniform_times(times)
        if not regular:
            drs = resample_curves(drs, times, grid).astype(np.float32)
            warnings.append("frame times are not uniform: ΔR2* resampled to a uniform grid for deconvolution")
            b = baseline
            baseline = Baseline(
                start=int(np.searchsorted(grid, times[b.start])),
                stop=int(np.searchsorted(grid, times[b.stop - 1], side="right")),
                arrival=int(np.searchsorted(grid, times[b.arrival])),
                peak=int(np.searchsorted(grid, times[b.peak])),
            )
        return _Curves(drs=drs, s0=s0, min_frac=min_frac, baseline=baseline, grid=grid, regular=regular)

    def _leakage(
        self, c: _Curves, aif: AIF, idx: np.ndarray, les_m: np.ndarray | None, spatial: tuple[int, ...]
    ) -> _Leakage:
        """Leakage-corrected ΔR2* and K2 (K1 for BSW); the lesion and AIF voxels stay out of the BSW reference."""
        start = c.baseline.start
        aif_flag = np.zeros(idx.size, dtype=bool)
        aif_flag[aif.voxels] = True
        lesion_flag = les_m.ravel()[idx] if les_m is not None else np.zeros(idx.size, dtype=bool)
        if self.leakage == "none":
            return _Leakage(c.drs, np.zeros(idx.size, dtype=np.float32), None, "1/s", None)
        wbne_idx: np.ndarray | None = None
        try:
            if self.leakage in ("bsw", "auto"):
                exclude = aif_flag | lesion_flag
                ref_curve, wbne_idx = lk.non_enhancing_reference(c.drs, c.grid, start=start, exclude=exclude)
            if self.leakage == "auto":
                regions = None
                if les_m is not None:
                    regions = ndimage.label(les_m)[0].ravel()[idx]
                probe = lk.bsw_fit(c.drs, ref_curve, c.grid, start=start)
                area_u = integral(c.drs, c.grid, start=start).astype(np.float64)
                area_b = integral(probe.corrected, c.grid, start=start).astype(np.float64)
                with np.errstate(divide="ignore", invalid="ignore"):
                    change = np.nan_to_num((area_b - area_u) / np.abs(area_u), nan=0.0, posinf=0.0, neginf=0.0)
                local = lk.neighbourhood_median(change, idx, spatial)
                ch = lk.auto_correct(
                    c.drs,
                    ref_curve,
                    aif.curve,
                    c.grid,
                    start=start,
                    regions=regions,
                    neighbourhood=local,
                    preload=self.preload,
                )
                selection = {**ch.summary, "lesions": ch.regions}
                return _Leakage(ch.corrected, ch.k2, ch.k1, "1/s", wbne_idx, ch.model, selection)
            if self.leakage == "bsw":
                fit_l = lk.bsw_fit(c.drs, ref_curve, c.grid, start=start)
            else:
                fit_l = lk.bjornerud_correct(c.drs, aif.curve, c.grid)
        except ValueError as exc:  # the data cannot support the correction: say so, do not guess
            reason = f"leakage correction ({self.leakage}) is not possible on this series: {exc}"
            raise CannotAssessError(reason) from exc
        return _Leakage(fit_l.corrected, fit_l.k2, fit_l.k1, fit_l.k2_unit, wbne_idx)

    def fit(
        self,
        signal: Volume,
        *,
        echo2: Volume | None = None,
        aif_mask: np.ndarray | None = None,
        reference_mask: np.ndarray | None = None,
        lesion_mask: np.ndarray | None = None,
        brain: np.ndarray | None = None,
        midline: Midline | None = None,
    ) -> DSCFit:
        """Compute every DSC map of a series.

        Parameters
        ----------
        signal
            The 4D series (the first echo for dual-echo data).
        echo2
            The second echo (dual-echo data); required when ``te2_ms`` was given.
        aif_mask, reference_mask, lesion_mask, brain
            Optional boolean masks on the series' grid: arterial voxels (else automatic), the
            normalisation reference (else automatic contralateral NAWM), lesions (excluded from the
            leakage reference and used to choose the side of the NAWM), and the brain.
        midline
            The brain's midline in world space (the timepoint's, found on its T1c), whose orientation splits the
            hemispheres for the automatic NAWM; else the DSC brain mask's own is searched.
        """
        data, t2w = self._echoes(signal, echo2)  # t2w: baseline detection, PSR, saturation
        spatial = data.shape[:3]
        aif_m = self._grid_mask(aif_mask, spatial, "the AIF mask")
        ref_m = self._grid_mask(reference_mask, spatial, "the reference mask")
        les_m = self._grid_mask(lesion_mask, spatial, "the lesion mask")
        warnings: list[str] = []
        bm = self._brain(data, t2w, self._grid_mask(brain, spatial, "the brain mask"), warnings)
        idx = np.flatnonzero(bm.ravel())
        c = self._relaxation_curves(data, t2w, idx, np.asarray(signal.frame_times_s), warnings)
        dt = float(c.grid[1] - c.grid[0])
        # Arterial input function.
        if aif_m is not None:
            aif = aif_from_voxels(c.drs, np.flatnonzero(aif_m.ravel()[idx]), c.grid, c.baseline)
        else:
            aif = select_aif(c.drs, c.grid, c.baseline, min_signal_fraction=c.min_frac)
        warnings.extend(aif.warnings)
        aif_area = float(integral(aif.curve, c.grid, start=c.baseline.start))
        if aif_area <= 0:
            raise CannotAssessError("the AIF has no positive area: no arterial bolus")
        const = dsc_methods()["constants"]
        kh_rho = (1 - const["hct_large_vessel"]) / (1 - const["hct_small_vessel"]) / const["brain_density_g_per_ml"]
        area = integral(c.drs, c.grid, start=c.baseline.start)
        cbv_u = (kh_rho * 100.0 * area / aif_area).astype(np.float32)
        leak = self._leakage(c, aif, idx, les_m, spatial)
        area_c = integral(leak.corrected, c.grid, start=c.baseline.start)
        cbv_c = (kh_rho * 100.0 * area_c / aif_area).astype(np.float32)
        dec = deconvolve(
            leak.corrected,
            aif.curve,
            dt,
            method=self.deconvolution,  # type: ignore[arg-type]
            threshold=self.svd_threshold,
            keep_residue=False,
        )
        cbf = (kh_rho * 6000.0 * dec.flow).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            mtt = np.where(cbf > 0, 60.0 * cbv_c / cbf, np.nan).astype(np.float32)

        def vol(values: np.ndarray, fill: float = np.nan) -> np.ndarray:
            out = np.full(int(np.prod(spatial)), fill, dtype=np.float32)
            out[idx] = values
            return out.reshape(spatial)

        cbv_u_v, cbv_c_v, cbf_v = vol(cbv_u), vol(cbv_c), vol(cbf)
        aif_flat = np.zeros(int(np.prod(spatial)), dtype=bool)
        aif_flat[idx[aif.voxels]] = True
        aif_vol = aif_flat.reshape(spatial)
        s0_vol = vol(c.s0.astype(np.float32), 0.0)
        if ref_m is not None:
            ref = reference_from_mask(ref_m, bm, cbv_u_v)
        else:
            ref = auto_nawm(cbv_u_v, s0_vol, bm, signal.affine, lesion=les_m, exclude=aif_vol, midline=midline)
        medians = _ReferenceMedians(
            cbv_uncorrected=float(np.median(cbv_u_v[ref.mask])),
            cbv_corrected=float(np.median(cbv_c_v[ref.mask])),
            cbf=float(np.median(cbf_v[ref.mask])),
        )
        if not (medians.cbv_uncorrected > 0 and medians.cbv_corrected > 0 and medians.cbf > 0):
            raise CannotAssessError("the reference tissue has no positive CBV or CBF: cannot normalise")
        maps = self._maps(bm, cbv_u_v, cbv_c_v, cbf_v, vol(mtt), vol(leak.k2.astype(np.float32), 0.0), leak, medians)
        if leak.k1 is not None:
            maps["k1"] = DSCMap("k1", vol(leak.k1.astype(np.float32), 0.0), "ratio", "BSW K1 (scale of the reference)")
        if leak.model is not None:
            maps["leakage_model"] = DSCMap(
                "leakage_model",
                vol(leak.model.astype(np.float32), 0.0),
                "class",
                "leakage model chosen per voxel (auto): 1 BSW, 2 Bjørnerud (0 outside brain)",
            )
        if leak.selection is not None:
            warnings.append(self.leakage_note(leak.selection))
        params = self._parameters(c, dec.threshold, idx, aif, ref, medians, leak, kh_rho)
        return DSCFit(
            maps=maps,
            affine=np.asarray(signal.affine, dtype=np.float64),
            brain=bm,
            aif=aif,
            aif_mask=aif_vol,
            reference=ref,
            baseline=c.baseline,
            times_s=c.grid,
            parameters=params,
            warnings=tuple(warnings),
            psr_signal=t2w,
        )

    def _maps(
        self,
        bm: np.ndarray,
        cbv_u: np.ndarray,
        cbv_c: np.ndarray,
        cbf: np.ndarray,
        mtt: np.ndarray,
        k2: np.ndarray,
        leak: _Leakage,
        ref: _ReferenceMedians,
    ) -> dict[str, DSCMap]:
        """The named maps: absolute and NAWM-normalised CBV and CBF, MTT, K2 and the FTB classes."""
        rcbv = cbv_c / ref.cbv_corrected
        table = dsc_methods()["summaries"]
        k2_from = "BSW, also where auto chose Bjørnerud" if self.leakage == "auto" else self.leakage
        ftb_text = f"FTB class: 1 rCBV < 1.0, 2 1.0–1.75, 3 > 1.75 (0 outside brain); {FTB_NOTE}"
        if self.leakage != "bsw":
            ftb_text += f" — this map's rCBV used leakage '{self.leakage}'"
        ftb = np.zeros(bm.shape, dtype=np.float32)
        ftb[bm] = 1.0 + (rcbv[bm] >= float(table["ftb_low"])) + (rcbv[bm] > float(table["ftb_high"]))
        return {
            "rcbv": DSCMap("rcbv", rcbv, "ratio", f"leakage-corrected ({self.leakage}) CBV / NAWM CBV"),
            "rcbv_uncorrected": DSCMap(
                "rcbv_uncorrected", cbv_u / ref.cbv_uncorrected, "ratio", "CBV / NAWM CBV, no correction"
            ),
            "cbv": DSCMap("cbv", cbv_c, "ml/100g", "leakage-corrected CBV, AIF-scaled (not calibrated)"),
            "cbf": DSCMap("cbf", cbf, "ml/100g/min", f"CBF by {self.deconvolution}, AIF-scaled (not calibrated)"),
            "rcbf": DSCMap("rcbf", cbf / ref.cbf, "ratio", "CBF / NAWM CBF"),
            "mtt": DSCMap("mtt", mtt, "s", "mean transit time CBV / CBF"),
            "k2": DSCMap("k2", k2, leak.k2_unit, f"leakage K2 ({k2_from}); > 0 T1-dominant"),
            "ftb": DSCMap("ftb", ftb, "class", ftb_text),
        }

    def _parameters(
        self,
        c: _Curves,
        svd_thresholds: np.ndarray,
        idx: np.ndarray,
        aif: AIF,
        ref: Reference,
        medians: _ReferenceMedians,
        leak: _Leakage,
        kh_rho: float,
    ) -> dict[str, Any]:
        """Every parameter and choice of the fit, for ``parameters.json``."""
        table = dsc_methods()["summaries"]
        return {
            "te_ms": self.te_ms,
            "te2_ms": self.te2_ms,
            "dual_echo": self.te2_ms is not None,
            "leakage_correction": self.leakage,
            "leakage_selection": leak.selection,
            "preload": self.preload,
            "deconvolution": self.deconvolution,
            "svd_threshold": self.svd_threshold,
            "osvd_thresholds_used": sorted({float(x) for x in np.unique(svd_thresholds)}),
            "baseline_frames": [c.baseline.start, c.baseline.stop],
            "bolus_arrival_frame": c.baseline.arrival,
            "sampling_interval_s": float(c.grid[1] - c.grid[0]),
            "frames_uniform": c.regular,
            "n_brain_voxels": int(idx.size),
            "aif": {
                "method": aif.method,
                "curve_delta_r2s_per_s": [float(x) for x in aif.curve],
                "times_s": [float(x) for x in c.grid],
                **aif.info,
            },
            "reference": {
                "method": ref.method,
                "note": ref.note,
                "cbv_uncorrected_median": medians.cbv_uncorrected,
                "cbv_corrected_median": medians.cbv_corrected,
                "cbf_median": medians.cbf,
            },
            "wbne_reference_voxels": int(leak.wbne_idx.size) if leak.wbne_idx is not None else None,
            "kh_over_rho": kh_rho,
            "integration": "trapezoid over all frames after the baseline start (first pass and recirculation)",
            "ftb_thresholds": [float(table["ftb_low"]), float(table["ftb_high"])],
            "ftb_note": FTB_NOTE,
        }

    @staticmethod
    def leakage_note(selection: dict[str, Any]) -> str:
        """One line saying which leakage model the automatic choice used and why (for warnings and the report)."""
        parts = [f"leakage model chosen from the data ({selection['rule']})"]
        for r in selection.get("lesions", []):
            parts.append(f"lesion region {r['region']}: {r['model']} — {r['reason']}")
        parts.append(f"BSW in {selection['voxels_bsw']} voxel(s), Bjørnerud in {selection['voxels_bjornerud']}")
        return "; ".join(parts)


@dataclass(frozen=True)
class _Curves:
    """ΔR2* of the brain voxels (rows) on the uniform grid, and what the fit needs from the raw signal."""

    drs: np.ndarray
    s0: np.ndarray  # baseline signal of the T2*-weighted echo
    min_frac: np.ndarray  # lowest signal after arrival / S0 (AIF saturation check)
    baseline: Baseline
    grid: np.ndarray
    regular: bool


@dataclass(frozen=True)
class _Leakage:
    corrected: np.ndarray
    k2: np.ndarray
    k1: np.ndarray | None
    k2_unit: str
    wbne_idx: np.ndarray | None  # voxels of the BSW whole-brain non-enhancing reference
    model: np.ndarray | None = None  # (n,) leakage.MODEL_CODES of the "auto" choice
    selection: dict[str, Any] | None = None  # the "auto" rule, counts and per-lesion reasons


@dataclass(frozen=True)
class _ReferenceMedians:
    """Medians in the normalisation reference."""

    cbv_uncorrected: float
    cbv_corrected: float
    cbf: float


__all__ = ["DSCFit", "DSCMap", "DSCModel", "LesionSummary", "brain_mask", "cumulative_integral"]
