"""Treatment response assessment maps (TRAMs): delayed minus early post-contrast T1 (clinical_rules.md §2.6).

Zach et al. (Neuro-Oncology 2015;17:457–465) subtract a T1-weighted image acquired a few minutes after contrast
from one acquired more than an hour later: contrast **clears** from vascularised tumour (delayed < early, "blue")
and **accumulates** in treatment-damaged tissue without functional vessels (delayed > early, "red").

Steps: rigid registration of the delayed image to the early one (:func:`pseudoprog.align.register`, preset ``"tram"``;
or a transform given by the caller, e.g. the lesions stage's), intensity
normalisation of the delayed image by the ratio of brain medians (the two scans may differ in receiver scaling;
most of the brain does not change), subtraction, and a threshold in robust standard deviations of the difference
(``perfusion/data/tram.yaml``). The maps stay on the early image's grid.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..align.brainmask import bright_signal_mask
from ..align.registration import Registration, register
from ..align.warp import warp
from ..case import Volume
from ..errors import CannotAssessError, InputError
from .tables import load_table

CLEARANCE, NONE, ACCUMULATION = -1, 0, 1


@dataclass(frozen=True)
class TramResult:
    difference: np.ndarray  # normalised delayed − early (early image units)
    classes: np.ndarray  # int8: −1 clearance, 0 no change / outside brain, +1 accumulation
    brain: np.ndarray
    delayed_registered: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def register_delayed(early: Volume, delayed: Volume) -> tuple[np.ndarray, Registration]:
    """The delayed image on the early image's grid after rigid registration (:func:`pseudoprog.align.register`,
    preset ``"tram"``: Mattes MI, centre-of-mass start, 4-2-1 pyramid), and the registration kept."""
    reg = register(early, delayed, kind="rigid", preset="tram", labels=("T1c early", "T1c delayed"))
    return warp(delayed, reg, early).data, reg


def delay_minutes(early_time: str | None, delayed_time: str | None) -> float | None:
    """Minutes between two DICOM/BIDS acquisition times ("HHMMSS[.ffffff]" or "HH:MM:SS"), None if unknown."""

    def parse(t: str | None) -> dt.timedelta | None:
        if not t:
            return None
        s = str(t).replace(":", "")
        try:
            h, m, sec = int(s[0:2]), int(s[2:4]), float(s[4:] or 0)
        except ValueError:
            return None
        return dt.timedelta(hours=h, minutes=m, seconds=sec)

    a, b = parse(early_time), parse(delayed_time)
    if a is None or b is None:
        return None
    return (b - a).total_seconds() / 60.0


def compute_tram(
    early: Volume,
    delayed: Volume,
    *,
    delay_min: float | None,
    register: bool = True,
    t1c_transform: Registration | None = None,
) -> TramResult:
    """TRAM of an early and a delayed post-contrast T1 of one session.

    Parameters
    ----------
    early, delayed
        3D post-contrast T1 volumes (any grids of the same subject).
    delay_min
        Minutes between the two acquisitions, if known; below the table's minimum the map is refused.
    register
        Register the delayed image to the early one (else it is only resampled through the affines).
    t1c_transform
        The delayed image's transform onto the early T1c computed before (fixed = early, moving = delayed),
        e.g. by the lesions stage: used as it is, and the images are not registered again.
    """
    cfg = load_table("tram")
    warnings: list[str] = []
    if delay_min is None:
        warnings.append(
            "the delay between the early and delayed scans is unknown: it should exceed "
            f"{cfg['min_delay_min']:.0f} min ({cfg['source']})"
        )
    elif delay_min < cfg["min_delay_min"]:
        raise CannotAssessError(
            f"the delayed scan is {delay_min:.0f} min after the early one; TRAMs need ≥ {cfg['min_delay_min']:.0f} min"
        )
    for name, v in (("early", early), ("delayed", delayed)):
        if v.data.ndim != 3:
            raise InputError(f"the {name} post-contrast T1 must be 3D, got shape {v.data.shape}")
        if not np.all(np.isfinite(v.data)):
            raise InputError(f"the {name} post-contrast T1 contains NaN or infinite values")
    reg_params: dict[str, Any]
    if t1c_transform is not None:
        moved = warp(delayed, t1c_transform, early).data
        reg_params = {"method": "transform given (not registered again)", **t1c_transform.to_dict()}
    elif register:
        moved, reg = register_delayed(early, delayed)
        reg_params = {"method": "align.register rigid, preset tram", **reg.to_dict()}
        if not reg.accepted:
            warnings.append(f"delayed-to-early registration: {reg.reason}")
    else:
        moved = warp(delayed, None, early).data
        reg_params = {"method": "resampled through the affines (no registration)"}
    e = early.data.astype(float)
    brain = bright_signal_mask(e, fraction=cfg["brain_fraction_of_p90"])
    brain &= moved > 0
    if brain.sum() < 100:
        raise CannotAssessError("too little brain signal overlaps between the early and delayed images")
    scale = float(np.median(e[brain]) / np.median(moved[brain]))
    diff = np.where(brain, moved * scale - e, 0.0)
    d = diff[brain]
    robust_sd = float(1.4826 * np.median(np.abs(d - np.median(d))))
    thr = cfg["threshold_robust_sd"] * robust_sd
    classes = np.zeros(e.shape, np.int8)
    classes[brain & (diff < -thr)] = CLEARANCE
    classes[brain & (diff > thr)] = ACCUMULATION
    params = {
        "method": "delayed (registered, median-normalised) minus early post-contrast T1",
        "source": cfg["source"],
        "delay_min": delay_min,
        "min_delay_min": cfg["min_delay_min"],
        "intensity_scale_delayed": scale,
        "threshold": thr,
        "threshold_robust_sd": cfg["threshold_robust_sd"],
        "registration": reg_params,
    }
    return TramResult(
        difference=diff,
        classes=classes,
        brain=brain,
        delayed_registered=moved * scale,
        parameters=params,
        warnings=tuple(warnings),
    )


def clearance_fraction(classes: np.ndarray, lesion: np.ndarray) -> float:
    """Fraction of a lesion's voxels that clear contrast by the delayed scan (the tumour-like part)."""
    if classes.shape != lesion.shape:
        raise ValueError("lesion mask and TRAM must share a grid")
    n = int(np.count_nonzero(lesion))
    if n == 0:
        raise CannotAssessError("the lesion mask is empty on the TRAM grid")
    return float(np.count_nonzero(classes[lesion] == CLEARANCE) / n)
