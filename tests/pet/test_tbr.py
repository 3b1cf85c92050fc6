"""TBR arithmetic and the automatic contralateral background."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.pet.tbr import contralateral_background, head_mask, tumour_to_background


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
        contralateral_background(lesion, aff, head_mask(suv), diameter_mm=-1)
    with pytest.raises(ValueError, match="threshold_fraction"):
        head_mask(suv, threshold_fraction=1.5)
