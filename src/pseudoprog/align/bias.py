"""N4 bias-field correction (Tustison et al., IEEE TMI 2010;29:1310-20) with SimpleITK.

The field is estimated on a shrunken copy (fast) and evaluated at full resolution, so the
corrected image keeps its native grid. The multiplicative field is returned too: dividing by it
is the whole correction, so it can be undone or applied to a co-registered series.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..case import Volume
from .itk import from_sitk, to_sitk, volume_to_sitk


def n4_bias_correct(
    volume: Volume,
    *,
    mask: np.ndarray | None = None,
    shrink: int = 4,
    iterations: tuple[int, ...] = (50, 40, 30),
) -> tuple[Volume, np.ndarray]:
    """Correct the slow intensity inhomogeneity of a structural image.

    Parameters
    ----------
    volume
        A 3D magnitude image (non-negative).
    mask
        Where to estimate the field (default: Otsu foreground, as N4 itself does).
    shrink
        Down-sampling factor for the estimate (1 = full resolution).
    iterations
        Maximum iterations per fitting level (one level per entry).

    Returns
    -------
    corrected, field
        The corrected volume on the same grid and the multiplicative field (``corrected = data / field``).
    """
    if volume.is_dynamic:
        raise ValueError("n4_bias_correct takes a 3D volume")
    if shrink < 1:
        raise ValueError("shrink must be ≥ 1")
    if not iterations or any(i < 1 for i in iterations):
        raise ValueError("iterations must be positive integers, one per level")
    data = np.asarray(volume.data, dtype=np.float32)
    if not np.isfinite(data).all():
        raise ValueError("image contains NaN or infinite values")
    if float(data.min()) < 0:
        data = data - float(data.min())
    img = to_sitk(data + 1e-3, volume.affine)  # N4 works on log intensities: keep them positive
    if mask is None:
        mask_img = sitk.OtsuThreshold(img, 0, 1, 200)
    else:
        if mask.shape != volume.spatial_shape:
            raise ValueError(f"mask shape {mask.shape} does not match the image {volume.spatial_shape}")
        if not mask.any():
            raise ValueError("mask is empty")
        mask_img = to_sitk(mask.astype(np.uint8), volume.affine)
    small = sitk.Shrink(img, [shrink] * 3) if shrink > 1 else img
    small_mask = sitk.Shrink(mask_img, [shrink] * 3) if shrink > 1 else mask_img
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetMaximumNumberOfIterations(list(iterations))
    n4.Execute(small, small_mask)
    log_field = n4.GetLogBiasFieldAsImage(img)
    field, _ = from_sitk(sitk.Exp(log_field))
    field = field.astype(np.float32)
    corrected = np.asarray(volume.data, dtype=np.float32) / field
    return Volume(data=corrected, affine=volume.affine, series_uid=volume.series_uid), field


__all__ = ["n4_bias_correct", "volume_to_sitk"]
