"""Rigid mutual-information registration recovers a known rigid transform between two contrasts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pseudoprog.align.rigid import register_rigid, resample_moving
from pseudoprog.case import Volume
from pseudoprog.phantoms.pet import make_pet_phantom

from .conftest import synthetic_t1c


def test_recovers_rotation_and_shift() -> None:
    t1c, _ = synthetic_t1c(spacing=4.0, shape=(48, 54, 36))
    pet = make_pet_phantom(shape=(48, 54, 36), voxel_mm=4.0)
    truth = np.eye(4)
    truth[:3, :3] = Rotation.from_euler("xyz", [3.0, -2.0, 4.0], degrees=True).as_matrix()
    truth[:3, 3] = [5.0, -4.0, 3.0]
    moved = Volume(pet.suv.astype(np.float32), truth @ pet.affine)
    result = register_rigid(moved, t1c)
    # Target registration error at the lesion (what TBR depends on) under half a 4 mm voxel; the head
    # phantom is nearly ellipsoidal, so rotation is only loosely constrained: within 2°.
    lesion_centre = np.array([35.0, 10.0, 6.0, 1.0])
    tre = np.linalg.norm((result.fixed_to_moving - truth) @ lesion_centre)
    assert tre < 2.0
    residual = result.fixed_to_moving[:3, :3] @ truth[:3, :3].T
    assert np.degrees(np.arccos(np.clip((np.trace(residual) - 1) / 2, -1, 1))) < 2.0
    back = resample_moving(moved, t1c.affine, t1c.spatial_shape, result.fixed_to_moving)
    inside = pet.brain & ~np.isclose(pet.suv, 0.3)
    assert np.median(np.abs(back[inside] - pet.suv[inside])) < 0.05


def test_invalid_options() -> None:
    vol = Volume(np.zeros((8, 8, 8), np.float32), np.eye(4))
    with pytest.raises(ValueError, match="histogram_bins"):
        register_rigid(vol, vol, histogram_bins=2)
    with pytest.raises(ValueError, match="sampling_fraction"):
        register_rigid(vol, vol, sampling_fraction=0)
    with pytest.raises(ValueError, match="3D"):
        register_rigid(Volume(np.zeros((4, 4, 4, 2), np.float32), np.eye(4)), vol)


def test_coarsen_keeps_world_position_and_mean() -> None:
    from pseudoprog.align.rigid import coarsen

    t1c, _ = synthetic_t1c(spacing=1.5, shape=(40, 40, 40))
    small = coarsen(t1c, 3.0)
    assert small.spacing_mm == pytest.approx((3.0, 3.0, 3.0))
    assert small.spatial_shape == (20, 20, 20)
    # The grid covers the same world box: first voxel centre half an old voxel inside the old first centre.
    assert small.affine[:3, 3] == pytest.approx(t1c.affine[:3, 3] + 0.75)
    assert float(small.data.mean()) == pytest.approx(float(t1c.data.mean()), rel=0.03)
    assert coarsen(t1c, 1.6) is t1c  # not worth it
    with pytest.raises(ValueError, match="spacing_mm"):
        coarsen(t1c, 0.0)


def test_failure_is_a_reason_not_a_crash() -> None:
    from pseudoprog.errors import CannotAssessError

    blank = Volume(np.zeros((16, 16, 16), np.float32), np.eye(4))
    with pytest.raises(CannotAssessError, match="registration failed"):
        register_rigid(blank, blank)
