"""Whole-series DCE maps: tissue mask, bolus arrival, arterial input, concentration, fit, AUC90, parameters."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from ...align.brainmask import bright_signal_mask
from ...errors import CannotAssessError, InputError
from ..tables import load_table
from .aif import ArterialInput, image_aif, parker_plasma_input, select_arterial_voxels
from .concentration import detect_bolus_arrival, signal_to_concentration
from .constants import default_haematocrit, relaxivity_for
from .fitting import DceFit, FitStatus, fit_dce
from .models import Model, check_model
from .protocol import validate_dynamic

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
    check_model(model)
    t_s = np.asarray(t_s, dtype=float)
    spatial = signal.shape[:-1]
    warnings: list[str] = []
    table = load_table("dce_constants")
    if relaxivity_per_mM_s is None:
        relaxivity_per_mM_s, r1_source = relaxivity_for(contrast_agent, field_strength_t)
        if "assumed" in r1_source:  # an unknown agent or field strength is a stated assumption, never silent
            warnings.append(f"contrast agent relaxivity: r1 = {relaxivity_per_mM_s} /mM/s ({r1_source})")
    else:
        r1_source = "given by the user"
    hct = default_haematocrit() if haematocrit is None else float(haematocrit)
    if not 0 <= hct < 1:
        raise ValueError(f"haematocrit must be in [0, 1), got {hct}")
    t10 = np.broadcast_to(np.asarray(t10_s, dtype=float), spatial)
    if tissue_mask is None:
        base_img = signal[..., : max(1, n_baseline or 3)].mean(-1)
        tissue_mask = bright_signal_mask(base_img, fraction=table["tissue_threshold_fraction_of_p90"])
    tissue_mask = tissue_mask & np.isfinite(t10) & (t10 > 0)
    aif_mask = _user_aif_mask(aif, spatial, file=file)
    if n_baseline is None:
        n_baseline = _baseline_frames(signal, t_s, aif_mask, tissue_mask)
    if not 1 <= n_baseline < t_s.size - 3:
        raise ValueError(f"n_baseline must be between 1 and {t_s.size - 4}, got {n_baseline}")
    if n_baseline < 3:
        warnings.append(f"only {n_baseline} pre-contrast frame(s): the baseline signal is noisy")
    if isinstance(aif, str) and aif == "auto":
        aif_mask = select_arterial_voxels(signal, n_baseline=n_baseline, mask=tissue_mask)
    art: ArterialInput | None = None
    if aif_mask is not None:
        art = image_aif(
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
        if not _plausible_aif(art, automatic=isinstance(aif, str), warnings=warnings):
            art, aif_mask = None, None
    if art is None:
        art = _population_input(t_s, n_baseline, hct)
        warnings.append("population AIF used: Ktrans assumes an average arterial curve, not this patient's")
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
        np.where(fit_mask[..., None], conc, 0.0), t_s=t_s, cp_mM=art.cp_mM, model=model, mask=fit_mask, method=method
    )
    status = fit.status.copy()
    status[tissue_mask & conc_failed] = FitStatus.CONCENTRATION_FAILED
    fit = replace(fit, status=status)
    auc = _initial_auc(conc, t_s, fit_mask, arrival_s=art.bolus_arrival_s)
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
        **_input_record(art, hct, haematocrit_given=haematocrit is not None, t10_s=t10_s, n_baseline=n_baseline),
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


def _input_record(
    art: ArterialInput, hct: float, *, haematocrit_given: bool, t10_s: np.ndarray | float, n_baseline: int
) -> dict[str, Any]:
    """The haematocrit, native T1, baseline and arterial input entries of the parameters record."""
    source = "given by the user" if haematocrit_given else load_table("dce_constants")["haematocrit"]["source"]
    return {
        "haematocrit": hct,
        "haematocrit_source": source,
        "t10": "map" if np.ndim(t10_s) > 0 else f"{float(t10_s)} s (one value)",
        "n_baseline_frames": n_baseline,
        "bolus_arrival_s": art.bolus_arrival_s,
        "aif_source": art.source,
        "aif_voxels": art.n_voxels,
        "aif_details": art.details,
        "aif_peak_mM": float(np.max(art.cp_mM)),
        "aif_plasma_mM": art.cp_mM.tolist(),
    }


def _user_aif_mask(aif: str | np.ndarray, spatial: tuple[int, ...], *, file: str | None) -> np.ndarray | None:
    """The user's arterial mask (checked against the grid), or None for ``"auto"`` / ``"population"``."""
    if isinstance(aif, np.ndarray):
        if aif.shape != spatial:
            raise InputError(
                f"AIF mask shape {aif.shape} does not match the DCE grid {spatial}", file=file, field="aif mask"
            )
        aif_mask = aif.astype(bool)
        if not aif_mask.any():
            raise InputError("the AIF mask is empty", file=file, field="aif mask")
        return aif_mask
    if not isinstance(aif, str) or aif not in ("auto", "population"):
        raise ValueError(f"aif must be 'auto', 'population' or a mask, got {aif!r}")
    return None


def _baseline_frames(signal: np.ndarray, t_s: np.ndarray, aif_mask: np.ndarray | None, tissue_mask: np.ndarray) -> int:
    """Pre-contrast frames, from the bolus arrival on the arterial curve (else the most enhancing 1 % of tissue)."""
    if aif_mask is not None:
        probe = signal[aif_mask].mean(0)
    else:
        rise = np.where(tissue_mask, signal.max(-1) - signal[..., 0], -np.inf)
        top = rise >= np.percentile(rise[tissue_mask], 99) if tissue_mask.any() else tissue_mask
        if not top.any():
            raise CannotAssessError("no tissue signal in the DCE series")
        probe = signal[top].mean(0)
    n_baseline, _ = detect_bolus_arrival(probe, t_s)
    return n_baseline


def _plausible_aif(art: ArterialInput, *, automatic: bool, warnings: list[str]) -> bool:
    """False when an automatic input peaks below the plausible plasma floor (then the population AIF is used)."""
    floor = float(load_table("dce_constants")["min_plausible_aif_peak_plasma_mM"])
    peak = float(np.max(art.cp_mM)) if np.all(np.isfinite(art.cp_mM)) else float("nan")
    if peak >= floor:
        return True
    if automatic:
        warnings.append(
            f"the automatic arterial input peaks at {peak:.2f} mM (< {floor} mM plasma): the voxels are partial-"
            "volumed, so the population AIF is used instead"
        )
        return False
    warnings.append(
        f"the arterial input from the mask peaks at only {peak:.2f} mM: partial volume is "
        "likely and Ktrans overestimated"
    )
    return True


def _population_input(t_s: np.ndarray, n_baseline: int, hct: float) -> ArterialInput:
    """The Parker population AIF, as plasma, arriving at the first post-baseline frame."""
    arrival = float(t_s[n_baseline])
    return ArterialInput(
        cp_mM=parker_plasma_input(t_s, arrival_s=arrival, haematocrit=hct),
        source="population (Parker et al., MRM 2006)",
        n_voxels=0,
        haematocrit=hct,
        bolus_arrival_s=arrival,
    )


def _initial_auc(conc: np.ndarray, t_s: np.ndarray, fit_mask: np.ndarray, *, arrival_s: float) -> np.ndarray:
    """Initial area under the concentration curve over 90 s from arrival (mM·s; semi-quantitative, model-free)."""
    win = (t_s >= arrival_s) & (t_s <= arrival_s + 90.0)
    auc = np.full(fit_mask.shape, np.nan)
    if win.sum() >= 2:
        auc_all = np.trapezoid(np.where(fit_mask[..., None], conc, 0.0)[..., win], t_s[win], axis=-1)
        auc = np.where(fit_mask, auc_all, np.nan)
    return auc
