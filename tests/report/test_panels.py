"""Image panels: centred on the largest enhancing slice, with the maps there are and a list of those missing."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.case import LesionMask, Volume
from pseudoprog.report.panels import MapImage, render_panel


def _scene():
    affine = np.diag([2.0, 2.0, 4.0, 1.0])
    image = np.full((40, 40, 10), 500.0, np.float32)
    mask = np.zeros(image.shape, bool)
    mask[15:25, 15:25, 6] = True  # largest on slice 6
    mask[18:22, 18:22, 5] = True
    image[mask] = 1000.0
    return Volume(image, affine), mask, affine


def test_panel_is_on_the_slice_of_largest_enhancing_area_and_lists_missing_maps():
    t1c, mask, affine = _scene()
    panel = render_panel(t1c, [LesionMask("L1", mask, affine)], title="2026-01-01")
    assert panel.png.startswith(b"\x89PNG")
    assert panel.slice_index == 6
    assert panel.shown == ("t1c",)
    assert set(panel.missing) == {"rcbv", "adc", "ftb"}
    assert "slice 7" in panel.caption  # 1-based for people


def test_maps_on_another_grid_are_shown_with_the_ftb_classes():
    t1c, mask, affine = _scene()
    coarse = np.diag([4.0, 4.0, 4.0, 1.0])  # a DSC-like grid: half the in-plane resolution
    rcbv = MapImage("rcbv", np.full((20, 20, 10), 2.5, np.float32), coarse, "ratio")
    panel = render_panel(t1c, [LesionMask("L1", mask, affine)], {"rcbv": rcbv})
    assert panel.shown == ("t1c", "rcbv", "ftb")
    assert panel.missing == ("adc",)
    assert "Iv M" in panel.caption


def test_a_mask_on_a_finer_grid_is_carried_to_the_t1c():
    t1c, mask, _affine = _scene()
    fine_affine = np.diag([1.0, 1.0, 4.0, 1.0])
    fine = np.repeat(np.repeat(mask, 2, axis=0), 2, axis=1)
    fine_affine[:2, 3] = -0.5  # voxel centres of the finer grid inside the coarse voxels
    panel = render_panel(t1c, [LesionMask("L1", fine, fine_affine)])
    assert panel.slice_index == 6


def test_empty_masks_and_bad_options_are_refused():
    t1c, mask, affine = _scene()
    with pytest.raises(ValueError, match="no enhancing voxel"):
        render_panel(t1c, [LesionMask("L1", np.zeros_like(mask), affine)])
    with pytest.raises(ValueError, match="dpi"):
        render_panel(t1c, [LesionMask("L1", mask, affine)], dpi=0)


def test_a_map_in_another_unit_is_windowed_on_its_own_values():
    t1c, mask, affine = _scene()
    values = np.broadcast_to(np.linspace(0.5, 2.0, 40, dtype=np.float32)[:, None, None], (40, 40, 10))
    in_um2_per_ms = MapImage("adc", np.array(values), affine, "um2/ms")  # µm²/ms, not mm²/s
    panel = render_panel(t1c, [LesionMask("L1", mask, affine)], {"adc": in_um2_per_ms})
    low, high = panel.windows["adc"]
    assert 0.5 <= low < 0.6 and 1.9 < high <= 2.0
    in_mm2_per_s = MapImage("adc", np.array(values) * 1e-3, affine, "mm2/s")
    assert render_panel(t1c, [LesionMask("L1", mask, affine)], {"adc": in_mm2_per_s}).windows["adc"] == (0.0, 3e-3)


@pytest.mark.parametrize("flip", [False, True])
def test_a_map_on_the_shown_slice_is_that_slice_of_the_whole_map_carried_to_the_t1c(flip):
    """The panel interpolates only its slice: the values must be those of the whole resampled map there."""
    from pseudoprog.align.resample import resample_to_grid
    from pseudoprog.report.panels import _maps_on_slice, _to_ras

    affine = np.diag([-2.0, -2.0, 4.0, 1.0]) if flip else np.diag([2.0, 2.0, 4.0, 1.0])  # LPS-like storage
    affine[:3, 3] = (40.0, 40.0, -20.0) if flip else (-40.0, -40.0, -20.0)
    shape = (40, 40, 10)
    coarse = np.diag([4.0, 4.0, 4.0, 1.0])
    coarse[:3, 3] = (-41.0, -39.0, -19.0)
    rng = np.random.default_rng(3)
    rcbv = MapImage("rcbv", rng.random((20, 20, 10), dtype=np.float32) * 4, coarse, "ratio")
    whole, ras_affine = _to_ras(
        resample_to_grid(rcbv.data, coarse, affine, shape, order=1, fill=np.nan), affine
    )
    for k in (0, 4, 9):
        plane = _maps_on_slice({"rcbv": rcbv}, ras_affine, whole.shape, k)["rcbv"]
        assert np.array_equal(np.isnan(plane), np.isnan(whole[:, :, k]))
        assert np.allclose(plane, whole[:, :, k], atol=1e-5, equal_nan=True)
