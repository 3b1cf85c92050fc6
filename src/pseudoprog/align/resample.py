"""Resampling between grids that share a world (scanner RAS) space.

Series of one session share the scanner's frame of reference, so a lesion mask drawn on the T1c
can be carried to the DSC or ADC grid through the two affines alone. Across sessions a
registration transform is needed first (the lesions/align stage provides it).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def grid_to_grid(src_affine: np.ndarray, dst_affine: np.ndarray) -> np.ndarray:
    """The 4x4 matrix mapping destination voxel indices to source voxel indices."""
    return np.linalg.inv(src_affine) @ dst_affine


def resample_to_grid(
    data: np.ndarray,
    src_affine: np.ndarray,
    dst_affine: np.ndarray,
    dst_shape: tuple[int, int, int],
    *,
    order: int = 1,
    fill: float = 0.0,
) -> np.ndarray:
    """Resample a 3D array from its grid onto another grid of the same world space.

    ``order`` 0 is nearest neighbour (labels), 1 trilinear (images).
    """
    if data.ndim != 3:
        raise ValueError(f"resample_to_grid takes a 3D array, got shape {data.shape}")
    m = grid_to_grid(src_affine, dst_affine)
    return ndimage.affine_transform(
        data, m[:3, :3], offset=m[:3, 3], output_shape=tuple(dst_shape), order=order, mode="constant", cval=fill
    )


def resample_mask(
    mask: np.ndarray, src_affine: np.ndarray, dst_affine: np.ndarray, dst_shape: tuple[int, int, int]
) -> np.ndarray:
    """Carry a boolean mask to another grid: a destination voxel is in the mask if ≥ half of it was.

    Trilinear interpolation of the 0/1 mask then a 0.5 threshold keeps the volume unbiased when
    the destination voxels are larger (DSC, ADC) than the source's (T1c).
    """
    fraction = resample_to_grid(mask.astype(np.float32), src_affine, dst_affine, dst_shape, order=1)
    return fraction >= 0.5
