"""RANO bidimensional measurement and measurability (lesions/measure.py)."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.lesions.measure import bidimensional, measurability, measure_lesion, slice_diameters

from .helpers import ellipsoid_mask


@pytest.mark.parametrize("angle", [0.0, 27.0, 61.0])
def test_oblique_ellipsoid_on_anisotropic_voxels_within_one_voxel(angle):
    spacing = (0.9, 1.2, 2.0)
    mask, affine = ellipsoid_mask((120, 100, 40), spacing, (54.0, 60.0, 40.0), (20.0, 12.0, 14.0), angle_deg=angle)
    m, bd = measure_lesion(mask, affine)
    assert bd is not None
    assert abs(m.long_mm - 40.0) <= max(spacing[:2])
    assert abs(m.perp_mm - 24.0) <= max(spacing[:2])
    # The slice with the largest product is the one through the centre (k = 20).
    assert abs(bd.best.slice_index - 20) <= 1
    assert m.enhancing_volume_mm3 == pytest.approx(mask.sum() * 0.9 * 1.2 * 2.0)
    assert m.measurable


def test_diameters_scale_with_the_real_spacing_not_the_voxel_count():
    sq = np.zeros((30, 30), dtype=bool)
    sq[5:15, 5:25] = True  # 10 x 20 pixels
    d1 = slice_diameters(sq, 1.0, 1.0)
    d2 = slice_diameters(sq, 0.5, 2.0)  # 5 mm x 40 mm
    assert d1.long_mm == pytest.approx(np.hypot(10, 20), abs=0.01)
    assert d2.long_mm == pytest.approx(np.hypot(5, 40), abs=0.01)
    assert d2.perp_mm < 6.0


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.6, 1.4)])
def test_the_drawn_perpendicular_is_the_measured_chord(spacing):
    # An ellipse tilted by 30 degrees (semi-axes 18 and 8 mm): the chord the report draws beside the longest
    # diameter has the measured length, crosses it at a right angle and lies inside the lesion.
    sx, sy = spacing
    ii, jj = np.meshgrid(np.arange(80) * sx, np.arange(80) * sy, indexing="ij")
    x, y = ii - 24.0, jj - 28.0
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    mask = ((x * c + y * s) / 18.0) ** 2 + ((-x * s + y * c) / 8.0) ** 2 <= 1
    d = slice_diameters(mask, sx, sy)
    (a1, b1), (a2, b2) = (np.array(p) * spacing for p in d.long_ends_ij)
    (p1, q1), (p2, q2) = (np.array(p) * spacing for p in d.perp_ends_ij)
    long_vec, perp_vec = np.subtract((a2, b2), (a1, b1)), np.subtract((p2, q2), (p1, q1))
    assert np.linalg.norm(perp_vec) == pytest.approx(d.perp_mm, abs=1e-9)
    assert abs(long_vec @ perp_vec) / (np.linalg.norm(long_vec) * np.linalg.norm(perp_vec)) < 1e-9
    assert d.perp_mm == pytest.approx(16.0, abs=max(spacing))
    for f in np.linspace(0.05, 0.95, 10):  # inside the lesion along its length (pixel centres are at index × size)
        pi, pj = (np.array([p1, q1]) + f * perp_vec) / spacing
        assert mask[int(np.rint(pi)), int(np.rint(pj))]


def test_perpendicular_chord_must_lie_inside_the_lesion():
    # A "C" shape: the perpendicular chord across the gap is not inside the lesion.
    c = np.zeros((40, 40), dtype=bool)
    c[5:35, 5:10] = True
    c[5:10, 5:35] = True
    c[30:35, 5:35] = True
    d = slice_diameters(c, 1.0, 1.0)
    full_width_hull = 30.0
    assert d.perp_mm < full_width_hull - 5


def test_small_lesion_is_not_measurable_with_reason():
    mask, affine = ellipsoid_mask((60, 60, 30), (1.0, 1.0, 1.0), (30.0, 30.0, 15.0), (4.5, 4.0, 4.0))
    m, _ = measure_lesion(mask, affine)
    assert m.measurable is False
    assert "below the 10 × 10 mm minimum" in m.measurability_reason


def test_thick_slices_double_the_minimum_size():
    ok, reason = measurability(14.0, 11.0, 3, 6.0)
    assert not ok and "2 × slice spacing" in reason
    ok, _ = measurability(14.0, 11.0, 3, 5.0)
    assert ok


def test_lesion_on_one_slice_is_not_measurable():
    ok, reason = measurability(30.0, 20.0, 1, 1.0)
    assert not ok and "fewer than 2" in reason


def test_rano_bm_needs_longest_10_and_perpendicular_5():
    assert measurability(12.0, 6.0, 3, 1.0, criteria="rano_bm")[0]
    assert not measurability(12.0, 6.0, 3, 1.0, criteria="rano")[0]
    assert not measurability(12.0, 4.0, 3, 1.0, criteria="rano_bm")[0]
    with pytest.raises(ValueError, match="criteria"):
        measurability(12.0, 6.0, 3, 1.0, criteria="recist")


def test_rim_lesion_is_measured_on_its_outer_margin():
    outer, affine = ellipsoid_mask((80, 80, 30), (1.0, 1.0, 2.0), (40.0, 40.0, 30.0), (15.0, 12.0, 10.0))
    inner, _ = ellipsoid_mask((80, 80, 30), (1.0, 1.0, 2.0), (40.0, 40.0, 30.0), (11.0, 8.0, 7.0))
    rim = outer & ~inner
    m, _ = measure_lesion(rim, affine, core=inner)
    assert abs(m.long_mm - 30.0) <= 1.0 and abs(m.perp_mm - 24.0) <= 1.0
    assert m.core_volume_mm3 == pytest.approx(inner.sum() * 2.0)


def test_empty_and_bad_masks_are_clear_errors():
    with pytest.raises(ValueError, match="empty"):
        bidimensional(np.zeros((5, 5, 5), dtype=bool), np.eye(4))
    m, bd = measure_lesion(np.zeros((5, 5, 5), dtype=bool), np.eye(4))
    assert bd is None and m.measurable is False and "no enhancing voxel" in m.measurability_reason
    sheared = np.eye(4)
    sheared[0, 1] = 0.5
    mask = np.zeros((5, 5, 5), dtype=bool)
    mask[1:4, 1:4, 1:4] = True
    with pytest.raises(ValueError, match="sheared"):
        bidimensional(mask, sheared)
    with pytest.raises(ValueError, match="core mask shape"):
        measure_lesion(mask, np.eye(4), core=np.zeros((4, 4, 4), dtype=bool))


def test_sagittal_grid_is_resliced_to_axial():
    mask, _ = ellipsoid_mask((60, 60, 60), (1.0, 1.0, 1.0), (30.0, 30.0, 30.0), (15.0, 10.0, 8.0))
    # The same object stored on a grid whose third axis is left-right (a sagittal acquisition).
    perm = np.transpose(mask, (1, 2, 0))  # (j, k, i) → array axes: y, z, x
    affine = np.zeros((4, 4))
    affine[1, 0] = affine[2, 1] = affine[0, 2] = 1.0
    affine[3, 3] = 1.0
    m, _ = measure_lesion(perm, affine)
    assert abs(m.long_mm - 30.0) <= 1.5 and abs(m.perp_mm - 20.0) <= 1.5


def test_the_line_never_crosses_the_gap_between_two_pieces():
    # Two separate 12 x 10 pixel blobs 20 pixels apart on one slice: the measurement is of one of them.
    mask = np.zeros((60, 30, 3), dtype=bool)
    mask[5:17, 10:20, :] = True
    mask[37:49, 10:20, :] = True
    bd = bidimensional(mask, np.eye(4))
    assert bd.best.long_mm < 17.0  # one blob's diagonal (15.6 mm), not the 44 mm across both
