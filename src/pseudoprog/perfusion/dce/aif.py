"""The DCE arterial input: automatic arterial voxels, the input from a mask, or the Parker population AIF."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import CannotAssessError
from ..tables import load_table
from .concentration import signal_to_concentration
from .constants import blood_t1_for
from .population_aif import parker_aif


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


def image_aif(
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
