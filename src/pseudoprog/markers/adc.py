"""Diffusion per-lesion markers (clinical_rules.md §2.4): mean ADC, 5th percentile, ratio to the mirror region."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..case import LesionMask
from ..handoff import TypedMap
from .lesion import LesionValues

if TYPE_CHECKING:
    from ..perfusion.reference_region import Midline


def adc_values(adc_map: TypedMap, *, fit: Mapping[str, Any], midline: Midline | None = None) -> LesionValues:
    """``adc_mean``, ``adc_min`` (5th percentile) and ``radc_mean`` (vs the lesion mirrored across the midline: the
    timepoint's ``midline`` when given, else the ADC brain's own)."""
    from ..align.resample import resample_mask
    from ..diffusion.adc import lesion_adc_summary
    from ..perfusion.reference_region import contralateral_region

    adc, affine = adc_map.array, adc_map.affine
    brain = np.isfinite(adc)

    def values(mask: LesionMask) -> dict[str, tuple[float, dict[str, Any]]]:
        les = resample_mask(mask.enhancing, mask.affine, affine, adc.shape)
        mirror = contralateral_region(les, brain, affine, midline)
        ref = mirror.region
        summary = lesion_adc_summary(adc, les, reference=ref if ref.any() else None)
        q = {
            "n_voxels": summary.n_voxels,
            "b_values_used": fit.get("b_values_used_s_per_mm2"),
            "median_mm2_s": summary.median_mm2_s,
            "p10_mm2_s": summary.low_percentile_mm2_s,
        }
        out = {
            "adc_mean": (summary.mean_mm2_s, q),
            "adc_min": (summary.min_percentile_mm2_s, {**q, "statistic": "5th percentile"}),
        }
        if summary.ratio_to_reference is not None:
            out["radc_mean"] = (
                summary.ratio_to_reference,
                {
                    **q,
                    "reference": f"mean ADC of the lesion {mirror.midline.description}",
                    "reference_mirror": mirror.midline.method,
                    "n_reference": int(ref.sum()),
                },
            )
        return out

    return values
