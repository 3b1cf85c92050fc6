"""Treatment response assessment maps (TRAMs): delayed minus early post-contrast T1 (clinical_rules.md §2.6).

Zach et al. (Neuro-Oncology 2015;17:457–465) subtract a T1-weighted image acquired a few minutes after contrast
from one acquired more than an hour later: contrast **clears** from vascularised tumour (delayed < early, "blue")
and **accumulates** in treatment-damaged tissue without functional vessels (delayed > early, "red").

Steps: rigid registration of the delayed image to the early one (SimpleITK, Mattes mutual information), intensity
normalisation of the delayed image by the ratio of brain medians (the two scans may differ in receiver scaling;
most of the brain does not change), subtraction, and a threshold in robust standard deviations of the difference
(``perfusion/data/tram.yaml``). The maps stay on the early image's grid.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..align.brainmask import bright_signal_mask
from ..align.itk import to_sitk
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


def _to_sitk(data: np.ndarray, affine: np.ndarray) -> sitk.Image:
    return to_sitk(np.asarray(data, dtype=np.float32), affine)


def register_rigid(moving: Volume, fixed: Volume, *, seed: int = 1) -> tuple[np.ndarray, dict[str, Any]]:
    """Rigidly register ``moving`` to ``fixed`` (same subject); returns moving resampled on fixed's grid.

    Mattes mutual information (50 bins, 20 % random sampling with a fixed seed), Euler 3D transform initialised at
    the centres of mass, regular-step gradient descent over a 4-2-1 pyramid.
    """
    if moving.data.ndim != 3 or fixed.data.ndim != 3:
        raise InputError("rigid registration takes two 3D images")
    f_img = _to_sitk(fixed.data, fixed.affine)
    m_img = _to_sitk(moving.data, moving.affine)
    init = sitk.CenteredTransformInitializer(
        f_img, m_img, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.2, seed)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4, numberOfIterations=200)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2, 1])
    reg.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.0])
    reg.SetInitialTransform(init, inPlace=False)
    transform = reg.Execute(f_img, m_img)
    out = sitk.Resample(m_img, f_img, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    arr = sitk.GetArrayFromImage(out).transpose(2, 1, 0)
    params = {
        "method": "SimpleITK rigid (Euler 3D), Mattes MI, 4-2-1 pyramid",
        "final_metric": float(reg.GetMetricValue()),
        "iterations": int(reg.GetOptimizerIteration()),
        "stop_condition": reg.GetOptimizerStopConditionDescription(),
        "transform_parameters": [float(p) for p in transform.GetParameters()],
    }
    return arr, params


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


def compute_tram(early: Volume, delayed: Volume, *, delay_min: float | None, register: bool = True) -> TramResult:
    """TRAM of an early and a delayed post-contrast T1 of one session.

    Parameters
    ----------
    early, delayed
        3D post-contrast T1 volumes (any grids of the same subject).
    delay_min
        Minutes between the two acquisitions, if known; below the table's minimum the map is refused.
    register
        Register the delayed image to the early one (else it is only resampled through the affines).
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
    if register:
        moved, reg_params = register_rigid(delayed, early)
    else:
        from ..align.resample import resample_to_grid

        moved = resample_to_grid(delayed.data, delayed.affine, early.affine, early.spatial_shape)
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
