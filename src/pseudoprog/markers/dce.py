"""DCE per-lesion markers (clinical_rules.md §2.2): mean and 90th-percentile Ktrans, mean vp and ve.

Only voxels whose fit succeeded count (``Quantity.DCE_FIT_STATUS`` = OK).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..case import LesionMask
from ..errors import CannotAssessError
from ..handoff import Quantity, TypedMap
from .lesion import LesionValues


def dce_values(maps: Mapping[Quantity, TypedMap], *, ok_status: int, fit: Mapping[str, Any]) -> LesionValues:
    """Per-lesion values from the DCE maps (same grid): Ktrans mean/max, vp and ve means; ``fit``: fit parameters."""
    from ..perfusion.from_series import lesion_values

    ktrans = maps[Quantity.KTRANS]
    ok = maps[Quantity.DCE_FIT_STATUS].array == ok_status

    def values(mask: LesionMask) -> dict[str, tuple[float, dict[str, Any]]]:
        kt = lesion_values(np.where(ok, ktrans.array, np.nan), ktrans.affine, mask)
        if kt.size == 0:
            raise CannotAssessError("no voxel of the lesion has a successful DCE fit")
        q = {"n_voxels": int(kt.size), "model": fit.get("model"), "aif": fit.get("aif_source")}
        out = {
            "ktrans_mean": (float(kt.mean()), q),
            "ktrans_max": (float(np.percentile(kt, 90)), {**q, "statistic": "90th percentile"}),
        }
        for marker, quantity in (("vp_mean", Quantity.VP), ("ve_mean", Quantity.VE)):
            if quantity in maps:
                v = lesion_values(np.where(ok, maps[quantity].array, np.nan), ktrans.affine, mask)
                if v.size:
                    out[marker] = (float(v.mean()), q)
        return out

    return values
