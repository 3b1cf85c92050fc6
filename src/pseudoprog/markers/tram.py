"""TRAM per-lesion marker (clinical_rules.md §2.6): the fraction of the enhancing lesion that clears contrast."""

from __future__ import annotations

from typing import Any

from ..case import LesionMask
from ..handoff import TypedMap
from .lesion import LesionValues


def tram_values(class_map: TypedMap) -> LesionValues:
    """``tram_clearance_fraction`` of each lesion from the TRAM class map."""
    from ..align.resample import resample_mask
    from ..perfusion.tram import clearance_fraction

    classes = class_map.array

    def values(mask: LesionMask) -> dict[str, tuple[float, dict[str, Any]]]:
        les = resample_mask(mask.enhancing, mask.affine, class_map.affine, classes.shape)
        return {"tram_clearance_fraction": (clearance_fraction(classes, les), {"n_voxels": int(les.sum())})}

    return values
