"""Registration that does no harm, on real images (BRATS 2015 via DeepMedic: T1c and FLAIR of one session,
co-registered and on one 1 mm grid, z-scored, skull-stripped).

- The two series share the frame of reference and the grid: they are not moved, the metric is recorded, and the
  warped FLAIR is the FLAIR voxel for voxel (so a subtraction or ratio with the T1c is unchanged).
- The same FLAIR with the head moved 3 mm (data shifted, header unchanged) is registered: the metric improves
  and the shift is recovered within 1.5 mm (measured: 1.1 mm, mostly 1 mm along the third axis; the
  "structural" preset stops at half resolution, 2 mm working voxels, so this is below one working voxel).
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from pseudoprog.align import register, warp
from pseudoprog.case import Volume

from ..conftest import shared_data

pytestmark = pytest.mark.validation


@pytest.fixture(scope="module")
def pair() -> tuple[Volume, Volume, np.ndarray]:
    root = shared_data("real-glioma-labelled", "brats_2013_pat0001_1")

    def load(name: str) -> Volume:
        img = nib.load(str(root / name))
        return Volume(np.asarray(img.dataobj, dtype=np.float32), img.affine)

    brain = np.asarray(nib.load(str(root / "brainmask.nii.gz")).dataobj) > 0
    return load("T1c_subtrMeanDivStd.nii.gz"), load("Flair_subtrMeanDivStd.nii.gz"), brain


def test_aligned_series_of_one_session_are_not_moved(pair):
    t1c, flair, brain = pair
    reg = register(t1c, flair, fixed_mask=brain, same_frame_of_reference=True, labels=("T1c", "FLAIR"))
    assert reg.kind == "identity" and not reg.optimised and not reg.accepted
    assert np.isfinite(reg.metric_before) and reg.metric_after == reg.metric_before
    assert reg.to_dict()["metric_before"] is not None and "not registered" in reg.reason
    assert np.array_equal(warp(flair, reg, t1c).data, flair.data)  # voxel for voxel: T1c - FLAIR unchanged


def test_a_moved_series_of_one_session_is_registered_and_the_metric_improves(pair):
    t1c, flair, brain = pair
    moved = Volume(np.roll(flair.data, 3, axis=1), flair.affine)  # 3 voxels = 3 mm along the second axis
    reg = register(t1c, moved, fixed_mask=brain, same_frame_of_reference=True, labels=("T1c", "FLAIR"))
    assert reg.accepted and reg.optimised and reg.kind == "rigid"
    assert reg.metric_after < reg.metric_before
    expected = flair.affine[:3, :3] @ np.array([0.0, 3.0, 0.0])  # fixed voxel j is moving voxel j + 3
    assert np.linalg.norm(reg.translation_mm - expected) < 1.5
    assert reg.rotation_deg < 1.0
