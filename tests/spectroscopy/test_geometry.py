"""Voxel grids and coverage fractions against masks with known geometry."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.spectroscopy.geometry import VoxelGrid, voxel_coverage


def _mask_grid(shape=(60, 60, 60), spacing=1.0):
    aff = np.diag([spacing, spacing, spacing, 1.0])
    aff[:3, 3] = [-(n - 1) * spacing / 2 for n in shape]
    return aff, np.indices(shape)


def _box(centre_ras, size=(10.0, 10.0, 10.0), shape=(1, 1, 1)) -> VoxelGrid:
    aff = np.diag([*size, 1.0])
    aff[:3, 3] = centre_ras
    return VoxelGrid(aff, shape)


def test_box_inside_and_half_covered() -> None:
    aff, (ii, _, _) = _mask_grid()
    x = aff[0, 0] * ii + aff[0, 3]
    right = x > 0.0  # half-space x > 0 mm
    full = _box((15.0, 0.0, 0.0))
    half = _box((0.0, 0.0, 0.0))
    cov_full = voxel_coverage(full, {"m": right}, aff)
    cov_half = voxel_coverage(half, {"m": right}, aff)
    assert cov_full.fractions["m"][0, 0, 0] == pytest.approx(1.0)
    assert cov_half.fractions["m"][0, 0, 0] == pytest.approx(0.5, abs=0.06)  # nearest-voxel lookup on a 1 mm grid


def test_sphere_fraction_matches_volume_ratio() -> None:
    aff, (ii, jj, kk) = _mask_grid(spacing=0.5)
    x, y, z = (aff[d, d] * idx + aff[d, 3] for d, idx in enumerate((ii, jj, kk)))
    sphere = x**2 + y**2 + z**2 <= 6.0**2
    grid = _box((0.0, 0.0, 0.0), size=(14.0, 14.0, 14.0))
    frac = voxel_coverage(grid, {"s": sphere}, aff, samples_per_mm=4).fractions["s"][0, 0, 0]
    assert frac == pytest.approx(4 / 3 * np.pi * 6.0**3 / 14.0**3, rel=0.03)


def test_outside_image_is_not_coverage() -> None:
    aff, (ii, _, _) = _mask_grid()
    everything = np.ones(ii.shape, dtype=bool)
    cov = voxel_coverage(_box((200.0, 0.0, 0.0)), {"m": everything}, aff)
    assert cov.inside_image[0, 0, 0] == 0.0 and cov.fractions["m"][0, 0, 0] == 0.0


def test_rotated_csi_grid_per_voxel() -> None:
    aff, (ii, _, _) = _mask_grid()
    x = aff[0, 0] * ii + aff[0, 3]
    left = x < 0
    # A 2x1x1 grid of 10 mm voxels along RAS -x after a 180° turn about z: voxel 0 at x=+5, voxel 1 at x=-5.
    g = np.diag([-10.0, -10.0, 10.0, 1.0])
    g[:3, 3] = [5.0, 0.0, 0.0]
    cov = voxel_coverage(VoxelGrid(g, (2, 1, 1)), {"left": left}, aff)
    assert cov.fractions["left"][:, 0, 0] == pytest.approx([0.0, 1.0], abs=0.06)


def test_from_lps_flips_to_ras() -> None:
    grid = VoxelGrid.from_lps(
        first_centre_lps=np.array([10.0, 20.0, 30.0]),
        row_dir_lps=np.array([1.0, 0, 0]),
        col_dir_lps=np.array([0, 1.0, 0]),
        slice_dir_lps=np.array([0, 0, 1.0]),
        size_mm=(20.0, 40.0, 10.0),
        shape=(1, 1, 1),
    )
    assert grid.centre_ras_mm() == pytest.approx([-10.0, -20.0, 30.0])
    assert grid.voxel_size_mm == pytest.approx((20.0, 40.0, 10.0))
    assert grid.voxel_volume_ml == pytest.approx(8.0)


def test_invalid_arguments() -> None:
    aff, (ii, _, _) = _mask_grid((10, 10, 10))
    m = ii > 3
    with pytest.raises(ValueError, match="samples_per_mm"):
        voxel_coverage(_box((0, 0, 0)), {"m": m}, aff, samples_per_mm=0)
    with pytest.raises(ValueError, match="at least one"):
        voxel_coverage(_box((0, 0, 0)), {}, aff)
    with pytest.raises(ValueError, match="max_points"):
        voxel_coverage(_box((0, 0, 0), size=(100, 100, 100)), {"m": m}, aff, samples_per_mm=10, max_points=1000)
    with pytest.raises(ValueError, match="unit vector"):
        VoxelGrid.from_lps(
            first_centre_lps=np.zeros(3),
            row_dir_lps=np.array([2.0, 0, 0]),
            col_dir_lps=np.array([0, 1.0, 0]),
            slice_dir_lps=np.array([0, 0, 1.0]),
            size_mm=(1, 1, 1),
            shape=(1, 1, 1),
        )
