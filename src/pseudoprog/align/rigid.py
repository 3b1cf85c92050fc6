"""Rigid registration of one volume to another with Mattes mutual information (SimpleITK).

Used to bring a PET onto the T1c: the two differ in contrast, so the metric is mutual information, and a
rigid body (6 degrees of freedom) is enough within one head. The result is a world (RAS+ mm) transform and
the resampled moving image on the fixed grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from ..case import Volume
from ..errors import CannotAssessError

_FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS <-> LPS (SimpleITK works in LPS)


@dataclass(frozen=True, eq=False)
class RigidResult:
    """``fixed_to_moving`` maps a RAS+ point of the fixed image to the matching point of the moving image."""

    fixed_to_moving: np.ndarray
    metric: float  # final Mattes MI (negative: lower is better)
    iterations: int
    stop: str

    @property
    def translation_mm(self) -> float:
        return float(np.linalg.norm(self.fixed_to_moving[:3, 3]))

    @property
    def rotation_deg(self) -> float:
        r = self.fixed_to_moving[:3, :3]
        return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))


def to_sitk(data: np.ndarray, affine: np.ndarray) -> Any:
    """A float32 SimpleITK image of a 3D array with a RAS+ affine (see :func:`pseudoprog.align.itk.to_sitk`)."""
    from .itk import to_sitk as _to_sitk

    return _to_sitk(np.asarray(data, dtype=np.float32), affine)


def register_rigid(
    moving: Volume,
    fixed: Volume,
    *,
    histogram_bins: int = 64,
    sampling_fraction: float = 0.15,
    iterations: int = 200,
    seed: int = 0,
) -> RigidResult:
    """Register ``moving`` to ``fixed`` (rigid, Mattes MI, multi-resolution, geometry-centred start).

    Parameters
    ----------
    moving, fixed
        3D volumes (4D volumes are refused).
    histogram_bins
        Mattes MI histogram bins.
    sampling_fraction
        Fraction of fixed-image voxels sampled per iteration (random, seeded: reproducible).
    iterations
        Maximum optimiser iterations per resolution level.
    seed
        Sampling seed.
    """
    import SimpleITK as sitk

    if moving.is_dynamic or fixed.is_dynamic:
        raise ValueError("register_rigid takes 3D volumes")
    if not 8 <= histogram_bins <= 256:
        raise ValueError(f"histogram_bins must be in [8, 256], got {histogram_bins}")
    if not 0.0 < sampling_fraction <= 1.0:
        raise ValueError(f"sampling_fraction must be in (0, 1], got {sampling_fraction}")
    if iterations < 1:
        raise ValueError(f"iterations must be positive, got {iterations}")
    f_img = to_sitk(fixed.data, fixed.affine)
    m_img = to_sitk(moving.data, moving.affine)
    init = sitk.CenteredTransformInitializer(
        f_img, m_img, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY
    )
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=histogram_bins)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(sampling_fraction, seed)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-4, numberOfIterations=iterations, relaxationFactor=0.5
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2, 1])
    reg.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    reg.SetInitialTransform(init, inPlace=False)
    try:
        out = reg.Execute(f_img, m_img)
    except RuntimeError as exc:  # e.g. no overlap between the images: say so rather than crash the case
        first_line = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
        raise CannotAssessError(f"rigid registration failed ({first_line})") from exc
    # Compose the result into one 4x4 (LPS): x_moving = A x_fixed + t.
    points = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]) * 100.0
    mapped = np.array([out.TransformPoint(tuple(float(v) for v in p)) for p in points])
    lps = np.eye(4)
    lps[:3, 3] = mapped[0]
    lps[:3, :3] = (mapped[1:] - mapped[0]).T / 100.0
    ras = _FLIP @ lps @ _FLIP
    return RigidResult(
        fixed_to_moving=ras,
        metric=float(reg.GetMetricValue()),
        iterations=int(reg.GetOptimizerIteration()),
        stop=str(reg.GetOptimizerStopConditionDescription()),
    )


def resample_moving(
    moving: Volume,
    fixed_affine: np.ndarray,
    fixed_shape: tuple[int, int, int],
    transform: np.ndarray,
    *,
    order: int = 1,
) -> np.ndarray:
    """The moving image on the fixed grid through a world transform (``fixed_to_moving``), linear by default."""
    if moving.is_dynamic:
        raise ValueError("resample_moving takes a 3D volume")
    m = np.linalg.inv(moving.affine) @ transform @ fixed_affine
    return ndimage.affine_transform(
        moving.data.astype(np.float32),
        m[:3, :3],
        offset=m[:3, 3],
        output_shape=tuple(fixed_shape),
        order=order,
        mode="constant",
        cval=0.0,
    )


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
    data = ndimage.affine_transform(
        smooth, np.diag(factors), offset=(factors - 1.0) / 2.0, output_shape=shape, order=1, mode="nearest"
    )
    return Volume(data=data, affine=volume.affine @ scale, series_uid=volume.series_uid)
