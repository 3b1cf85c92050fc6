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
