"""Resampling between grids that share a world (scanner RAS) space: thin forms of :func:`.warp.warp`.

Series of one session share the scanner's frame of reference, so a lesion mask drawn on the T1c
can be carried to the DSC or ADC grid through the two affines alone. Across sessions a
registration transform is needed first (the lesions stage provides it). Both functions here are
:func:`~pseudoprog.align.warp.warp` with no transform, for callers that hold bare arrays.
"""

from __future__ import annotations

import numpy as np

from ..case import Volume
from .warp import Grid, warp, warp_mask

_ORDER_NAME = {0: "nearest", 1: "linear", 3: "cubic"}


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

    ``order`` 0 is nearest neighbour (labels), 1 trilinear (images), 3 cubic.
    """
    if data.ndim != 3:
        raise ValueError(f"resample_to_grid takes a 3D array, got shape {data.shape}")
    if order not in _ORDER_NAME:
        raise ValueError(f"order must be one of {tuple(_ORDER_NAME)}, got {order}")
    grid = Grid(dst_affine, (int(dst_shape[0]), int(dst_shape[1]), int(dst_shape[2])))
    return warp(Volume(data, src_affine), None, grid, interpolation=_ORDER_NAME[order], fill=fill).data


def resample_mask(
    mask: np.ndarray, src_affine: np.ndarray, dst_affine: np.ndarray, dst_shape: tuple[int, int, int]
) -> np.ndarray:
    """Carry a boolean mask to another grid of the same world: a destination voxel is in it if ≥ half of it was."""
    grid = Grid(dst_affine, (int(dst_shape[0]), int(dst_shape[1]), int(dst_shape[2])))
    return warp_mask(mask, src_affine, None, grid)


def block_factors(spacing_mm: tuple[float, ...] | np.ndarray, working_mm: float) -> tuple[int, int, int]:
    """Whole block-averaging factors per axis that bring voxels of ``spacing_mm`` towards ``working_mm``.

    A spacing read from a header is the exact value only to float32 precision, and more so on an oblique grid (its
    axes' lengths are norms of rotated columns): 1 mm stored as 1.0000002 mm must give the factor 2 mm gives for
    1 mm, not 1 (a BraTS T1c's brain mask moved by 3 % of its voxels with its affine scaled by 1 + 2e-7;
    benchmarks/RESULTS.md, session 41). So the quotient is taken with a 1e-4 tolerance.
    """
    a, b, c = (max(1, int(working_mm / float(s) + 1e-4)) for s in spacing_mm)
    return (a, b, c)
