"""Conversion between :class:`~pseudoprog.case.Volume` (RAS+ affine, array ``(i, j, k)``) and SimpleITK images.

ITK keeps physical space in LPS and indexes arrays ``(k, j, i)``; NIfTI/pseudoprog keep RAS and
``(i, j, k)``. Everything that crosses into SimpleITK goes through these two functions and
everything that comes back as a transform through :func:`sitk_transform_to_ras`, so the sign flip
is done in one place.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..case import Volume

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

# ITK filters run single-threaded in this process: several of them (the registration metric, N4's B-spline fit)
# add partial sums per thread, so their last digits would depend on the machine's core count, and the same case
# would give other numbers on a cohort worker, a laptop and a server. The cores are used one level up instead
# (timepoints side by side in the lesions and maps stages, one case per cohort worker).
sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def to_sitk(data: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """A SimpleITK image of a 3D array with its RAS affine (any rotation; shear is refused)."""
    if data.ndim != 3:
        raise ValueError(f"to_sitk takes a 3D array, got shape {data.shape}")
    lps = LPS_FROM_RAS @ affine
    spacing = np.sqrt((lps[:3, :3] ** 2).sum(axis=0))
    if np.any(spacing <= 0):
        raise ValueError("affine has a zero-length axis")
    direction = lps[:3, :3] / spacing
    if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
        raise ValueError("affine has shear; SimpleITK needs an orthogonal direction matrix")
    img = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(data, (2, 1, 0))))
    img.SetSpacing([float(s) for s in spacing])
    img.SetOrigin([float(v) for v in lps[:3, 3]])
    img.SetDirection([float(v) for v in direction.ravel()])
    return img


def volume_to_sitk(volume: Volume, *, dtype: type = np.float32) -> sitk.Image:
    if volume.is_dynamic:
        raise ValueError("registration and bias correction take a 3D volume, not a dynamic series")
    return to_sitk(np.asarray(volume.data, dtype=dtype), volume.affine)


def from_sitk(img: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """The ``(i, j, k)`` array and RAS affine of a SimpleITK image."""
    data = np.transpose(sitk.GetArrayFromImage(img), (2, 1, 0))
    direction = np.array(img.GetDirection()).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = direction * np.array(img.GetSpacing())
    lps[:3, 3] = img.GetOrigin()
    return data, LPS_FROM_RAS @ lps


def sitk_transform_to_ras(transform: sitk.Transform) -> np.ndarray:
    """The 4x4 RAS matrix of an affine-family SimpleITK transform (fixed point → moving point)."""
    matrix_lps = _affine_matrix(transform)
    return LPS_FROM_RAS @ matrix_lps @ LPS_FROM_RAS


def _affine_matrix(transform: sitk.Transform) -> np.ndarray:
    # Compose by pushing the origin and the unit vectors through the transform (works for any
    # affine-family transform, including composites of several).
    origin = np.array(transform.TransformPoint((0.0, 0.0, 0.0)))
    m = np.eye(4)
    for axis in range(3):
        e = [0.0, 0.0, 0.0]
        e[axis] = 1.0
        m[:3, axis] = np.array(transform.TransformPoint(tuple(e))) - origin
    m[:3, 3] = origin
    return m
