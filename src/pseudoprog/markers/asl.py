"""ASL per-lesion markers (clinical_rules.md §2.3): maximum CBF, absolute and against the mirrored region."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..case import LesionMask
from ..errors import CannotAssessError
from ..handoff import TypedMap
from .lesion import LesionValues

if TYPE_CHECKING:
    from ..perfusion.reference_region import Midline


def asl_values(cbf_map: TypedMap, *, percentile: float, midline: Midline | None = None) -> LesionValues:
    """``asl_cbf_max`` (a high percentile, from asl_constants.yaml) and ``asl_rcbf_max`` vs the mirror region (across
    the timepoint's ``midline`` when given, else the CBF map brain's own)."""
    from ..align.resample import resample_mask
    from ..perfusion.from_series import lesion_values
    from ..perfusion.reference_region import contralateral_region

    cbf, affine = cbf_map.array, cbf_map.affine
    brain = np.isfinite(cbf)

    def values(mask: LesionMask) -> dict[str, tuple[float, dict[str, Any]]]:
        vals = lesion_values(cbf, affine, mask)
        if vals.size == 0:
            raise CannotAssessError("the lesion has no valid ASL CBF voxel")
        top = float(np.percentile(vals, percentile))
        q = {"n_voxels": int(vals.size), "statistic": f"{percentile}th percentile"}
        out = {"asl_cbf_max": (top, q)}
        les = resample_mask(mask.enhancing, mask.affine, affine, cbf.shape)
        mirror = contralateral_region(les, brain, affine, midline)
        ref = mirror.region
        ref_vals = cbf[ref & brain]
        if ref_vals.size and np.mean(ref_vals) > 0:
            out["asl_rcbf_max"] = (
                top / float(np.mean(ref_vals)),
                {
                    **q,
                    "reference": f"mean CBF of the lesion {mirror.midline.description}",
                    "reference_mirror": mirror.midline.method,
                    "n_reference": int(ref.sum()),
                },
            )
        return out

    return values
