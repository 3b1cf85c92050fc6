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


# Raw TCGA-FG-6692 (tcga-lgg-brats-toolkit, unstripped, 0.9 x 0.9 x 5.5 mm): its T2 and FLAIR headers cover z -98..33
# mm, its T1c -47..90 mm, and at the header geometry they show other levels of the head than the T1c (about 20 mm:
# benchmarks/RESULTS.md, "Product path parity (l24-parity)"). The product registers them as one session's NIfTI
# (same_frame_of_reference, no UID on either side).
@pytest.fixture(scope="module")
def tcga_raw() -> tuple[Volume, np.ndarray, dict[str, Volume]]:
    from pseudoprog.align.brainmask import brain_mask

    root = shared_data("tcga-lgg-brats-toolkit", "TCGA-FG-6692_raw")

    def load(suffix: str) -> Volume:
        (path,) = root.glob(f"*_{suffix}.nii.gz")
        img = nib.load(str(path))
        return Volume(np.asarray(img.dataobj, dtype=np.float32), img.affine)

    t1c = load("t1c")
    brain, _ = brain_mask(t1c)
    return t1c, brain, {"T2": load("t2"), "FLAIR": load("fla")}


def _shift_at_brain_centre(reg, t1c: Volume, brain: np.ndarray) -> np.ndarray:
    centre = t1c.affine @ np.array([*np.argwhere(brain).mean(axis=0), 1.0])
    return (reg.fixed_to_moving @ centre - centre)[:3]


def test_raw_tcga_t2_off_by_about_20_mm_at_its_header_is_registered(tcga_raw):
    t1c, brain, series = tcga_raw
    reg = register(t1c, series["T2"], fixed_mask=brain, same_frame_of_reference=True, labels=("T1c", "T2"))
    assert reg.accepted and reg.kind == "rigid"
    assert abs(_shift_at_brain_centre(reg, t1c, brain)[2]) >= 15.0  # measured: 19 mm, checked on rendered slices


@pytest.mark.xfail(
    strict=True,
    reason="the FLAIR's optimisation reaches the T2's pose (t about (7, -1, -19) mm) but its Mattes MI there (-0.0450) "
    "does not beat the header's (-0.0452), so the header geometry, about 20 mm off, is kept: on these unstripped 5.5 "
    "mm images the metric barely separates poses (0.03-0.07 nats; winsorizing both images at 0.5-99.5 % made it accept "
    "(6.7, -1.6, -19.0) but moved the T2's answer by 5 mm and was not validated elsewhere)",
)
def test_raw_tcga_flair_off_by_about_20_mm_at_its_header_is_registered_like_its_t2(tcga_raw):
    t1c, brain, series = tcga_raw
    t2 = register(t1c, series["T2"], fixed_mask=brain, same_frame_of_reference=True, labels=("T1c", "T2"))
    flair = register(t1c, series["FLAIR"], fixed_mask=brain, same_frame_of_reference=True, labels=("T1c", "FLAIR"))
    assert flair.accepted
    moved, like_t2 = _shift_at_brain_centre(flair, t1c, brain), _shift_at_brain_centre(t2, t1c, brain)
    assert np.linalg.norm(moved - like_t2) <= 5.0
