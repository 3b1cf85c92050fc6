"""DSC per-lesion markers (clinical_rules.md §2.1): robust maximum and mean rCBV, rCBF, FTB fractions, PSR."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CannotAssessError
from ..handoff import StageOutput
from .registry import make_marker

if TYPE_CHECKING:
    from ..perfusion.dsc import DSCFit

STAGE = "perfusion.dsc"


def dsc_markers(
    out: StageOutput,
    date: dt.date,
    fit: DSCFit,
    masks_on_grid: Sequence[tuple[str, np.ndarray]],
    shared: Mapping[str, Any],
) -> None:
    """Summarise the fit inside each lesion mask (already on the DSC grid) into registry markers."""
    for lesion_id, mask in masks_on_grid:
        try:
            s = fit.summarise(mask)
        except CannotAssessError as exc:
            out.skip(STAGE, exc.reason, timepoint=date, lesion_id=lesion_id)
            continue
        quality = {
            "n_voxels": s.n_voxels,
            "volume_mm3": s.volume_mm3,
            "rcbv_p95": s.rcbv_p95,
            "rcbv_skewness": s.rcbv_skewness,
            "rcbv_kurtosis": s.rcbv_kurtosis,
            "ftb_above_1": s.ftb_above_1,
            "rcbv_uncorrected_mean": s.rcbv_uncorrected_mean,
            "rcbv_uncorrected_max": s.rcbv_uncorrected_p90,
            "k2_mean": s.k2_mean,
            "robust_max_percentile": s.robust_max_percentile,
            **shared,
        }
        values = {
            "rcbv_max": s.rcbv_p90,
            "rcbv_mean": s.rcbv_mean,
            "rcbf_max": s.rcbf_p90,
            "ftb_high": s.ftb_high,
            "ftb_low": s.ftb_low,
            "psr": s.psr,
        }
        for name, value in values.items():
            if value is None or not math.isfinite(value):
                out.skip(STAGE, f"{name} could not be computed", timepoint=date, lesion_id=lesion_id)
                continue
            try:
                marker = make_marker(name, value, source=STAGE, lesion_id=lesion_id, quality=quality)
            except ValueError as exc:
                out.skip(STAGE, f"{name}: {exc}", timepoint=date, lesion_id=lesion_id)
                continue
            out.at(date).markers.append(marker)
