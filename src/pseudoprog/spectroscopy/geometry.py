"""Where a spectroscopy voxel (or CSI grid) lies in image space, and how much of it covers each lesion.

A spectroscopy voxel is a box of several millilitres; whether its ratio says anything about a lesion
depends on how much of the box the lesion fills. :func:`voxel_coverage` measures that by sampling
every voxel box on a fine regular lattice of points and looking them up in the lesion masks (all
voxels and points at once, no Python loop over voxels).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True, eq=False)
class VoxelGrid:
    """A spectroscopy grid: ``shape`` voxels (1, 1, 1 for single voxel) with a voxel-centre RAS+ affine in mm.

    The affine's columns are the voxel edges (direction × size), so a voxel spans index ± 0.5 along each axis.
    """

    affine: np.ndarray
    shape: tuple[int, int, int]

    def __post_init__(self) -> None:
        if self.affine.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, got {self.affine.shape}")
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise ValueError(f"shape must be three positive integers, got {self.shape}")

    @property
    def voxel_size_mm(self) -> tuple[float, float, float]:
        s = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(s[0]), float(s[1]), float(s[2]))

    @property
    def voxel_volume_ml(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0

    def centre_ras_mm(self, index: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
        return (self.affine @ np.array([*index, 1.0]))[:3]

    @classmethod
    def from_lps(
        cls,
        *,
        first_centre_lps: np.ndarray,
        row_dir_lps: np.ndarray,
        col_dir_lps: np.ndarray,
        slice_dir_lps: np.ndarray,
        size_mm: tuple[float, float, float],
        shape: tuple[int, int, int],
    ) -> VoxelGrid:
        """Build from DICOM-style LPS vectors: unit directions of the grid's i, j, k axes and the voxel sizes."""
        dirs = [np.asarray(v, dtype=float) for v in (row_dir_lps, col_dir_lps, slice_dir_lps)]
        for name, v in zip(("row", "column", "slice"), dirs, strict=True):
            n = float(np.linalg.norm(v))
            if not 0.99 < n < 1.01:
                raise ValueError(f"{name} direction must be a unit vector, got norm {n:.4f}")
        if min(size_mm) <= 0:
            raise ValueError(f"voxel sizes must be positive, got {size_mm}")
        lps = np.eye(4)
        for axis, (v, s) in enumerate(zip(dirs, size_mm, strict=True)):
            lps[:3, axis] = v * s
        lps[:3, 3] = np.asarray(first_centre_lps, dtype=float)
        return cls(affine=LPS_TO_RAS @ lps, shape=shape)


@dataclass(frozen=True, eq=False)
class Coverage:
    """Fractions of every spectroscopy voxel (array of the grid's shape) covered by each mask.

    ``inside_image`` is the fraction of the voxel inside the mask grid's field of view; the others
    are fractions of the whole voxel volume (so a voxel half outside the image has at most 0.5).
    """

    inside_image: np.ndarray
    fractions: Mapping[str, np.ndarray]  # "enhancing", "core", "lesion", "flair", "outside_lesion", "brain" ...


def voxel_coverage(
    grid: VoxelGrid,
    masks: Mapping[str, np.ndarray],
    mask_affine: np.ndarray,
    *,
    samples_per_mm: float = 2.0,
    max_points: int = 20_000_000,
) -> Coverage:
    """Fraction of each spectroscopy voxel that every boolean mask covers.

    Parameters
    ----------
    grid
        The spectroscopy voxel grid.
    masks
        Boolean arrays on one image grid, by name (all of the same shape).
    mask_affine
        RAS+ affine of that image grid.
    samples_per_mm
        Lattice density along each voxel edge (2 = a point every 0.5 mm).
    max_points
        Refuse (``ValueError``) a sampling that would exceed this many points.
    """
    if not masks:
        raise ValueError("masks must name at least one boolean array")
    if not np.isfinite(samples_per_mm) or samples_per_mm <= 0:
        raise ValueError(f"samples_per_mm must be positive, got {samples_per_mm}")
    shapes = {m.shape for m in masks.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3:
        raise ValueError(f"masks must be 3D arrays of one shape, got {sorted(shapes)}")
    mask_shape = np.array(next(iter(shapes)))
    n_sub = [max(2, int(np.ceil(s * samples_per_mm))) for s in grid.voxel_size_mm]
    n_vox = int(np.prod(grid.shape))
    n_points = n_vox * int(np.prod(n_sub))
    if n_points > max_points:
        raise ValueError(f"coverage sampling needs {n_points} points (> max_points={max_points}); lower samples_per_mm")
    # Sub-voxel offsets in (-0.5, 0.5), cell-centred so each sample stands for an equal volume.
    offs = [(np.arange(n) + 0.5) / n - 0.5 for n in n_sub]
    sub = np.stack(np.meshgrid(*offs, indexing="ij"), axis=-1).reshape(-1, 3)  # (S, 3)
    centres = np.stack(np.meshgrid(*[np.arange(n) for n in grid.shape], indexing="ij"), axis=-1).reshape(-1, 3)
    idx = centres[:, None, :] + sub[None, :, :]  # (V, S, 3) spectroscopy index space
    to_mask = np.linalg.inv(mask_affine) @ grid.affine
    ijk = idx @ to_mask[:3, :3].T + to_mask[:3, 3]
    vox = np.rint(ijk).astype(np.int64)
    inside = np.all((vox >= 0) & (vox < mask_shape), axis=-1)  # (V, S)
    vox = np.where(inside[..., None], vox, 0)
    flat = np.ravel_multi_index((vox[..., 0], vox[..., 1], vox[..., 2]), tuple(mask_shape))
    fractions = {}
    for name, mask in masks.items():
        hit = mask.reshape(-1)[flat] & inside
        fractions[name] = hit.mean(axis=1).reshape(grid.shape)
    return Coverage(inside_image=inside.mean(axis=1).reshape(grid.shape), fractions=fractions)
