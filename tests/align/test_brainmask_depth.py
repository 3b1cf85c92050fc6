"""The head's depth below its surface, padded only where padding changes a distance, equals padding every side."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from pseudoprog.align import brainmask


def _padded_everywhere(head: np.ndarray, sp: np.ndarray, t: dict) -> np.ndarray:
    """The plain construction: fov_continuation_mm on every side, background where the head is not cut."""
    n = np.ceil(float(t["fov_continuation_mm"]) / sp).astype(int)
    padded = np.pad(head, [(k, k) for k in n], mode="edge")
    for axis in range(3):
        areas = head.sum(axis=tuple(a for a in range(3) if a != axis))
        for end, index in ((0, 0), (1, -1)):
            if areas[index] < float(t["cut_fraction"]) * areas.max():
                where = [slice(None)] * 3
                where[axis] = slice(0, n[axis]) if end == 0 else slice(padded.shape[axis] - n[axis], None)
                padded[tuple(where)] = False
    depth = ndimage.distance_transform_edt(padded, sampling=sp)
    return depth[tuple(slice(k, -k if k else None) for k in n)]


def _heads() -> list[np.ndarray]:
    z, y, x = np.mgrid[0:40, 0:70, 0:60]
    neck_cut = (x - 30) ** 2 / 27**2 + (y - 35) ** 2 / 30**2 + (z - 8) ** 2 / 30**2 < 1  # cut at z = 0
    touching = (x - 52) ** 2 / 20**2 + (y - 35) ** 2 / 20**2 + (z - 20) ** 2 / 15**2 < 1  # grazes x's far border
    slab = np.broadcast_to((x - 30) ** 2 / 27**2 + (y - 35) ** 2 / 30**2 < 1, z.shape)  # cut at both z ends
    inside = (x - 30) ** 2 / 20**2 + (y - 35) ** 2 / 20**2 + (z - 20) ** 2 / 15**2 < 1  # touches no border
    rng = np.random.default_rng(3)
    blobs = [ndimage.gaussian_filter(rng.random((45, 50, 30)), 3) > 0.5 for _ in range(2)]
    return [np.ascontiguousarray(m.transpose(2, 1, 0)) for m in (neck_cut, touching, slab, inside)] + blobs


@pytest.mark.parametrize("spacing", [(2.0, 2.0, 2.0), (1.875, 1.875, 5.0), (0.9375, 0.9375, 1.2)])
def test_depth_equals_padding_every_side(spacing):
    t = brainmask._table()["raw"]
    sp = np.array(spacing)
    for head in _heads():
        expected = _padded_everywhere(head, sp, t)
        got = brainmask._depth_below_surface(head, sp, t)
        assert got.shape == head.shape
        np.testing.assert_array_equal(got, expected)
