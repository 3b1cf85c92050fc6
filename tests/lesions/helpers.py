"""Small synthetic volumes for the lesions tests (no files)."""

from __future__ import annotations

import numpy as np


def ellipsoid_mask(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    centre_mm: tuple[float, float, float],
    semi_axes_mm: tuple[float, float, float],
    *,
    angle_deg: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A voxelised ellipsoid rotated in-plane by ``angle_deg`` on an axis-aligned grid; returns mask and affine."""
    affine = np.diag([*spacing, 1.0])
    i, j, k = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing, strict=True)], indexing="ij")
    x, y, z = i - centre_mm[0], j - centre_mm[1], k - centre_mm[2]
    th = np.deg2rad(angle_deg)
    xr = x * np.cos(th) + y * np.sin(th)
    yr = -x * np.sin(th) + y * np.cos(th)
    a, b, c = semi_axes_mm
    return (xr / a) ** 2 + (yr / b) ** 2 + (z / c) ** 2 < 1, affine


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two masks (0 when both are empty)."""
    return 2.0 * float(np.count_nonzero(a & b)) / max(1, int(a.sum() + b.sum()))


def smoothed_peak_sd(t1c: np.ndarray, brain: np.ndarray, where: np.ndarray, spacing: tuple[float, ...]) -> float:
    """The peak of ``where`` on automatic detection's smoothed enhancement map (2 mm FWHM), in robust SDs of the
    brain above its median: where a phantom structure stands against the detection bars."""
    from scipy import ndimage

    from pseudoprog.lesions.segment import _robust, enhancement_map

    e = enhancement_map(t1c, brain)
    med, rsd = _robust(e[brain])
    smooth = ndimage.gaussian_filter(e, 2.0 / 2.3548 / np.array(spacing))
    return float((smooth[where].max() - med) / rsd)
