"""Which grid axis holds the slices, and the same grid with that axis stored last.

Several steps work slice by slice on "the grid's third axis" (the brain mask's per-slice hulls and disks, the lesion
stage's per-slice hulls, cores and slice levelling). A volume may store its slice axis anywhere: a sagittal or coronal
series, or a NIfTI written in another axis order, describes the same head with its axes permuted. Those steps first
move the slice axis last (:func:`slices_last`), which only transposes the array (no resampling), and move their
result back, so the outcome does not depend on the order the axes were stored in.

The slice axis is the acquisition's: the one axis at least :data:`THICK_SLICE_RATIO` times coarser than both others
(a 2-D acquisition's slices, whatever their orientation); on a grid with no such axis (3-D, near-isotropic) the axis
nearest superior-inferior (axial planes). On a grid already in that order nothing is moved.
"""

from __future__ import annotations

import numpy as np

# A slice axis this many times coarser than both in-plane axes is the acquisition's slice axis (the lesion stage's
# slice_level_anisotropy, segmentation.yaml: 2-D acquisitions have slices 2.5-6 mm against 0.4-1 mm in-plane).
THICK_SLICE_RATIO = 2.0


def slice_axis(affine: np.ndarray) -> int:
    """The grid axis holding the slices (see the module docstring)."""
    cols = np.asarray(affine, dtype=float)[:3, :3]
    spacing = np.sqrt((cols**2).sum(axis=0))
    thick = [a for a in range(3) if all(spacing[a] >= THICK_SLICE_RATIO * spacing[b] for b in range(3) if b != a)]
    if thick:
        return thick[0]
    return axial_last(affine)[2]


def slices_last(affine: np.ndarray) -> tuple[int, int, int]:
    """The axis order (for ``np.transpose``) that stores the slice axis last, the others in their order."""
    k = slice_axis(affine)
    a, b = (ax for ax in range(3) if ax != k)
    return (a, b, k)


def nearest_axis(affine: np.ndarray, world: int) -> int:
    """The grid axis most aligned with world axis ``world`` (0 left-right, 1 front-back, 2 superior-inferior)."""
    cols = np.asarray(affine, dtype=float)[:3, :3]
    return int(np.argmax(np.abs(cols[world]) / np.sqrt((cols**2).sum(axis=0))))


def axial_last(affine: np.ndarray) -> tuple[int, int, int]:
    """The axis order that stores the axis nearest superior-inferior last (RANO measures axial slices)."""
    k = nearest_axis(affine, 2)
    a, b = (ax for ax in range(3) if ax != k)
    return (a, b, k)


def permute_affine(affine: np.ndarray, order: tuple[int, int, int]) -> np.ndarray:
    """The affine of ``np.transpose(data, order)``: the same world position for every voxel."""
    out = np.array(affine, dtype=float, copy=True)
    out[:, :3] = np.asarray(affine, dtype=float)[:, list(order)]
    return out


def transposed(a: np.ndarray, order: tuple[int, int, int]) -> np.ndarray:
    """``a`` with its axes in ``order``, as a contiguous array (the slice-by-slice steps read it plane by plane)."""
    return np.ascontiguousarray(np.transpose(a, order))


def inverse_order(order: tuple[int, int, int]) -> tuple[int, int, int]:
    """The axis order that undoes ``order``."""
    inv = [0, 0, 0]
    for new, old in enumerate(order):
        inv[old] = new
    return (inv[0], inv[1], inv[2])
