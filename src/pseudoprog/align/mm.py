"""Distances in mm against thresholds in mm, safe from a header's float rounding.

A voxel spacing read from a header is exact only to float32 precision (NIfTI stores its affine in float32, and an
oblique grid's spacings are norms of rotated columns): 5 mm reads 4.9999999 or 5.0000002. On a lattice of whole
slices, distances fall exactly on round thresholds (a voxel three 5 mm slices away is 15 mm away; a 4 mm ball's
axis points on a 2 mm grid are 4 mm from its centre), so that rounding, not the image, decided which side they fell
on: a raw brain mask moved by 5 % of its voxels with its affine scaled by 1 + 2e-7 (benchmarks/RESULTS.md, session
42). Every comparison here counts a distance within :data:`MM_TOLERANCE` of its threshold as equal to it, which
is what the exact header would give.
"""

from __future__ import annotations

import math

import numpy as np

MM_TOLERANCE = 1e-3  # 1 µm: far above a float32 header's error (~1e-5 mm over a head), far below any voxel


def at_most(distance: np.ndarray | float, mm: float) -> np.ndarray:
    """``distance <= mm``, a distance within the tolerance above ``mm`` counted as equal.

    >>> at_most(np.array([14.9999, 15.0000002, 15.01]), 15.0).tolist()
    [True, True, False]
    """
    return np.asarray(distance <= mm + MM_TOLERANCE)


def less_than(distance: np.ndarray | float, mm: float) -> np.ndarray:
    """``distance < mm``, a distance within the tolerance below ``mm`` counted as equal (not below)."""
    return np.asarray(distance < mm - MM_TOLERANCE)


def at_least(distance: np.ndarray | float, mm: float) -> np.ndarray:
    """``distance >= mm``, a distance within the tolerance below ``mm`` counted as equal.

    >>> at_least(np.array([9.9999999, 10.0, 9.99]), 10.0).tolist()
    [True, True, False]
    """
    return np.asarray(distance >= mm - MM_TOLERANCE)


def more_than(distance: np.ndarray | float, mm: float) -> np.ndarray:
    """``distance > mm``, a distance within the tolerance above ``mm`` counted as equal (not beyond)."""
    return np.asarray(distance > mm + MM_TOLERANCE)


def voxels_within(mm: float, spacing: float) -> int:
    """How many whole voxels of ``spacing`` fit in ``mm`` (``ceil(mm / spacing)``, a quotient within the tolerance of
    a whole number taken as that number): 20 mm over 5 mm slices is 4 slices, whether the spacing reads 5 or
    4.9999999.

    >>> voxels_within(20.0, 4.9999999), voxels_within(20.0, 5.0000002), voxels_within(21.0, 5.0)
    (4, 4, 5)
    """
    return max(0, math.ceil((mm - MM_TOLERANCE) / spacing))


def nearest_voxels(mm: float, spacing: np.ndarray | tuple[float, ...] | float) -> np.ndarray:
    """The whole number of voxels of ``spacing`` nearest ``mm`` (``np.rint(mm / spacing)``, halves to even), a quotient
    within 1e-6 of a half or whole number snapped to it first: 3 mm across 1 mm pixels is a radius of 2 whether the
    pixels read 1 or 1.0000002 mm.

    >>> nearest_voxels(1.5, np.array([1.0, 1.0000002, 0.9999998])).tolist()
    [2, 2, 2]
    """
    q = mm / np.asarray(spacing, dtype=float)
    halves = np.round(2.0 * q)
    q = np.where(np.abs(2.0 * q - halves) < 2e-6, halves / 2.0, q)
    return np.asarray(np.rint(q), dtype=int)


def ball(radius_mm: float, spacing: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """A ball of ``radius_mm`` on a grid of ``spacing`` (a structuring element): the offsets at most the radius away,
    at least one voxel along every axis.

    >>> ball(4.0, (2.0, 2.0, 5.0))[:, 2, 1].tolist() == ball(4.0, (2.0000004, 2.0000004, 5.000001))[:, 2, 1].tolist()
    True
    """
    reach = [max(1, round(radius_mm / float(s))) for s in spacing]
    grids = np.ogrid[tuple(slice(-n, n + 1) for n in reach)]
    r2 = np.zeros([2 * n + 1 for n in reach])
    for g, s in zip(grids, spacing, strict=True):
        r2 = r2 + (g * float(s)) ** 2
    return at_most(np.sqrt(r2), radius_mm)
