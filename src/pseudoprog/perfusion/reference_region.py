"""Contralateral reference regions: a lesion mask mirrored across the brain's midline.

Ratios such as rCBF (ASL) and rADC need a reference in normal-appearing tissue of the other hemisphere. Without a
tissue segmentation, the standard reading-room choice is the mirror image of the lesion ROI. The midline is taken
as the centre of mass of the brain mask along the image axis that runs closest to left–right in world space; the
mirrored region excludes voxels of the lesion itself [DERIVED; appropriate for axial acquisitions with the head
roughly straight].
"""

from __future__ import annotations

import numpy as np

from ..align.axes import nearest_axis


def left_right_axis(affine: np.ndarray) -> int:
    """Index (0, 1, 2) of the voxel axis most aligned with world x (left–right)."""
    return nearest_axis(affine, 0)


def mirror_across_midline(mask: np.ndarray, brain: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The lesion ``mask`` mirrored about the brain's midline (voxels of ``mask`` and outside ``brain`` removed)."""
    if mask.shape != brain.shape:
        raise ValueError(f"mask {mask.shape} and brain {brain.shape} must share a grid")
    if not brain.any():
        return np.zeros_like(mask, dtype=bool)
    axis = left_right_axis(affine)
    coords = np.nonzero(brain)[axis]
    centre = float(coords.mean())
    idx = np.nonzero(mask)
    mirrored_axis = np.rint(2 * centre - idx[axis]).astype(int)
    keep = (mirrored_axis >= 0) & (mirrored_axis < mask.shape[axis])
    new_idx = [i[keep] for i in idx]
    new_idx[axis] = mirrored_axis[keep]
    out = np.zeros_like(mask, dtype=bool)
    out[tuple(new_idx)] = True
    return out & brain & ~mask
