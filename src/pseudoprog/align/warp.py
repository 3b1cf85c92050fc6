"""The one warp: an image carried onto another grid, through a spatial transform or through the world space alone.

Every resampling in pseudoprog goes through :func:`warp` (``scipy.ndimage.affine_transform`` is called here
only). A transform is a 4x4 RAS (mm) matrix mapping a point of the target ("onto") space to the same anatomical
point in the moving image's space — the ``fixed_to_moving`` of a :class:`~pseudoprog.align.registration.Registration`.
``None`` means the two grids already share a world space (series of one session), so the affines alone suffice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from ..case import Volume

if TYPE_CHECKING:
    from .registration import Registration

INTERPOLATION_ORDER = {"nearest": 0, "linear": 1, "cubic": 3}


@dataclass(frozen=True, eq=False)
class Grid:
    """A voxel grid: its RAS affine and its 3D shape."""

    affine: np.ndarray
    shape: tuple[int, int, int]

    @classmethod
    def of(cls, volume: Volume) -> Grid:
        return cls(volume.affine, volume.spatial_shape)


def _matrix(transform: Registration | np.ndarray | None) -> np.ndarray:
    if transform is None:
        return np.eye(4)
    if isinstance(transform, np.ndarray):
        if transform.shape != (4, 4):
            raise ValueError(f"a transform must be a 4x4 matrix, got shape {transform.shape}")
        return transform
    return transform.fixed_to_moving


def _grid(onto: Grid | Volume) -> Grid:
    return Grid.of(onto) if isinstance(onto, Volume) else onto


def _resample(
    data: np.ndarray, voxel_map: np.ndarray, shape: tuple[int, ...], *, order: int, fill: float, mode: str = "constant"
) -> np.ndarray:
    """``data`` sampled at ``voxel_map @ (i, j, k, 1)`` of every output voxel (the one call to affine_transform)."""
    return ndimage.affine_transform(
        data, voxel_map[:3, :3], offset=voxel_map[:3, 3], output_shape=tuple(shape), order=order, mode=mode, cval=fill
    )


def warp(
    moving: Volume,
    transform: Registration | np.ndarray | None,
    onto: Grid | Volume,
    *,
    interpolation: str = "linear",
    fill: float = 0.0,
) -> Volume:
    """The 3D ``moving`` image resampled onto the grid ``onto``.

    Parameters
    ----------
    moving
        A 3D volume (any dtype; linear and cubic interpolation work in float32).
    transform
        Target-space point → moving-space point (a Registration's ``fixed_to_moving``, or a 4x4 RAS matrix);
        ``None`` when both grids share the world space.
    onto
        The target grid (a :class:`Grid` or a Volume whose grid is used).
    interpolation
        ``"nearest"`` (labels), ``"linear"`` (images, masks as fractions) or ``"cubic"``.
    fill
        Value outside the moving image.

    Examples
    --------
    >>> v = Volume(np.arange(27, dtype=np.float32).reshape(3, 3, 3), np.eye(4))
    >>> shift = np.eye(4); shift[0, 3] = 1.0  # the target's voxel i sees the moving voxel i + 1
    >>> float(warp(v, shift, v).data[0, 0, 0])
    9.0
    """
    if interpolation not in INTERPOLATION_ORDER:
        raise ValueError(f"interpolation must be one of {tuple(INTERPOLATION_ORDER)}, got {interpolation!r}")
    if moving.is_dynamic:
        raise ValueError("warp takes a 3D volume; warp the frames of a dynamic series one by one")
    grid = _grid(onto)
    order = INTERPOLATION_ORDER[interpolation]
    data = moving.data if order == 0 else np.asarray(moving.data, dtype=np.float32)
    voxel_map = np.linalg.inv(moving.affine) @ _matrix(transform) @ grid.affine
    if (
        order <= 1
        and grid.shape == moving.spatial_shape
        and np.array_equal(voxel_map, np.eye(4))
        and (order == 0 or bool(np.isfinite(data).all()))
    ):
        # Every target voxel centre is exactly a moving voxel centre (a series onto its own grid, the identity):
        # nearest and linear interpolation there return the voxel's value as it is (weights exactly 1 and 0; a
        # non-finite neighbour would spread through its weight 0, so the copy is taken only for finite data).
        out = np.array(data, order="C", copy=True)
    else:
        out = _resample(data, voxel_map, grid.shape, order=order, fill=fill)
    return Volume(data=out, affine=grid.affine.copy(), series_uid=moving.series_uid)


def warp_mask(
    mask: np.ndarray, mask_affine: np.ndarray, transform: Registration | np.ndarray | None, onto: Grid | Volume
) -> np.ndarray:
    """A boolean mask carried by :func:`warp`: a target voxel is in it if at least half of it was.

    Trilinear interpolation of the 0/1 mask, then a 0.5 threshold, keeps the volume unbiased when the target
    voxels are larger (DSC, ADC, PET) than the mask's (T1c).
    """
    return warp(Volume(mask.astype(np.float32), mask_affine), transform, onto, interpolation="linear").data >= 0.5


def coarsen(volume: Volume, spacing_mm: float) -> Volume:
    """The volume on a grid of the same orientation with voxels of about ``spacing_mm`` (smoothed first).

    Registration to a PET gains nothing from T1c detail finer than the PET voxel and costs time in
    proportion to the voxel count.
    """
    if volume.is_dynamic:
        raise ValueError("coarsen takes a 3D volume")
    if not np.isfinite(spacing_mm) or spacing_mm <= 0:
        raise ValueError(f"spacing_mm must be positive, got {spacing_mm}")
    factors = np.maximum(1.0, spacing_mm / np.array(volume.spacing_mm))
    if np.all(factors < 1.25):
        return volume
    # Gaussian pre-filter: FWHM of sqrt(f² - 1) old voxels takes the resolution to f voxels.
    sigma = np.sqrt(np.maximum(factors**2 - 1.0, 0.0)) / 2.355
    smooth = ndimage.gaussian_filter(volume.data.astype(np.float32), sigma=sigma)
    shape = tuple(int(np.ceil(n / f)) for n, f in zip(volume.spatial_shape, factors, strict=True))
    scale = np.diag([*factors, 1.0])
    scale[:3, 3] = (factors - 1.0) / 2.0  # new voxel 0 centred over the old voxels it replaces
    # Edge voxels of the coarse grid may reach past the last old centre: extend the edge, not zeros.
    data = _resample(smooth, scale, shape, order=1, fill=0.0, mode="nearest")
    return Volume(data=data, affine=volume.affine @ scale, series_uid=volume.series_uid)
