"""The compiled inner loop of the mid-sagittal plane search (:func:`pseudoprog.lesions.segment.mid_sagittal_plane`).

For each candidate plane, the share of the brain's sample points whose mirror image across the plane lands in the
brain mask. The numpy form of the same arithmetic made a (points × candidates × 3) array per chunk of 64 candidates
and took ~0.5–1 CPU-s per search; this loop keeps each point in registers.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def mirrored_overlap(  # pragma: no cover - compiled
    pts: np.ndarray, normals: np.ndarray, offsets: np.ndarray, inv: np.ndarray, flat_mask: np.ndarray, shape: tuple
) -> np.ndarray:
    """Share of ``pts`` (P, 3; mm) whose mirror across each plane ``normals[c] @ x == offsets[c]`` lies in the mask.

    ``inv`` maps mm to voxel indices (the inverse of the mask's affine); a mirror is rounded to the nearest voxel
    (half to even, as ``np.rint``), and one outside the grid is outside the mask. ``flat_mask`` is the mask in C order.
    """
    n_pts = pts.shape[0]
    nx, ny, nz = shape
    out = np.empty(normals.shape[0])
    for c in range(normals.shape[0]):
        a, b, g = normals[c, 0], normals[c, 1], normals[c, 2]
        hits = 0
        for p in range(n_pts):
            x, y, z = pts[p, 0], pts[p, 1], pts[p, 2]
            s = x * a + y * b + z * g - offsets[c]
            mx, my, mz = x - 2.0 * s * a, y - 2.0 * s * b, z - 2.0 * s * g
            i = np.rint(mx * inv[0, 0] + my * inv[0, 1] + mz * inv[0, 2] + inv[0, 3])
            j = np.rint(mx * inv[1, 0] + my * inv[1, 1] + mz * inv[1, 2] + inv[1, 3])
            k = np.rint(mx * inv[2, 0] + my * inv[2, 1] + mz * inv[2, 2] + inv[2, 3])
            if 0 <= i < nx and 0 <= j < ny and 0 <= k < nz:
                hits += flat_mask[(int(i) * ny + int(j)) * nz + int(k)]
        out[c] = hits / n_pts
    return out
