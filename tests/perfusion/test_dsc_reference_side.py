"""The DSC white-matter reference is taken across the brain's own midline, also when the head is turned."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.perfusion.dsc.reference import auto_nawm


def _turned_brain(yaw_deg: float):
    """An ellipsoid brain (65 x 85 x 50 mm semi-axes) on a 2 x 2 x 4 mm grid, turned ``yaw_deg`` about the scanner's
    z axis: a white-matter core (CBV 2) inside a 10 mm cortex (CBV 4), a lesion 35 mm right of and 55 mm in front
    of its centre. Returns CBV, S0, brain, lesion, affine and every voxel's signed distance from the brain's own
    midline (head x, mm)."""
    shape = (80, 100, 30)
    aff = np.diag([2.0, 2.0, 4.0, 1.0])
    aff[:3, 3] = [-(n - 1) * s / 2 for n, s in zip(shape, (2.0, 2.0, 4.0), strict=True)]
    ii, jj, kk = np.indices(shape)
    world = np.stack([aff[a, a] * (ii, jj, kk)[a] + aff[a, 3] for a in range(3)])
    t = np.radians(yaw_deg)
    rot = np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])  # head → world
    x, y, z = np.tensordot(rot.T, world, axes=1)
    r = np.sqrt((x / 65) ** 2 + (y / 85) ** 2 + (z / 50) ** 2)
    brain = r <= 1
    cbv = np.where(r <= 0.85, 2.0, 4.0) * brain
    s0 = 100.0 + np.random.default_rng(1).normal(0.0, 3.0, shape)
    lesion = (x - 35) ** 2 + (y - 55) ** 2 + z**2 <= 10.0**2
    return cbv, s0, brain, lesion, aff, x


@pytest.mark.parametrize("yaw_deg", [0.0, 9.0])
def test_reference_is_in_the_other_hemisphere_of_a_turned_head(yaw_deg: float) -> None:
    cbv, s0, brain, lesion, aff, head_x = _turned_brain(yaw_deg)
    ref = auto_nawm(cbv, s0, brain, aff, lesion=lesion)
    assert ref.method == "auto-contralateral-nawm" and "mid-sagittal plane through its centre" in ref.note
    # The lesion is on the head's right (head x > 0): every reference voxel at least 4 mm (a voxel's half
    # diagonal of slack) on the left of the head's own midline; mirrored about the scanner's axis instead,
    # white matter up to ~12 mm right of a 9°-turned head's midline at the front was taken.
    assert ref.mask.sum() > 0
    assert float(head_x[ref.mask].max()) < -4.0
