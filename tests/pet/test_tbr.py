"""TBR arithmetic and the automatic contralateral background."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.pet.tbr import contralateral_sphere, head_mask, tumour_to_background


def _scene(shape=(40, 40, 20)):
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = [-(n - 1) for n in shape]  # centred: x from -39 to +39 mm
    suv = np.zeros(shape)
    suv[4:36, 4:36, 2:18] = 1.0  # head, centred on x = 0
    lesion = np.zeros(shape, dtype=bool)
    lesion[26:30, 18:22, 8:12] = True  # right side (x > 0)
    suv[lesion] = 3.0
    suv[27, 19, 9] = 4.5
    return suv, lesion, aff


def test_tbr_max_and_mean_against_known_background() -> None:
    suv, lesion, aff = _scene()
    res = tumour_to_background(suv, lesion, aff)
    assert res.background_mean == pytest.approx(1.0)
    assert res.tbr_max == pytest.approx(4.5)
    assert res.tbr_mean == pytest.approx((63 * 3.0 + 4.5) / 64)
    assert res.method == "contralateral sphere"
    # Mirror of the lesion centroid across the head's midline (x = 0): x changes sign.
    centroid_x = aff[0, 0] * 27.5 + aff[0, 3]
    assert res.background_centre_ras_mm[0] == pytest.approx(-centroid_x)


def test_background_mask_and_threshold_tbr() -> None:
    suv, lesion, aff = _scene()
    bg = np.zeros_like(lesion)
    bg[6:12, 6:12, 6:12] = True
    suv[bg] = 2.0
    res = tumour_to_background(suv, lesion, aff, background=bg, threshold_x_background=1.6)
    assert res.method == "mask" and res.background_mean == pytest.approx(2.0)
    assert res.tbr_max == pytest.approx(2.25)
    assert res.tbr_mean_threshold == pytest.approx(4.5 / 2.0)  # only the 4.5 voxel is ≥ 1.6 × 2


def test_background_excludes_other_lesions() -> None:
    suv, lesion, aff = _scene()
    other = np.zeros_like(lesion)
    other[8:14, 16:24, 6:14] = True  # sits where the mirror sphere falls
    suv[other] = 5.0
    with_excl = tumour_to_background(suv, lesion, aff, exclude=lesion | other)
    assert with_excl.background_mean == pytest.approx(1.0)


def test_refusals() -> None:
    suv, lesion, aff = _scene()
    with pytest.raises(ValueError, match="voxels"):
        tumour_to_background(suv, lesion, aff, background=np.zeros_like(lesion) | (suv > 4))
    with pytest.raises(ValueError, match="empty"):
        tumour_to_background(suv, np.zeros_like(lesion), aff)
    with pytest.raises(ValueError, match="shape"):
        tumour_to_background(suv[:-1], lesion, aff)
    with pytest.raises(ValueError, match="diameter_mm"):
        contralateral_sphere(lesion, aff, head_mask(suv), diameter_mm=-1)
    with pytest.raises(ValueError, match="threshold_fraction"):
        head_mask(suv, threshold_fraction=1.5)


def _turned_head(yaw_deg: float):
    """An ellipsoid head (70 x 90 x 60 mm semi-axes) turned ``yaw_deg`` about the scanner's z axis, with a lesion
    45 mm right of and 40 mm in front of its centre; returns SUV, lesion, affine and the true mirror of the lesion
    centroid across the head's own midline (world mm)."""
    shape = (90, 110, 70)
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = [-(n - 1) for n in shape]
    ii, jj, kk = np.indices(shape)
    world = np.stack([aff[a, a] * (ii, jj, kk)[a] + aff[a, 3] for a in range(3)])
    t = np.radians(yaw_deg)
    rot = np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])  # head → world
    head_xyz = np.tensordot(rot.T, world, axes=1)  # world → head coordinates
    head = (head_xyz[0] / 70) ** 2 + (head_xyz[1] / 90) ** 2 + (head_xyz[2] / 60) ** 2 <= 1
    lesion_head = np.array([45.0, 40.0, 0.0])
    lesion = ((head_xyz - lesion_head[:, None, None, None]) ** 2).sum(axis=0) <= 8.0**2
    suv = np.where(head, 1.0, 0.0)
    suv[lesion] = 3.0
    centroid = (aff @ np.array([*np.argwhere(lesion).mean(axis=0), 1.0]))[:3]
    true_mirror = rot @ (np.diag([-1.0, 1.0, 1.0]) @ (rot.T @ centroid))
    return suv, lesion, aff, true_mirror


@pytest.mark.parametrize("yaw_deg", [0.0, 9.0])
def test_the_background_sphere_is_mirrored_across_a_turned_heads_own_midline(yaw_deg: float) -> None:
    # Mirrored across the scanner's left-right axis, a lesion 60 mm from the midline of a head turned 9° lands
    # ~19 mm from its homologous place (12.5 mm here, where the 25 mm sphere would hold much of the wrong tissue).
    suv, lesion, aff, true_mirror = _turned_head(yaw_deg)
    res = tumour_to_background(suv, lesion, aff)
    off = float(np.linalg.norm(np.asarray(res.background_centre_ras_mm) - true_mirror))
    assert off < 3.0, f"background sphere centre {off:.1f} mm from the true mirror image"
    assert res.background_mirror is not None and "mid-sagittal plane" in res.background_mirror


def test_a_head_mask_without_a_mirror_plane_falls_back_to_the_scanner_axis_and_says_so() -> None:
    suv, lesion, aff = _scene()
    suv[4:20, 20:36, 2:18] = 0.0  # an L-shaped "head": no left-right mirror-symmetry plane to trust
    res = tumour_to_background(suv, lesion, aff)
    assert res.background_mirror is not None and "scanner's left-right axis" in res.background_mirror
    assert "midline plane not found" in res.background_mirror
