"""Shape measures on thick-slice grids: each voxel is the box it samples (issue 13, lesions on real scans).

From the voxel centres alone, a structure on one axial slice has zero thickness and any structure on two 5 mm slices
is judged 5 mm thick where the slices cover 10 mm: TCIA Brain-Tumor-Progression pieces of tumour were called
"sheet-like" whatever their width. The voxels' boxes give the continuous region's second moments.
"""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.lesions.rules import value
from pseudoprog.lesions.segment import shape_of


def _slab(radius_mm: float, slices: int, spacing: tuple[float, float, float]) -> np.ndarray:
    """A disk of ``radius_mm`` in-plane on ``slices`` axial slices, in a grid of ``spacing``."""
    n = int(np.ceil(radius_mm / spacing[0])) + 3
    i, j = np.mgrid[-n : n + 1, -n : n + 1]
    disk = (i * spacing[0]) ** 2 + (j * spacing[1]) ** 2 <= radius_mm**2
    m = np.zeros((2 * n + 1, 2 * n + 1, slices + 4), dtype=bool)
    m[:, :, 2 : 2 + slices] = disk[:, :, None]
    return m


@pytest.mark.parametrize("slices", [1, 2, 3])
def test_the_flatness_of_a_thick_slice_slab_is_that_of_the_slab_it_covers(slices):
    # A disk of radius R has in-plane variance R²/4; a slab of thickness T has variance T²/12 across it.
    spacing = (1.0, 1.0, 5.0)
    radius = 21.5
    shp = shape_of(_slab(radius, slices, spacing), np.array(spacing))
    exact = np.sqrt((radius**2 / 4) / ((slices * 5.0) ** 2 / 12))
    assert shp.flatness == pytest.approx(exact, rel=0.05)


def test_a_slab_on_two_thick_slices_43_mm_wide_is_not_a_sheet():
    # 43 mm wide and 10 mm thick: flatness 3.7; from the voxel centres (5 mm apart) it was 4.3, "sheet-like".
    spacing = np.array([1.0, 1.0, 5.0])
    shp = shape_of(_slab(21.5, 2, tuple(spacing)), spacing)
    assert shp.flatness < value("segmentation", "max_flatness")
    assert shp.problem(brain_slices=30) is None


def test_a_compact_blob_on_one_thick_slice_is_not_called_a_sheet():
    # A 15 mm blob one 5 mm slice thick: from the voxel centres its flatness was in the hundreds.
    spacing = np.array([1.0, 1.0, 5.0])
    shp = shape_of(_slab(7.5, 1, tuple(spacing)), spacing)
    assert shp.flatness < value("segmentation", "max_flatness")
    why = shp.problem(brain_slices=30)
    # Still no candidate: no lesion is measurable on one axial slice (RANO, Wen 2010), which is what it says.
    assert why is not None and "sheet" not in why and "axial slice" in why


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.0, 1.0, 5.0), (0.5, 0.5, 5.0)])
def test_a_sheet_one_voxel_thick_in_plane_is_still_a_sheet(spacing):
    # Dura or falx on the grid: one voxel thick across x, 30 mm in y and in z.
    sp = np.array(spacing)
    ny, nz = int(30 / sp[1]), max(int(30 / sp[2]), 2)
    m = np.zeros((5, ny + 4, nz + 4), dtype=bool)
    m[2, 2 : 2 + ny, 2 : 2 + nz] = True
    why = shape_of(m, sp).problem(brain_slices=int(150 / sp[2]))
    assert why is not None and why.startswith("sheet-like")


def test_a_thin_curved_sheet_on_a_1_mm_grid_is_still_rejected():
    # A cap of a spherical shell 1 voxel thick (radius 25 mm, 60 degrees from its axis), facing sideways: dura over
    # the convexity. (Facing up, every axial slice of it is a closed ring, which holes filling makes a solid dome.)
    r = 25.0
    g = np.mgrid[-30:31, -30:31, -30:31].astype(float)
    d = np.sqrt((g**2).sum(axis=0))
    m = (np.abs(d - r) <= 0.5) & (g[0] >= r * np.cos(np.radians(60)))
    why = shape_of(m, np.array([1.0, 1.0, 1.0])).problem(brain_slices=120)
    assert why is not None and (why.startswith("sheet-like") or why.startswith("not compact"))


def test_an_axial_sheet_one_voxel_thick_on_a_1_mm_grid_is_still_a_sheet():
    # Tentorium-like: 30 x 30 mm in-plane, two 1 mm slices thick (one slice is rejected before its flatness).
    m = np.zeros((34, 34, 6), dtype=bool)
    m[2:32, 2:32, 2:4] = True
    why = shape_of(m, np.array([1.0, 1.0, 1.0])).problem(brain_slices=120)
    assert why is not None and why.startswith("sheet-like")


def test_a_vessel_across_thick_slices_is_still_a_tube():
    # 2 mm wide, running obliquely through 6 slices of 5 mm (30 mm long in z, 15 mm in x).
    m = np.zeros((30, 10, 10), dtype=bool)
    for k in range(6):
        m[3 + 3 * k : 6 + 3 * k, 4:6, 2 + k] = True
    why = shape_of(m, np.array([1.0, 1.0, 5.0])).problem(brain_slices=30)
    assert why is not None and why.startswith("tube-like")
