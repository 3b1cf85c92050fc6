"""The contralateral reference (rADC, ASL rCBF) on a real brain mask turned in the scanner: mirrored across the
brain's mid-sagittal plane, not along the image axis (perfusion/reference_region.py; benchmarks/RESULTS.md,
l21-mirror).

The brain mask is TCGA-DU-7294's HD-BET mask (../shared/data/tcga-lgg-brats-toolkit, atlas space, 1 mm, head
straight) united with its mirror image across a voxel column, so its midline is known exactly; it is turned by a
known yaw about its centre on the same grid. What is measured: the distance from the mirrored region's centroid to the
lesion's centroid reflected across the known (turned) plane.
"""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.mirror_bench import (
    load_mask,
    old_mirror,
    reflect,
    sphere,
    symmetrised,
    turned,
    world_centroid,
    yaw_matrix,
)
from scipy import ndimage

from pseudoprog.case import LesionMask
from pseudoprog.handoff import Quantity, TypedMap
from pseudoprog.markers.adc import adc_values
from pseudoprog.markers.asl import asl_values
from pseudoprog.perfusion import reference_region as rr

from ..conftest import shared_data

MASK = ("tcga-lgg-brats-toolkit", "TCGA-DU-7294", "mask_hdbet_brats-space", "TCGA-DU-7294_hdbet_mask_brats.nii.gz")


@pytest.fixture(scope="module")
def straight():
    """The symmetrised real mask, its affine, its exact plane (normal, offset) and the brain's centre on it."""
    mask, affine = load_mask(shared_data(*MASK))
    brain, normal, offset = symmetrised(mask, affine)
    centroid = world_centroid(brain, affine)
    return brain, affine, normal, offset, centroid - (normal @ centroid - offset) * normal


def _turn(straight, yaw_deg: float):
    brain, affine, normal, _, centre = straight
    world = yaw_matrix(yaw_deg, centre)
    n = world[:3, :3] @ normal
    return turned(brain, affine, world), world, n, float(n @ centre)


def _lesion(brain, affine, world, normal, centre, lateral_mm: float, anterior_mm: float = 0.0):
    """A 10 mm sphere ``lateral_mm`` from the straight head's midline (``anterior_mm`` in front of its centre),
    moved with the head by ``world``."""
    at = centre + lateral_mm * normal + anterior_mm * np.array([0.0, 1.0, 0.0])
    return sphere(brain.shape, affine, (world @ np.append(at, 1.0))[:3], 10.0) & brain


def _error_mm(region, roi, affine, n, d) -> float:
    return float(np.linalg.norm(world_centroid(region, affine) - reflect(world_centroid(roi, affine), n, d)))


def test_a_turned_head_is_mirrored_across_its_midplane_and_a_straight_one_as_before(straight):
    _, affine, normal, _, centre = straight
    # Straight: the plane is the image axis through the mask's centre, as the old mirror assumed — the same voxels.
    brain0, world0, n0, d0 = _turn(straight, 0.0)
    roi0 = _lesion(brain0, affine, world0, normal, centre, 55.0)
    found0 = rr.contralateral_region(roi0, brain0, affine)
    assert found0.midline.method == "plane"
    assert np.array_equal(found0.region, old_mirror(roi0, brain0, affine))
    assert _error_mm(found0.region, roi0, affine, n0, d0) <= 0.5
    # Turned by 9 degrees (TCIA Brain-Tumor-Progression 11 Post): the old mirror lands 2 r sin(9°) ≈ 17 mm off.
    brain, world, n, d = _turn(straight, 9.0)
    for lateral, anterior in ((55.0, 0.0), (-55.0, 0.0), (40.0, 50.0)):
        roi = _lesion(brain, affine, world, normal, centre, lateral, anterior)
        found = rr.contralateral_region(roi, brain, affine)
        assert found.midline.method == "plane"
        assert _error_mm(old_mirror(roi, brain, affine), roi, affine, n, d) >= 15.0
        assert _error_mm(found.region, roi, affine, n, d) <= 3.0, (lateral, anterior)
        assert np.array_equal(rr.mirror_across_midline(roi, brain, affine), found.region)
        # The homologous sphere, inside the brain: about as many voxels as the lesion.
        assert 0.9 <= found.region.sum() / roi.sum() <= 1.1


@pytest.mark.parametrize("axes", [(0,), (1,), (0, 1, 2)], ids=["left-right", "front-back", "all"])
def test_a_grid_stored_flipped_gives_the_same_mirror_in_world_space(straight, axes):
    _, affine, normal, _, centre = straight
    brain, world, n, d = _turn(straight, 9.0)
    roi = _lesion(brain, affine, world, normal, centre, 55.0)
    region = rr.contralateral_region(roi, brain, affine).region
    flip = np.eye(4)
    for a in axes:
        flip[a, a], flip[a, 3] = -1.0, brain.shape[a] - 1
    idx = tuple(slice(None, None, -1) if a in axes else slice(None) for a in range(3))
    found = rr.contralateral_region(roi[idx], brain[idx], affine @ flip)
    assert found.midline.method == "plane"
    back = found.region[idx]
    assert (back ^ region).sum() <= 0.01 * region.sum()
    assert _error_mm(back, roi, affine, n, d) <= 3.0


def test_an_anisotropic_grid_has_a_mirror_without_holes(straight):
    """On 1 x 1.6 x 4 mm voxels turned 9 degrees (an oblique, anisotropic grid) every voxel of the homologous place
    pulls from the lesion: no holes, about the lesion's volume, at the right place."""
    brain1, affine1, normal, _, centre = straight
    brain_t, world, n, d = _turn(straight, 9.0)
    roi_t = _lesion(brain_t, affine1, world, normal, centre, 55.0)
    scale = np.diag([1.0, 1.6, 4.0, 1.0])
    affine = affine1 @ scale
    shape = tuple(int(s) for s in np.floor((np.array(brain1.shape) - 1) / np.diag(scale)[:3]) + 1)

    def coarse(mask):
        return ndimage.affine_transform(mask.astype(np.float32), scale[:3, :3], order=1, output_shape=shape) > 0.5

    brain, roi = coarse(brain_t), coarse(roi_t) & coarse(brain_t)
    found = rr.contralateral_region(roi, brain, affine)
    assert found.midline.method == "plane"
    assert _error_mm(found.region, roi, affine, n, d) <= 3.0
    assert 0.85 <= found.region.sum() / roi.sum() <= 1.15
    filled = ndimage.binary_fill_holes(found.region)
    assert (filled & ~found.region).sum() == 0
    # Slice by slice too (a hole in a 4 mm slice is what a nearest-voxel push leaves).
    for k in range(shape[2]):
        sl = found.region[:, :, k]
        assert (ndimage.binary_fill_holes(sl) & ~sl).sum() == 0


def test_a_small_box_falls_back_to_the_image_axis_and_says_so():
    brain = np.zeros((20, 10, 3), bool)
    brain[2:18] = True
    les = np.zeros_like(brain)
    les[3:6, 4:6, 1] = True
    found = rr.contralateral_region(les, brain, np.eye(4))
    assert found.midline.method == "axis"
    assert "too small" in found.midline.reason
    assert "midline plane not found" in found.midline.description
    assert set(np.nonzero(found.region)[0]) == {14, 15, 16}


def test_the_markers_say_how_they_mirrored_and_search_the_plane_once(straight, monkeypatch):
    from pseudoprog.lesions import segment

    _, affine, normal, _, centre = straight
    brain, world, _, _ = _turn(straight, 9.0)
    calls = []
    real_fit = segment._mid_sagittal_fit  # the search itself, under mid_sagittal_fit's memory of its answers
    monkeypatch.setattr(segment, "_mid_sagittal_fit", lambda *a: calls.append(1) or real_fit(*a))
    segment._FITS.clear()
    cbf = np.where(brain, 50.0, np.nan)
    adc = np.where(brain, 0.8e-3, np.nan)
    masks = [
        LesionMask(f"L{i}", _lesion(brain, affine, world, normal, centre, lat, ant), affine)
        for i, (lat, ant) in enumerate(((55.0, 0.0), (-40.0, 50.0)))
    ]
    for m in masks:
        cbf[m.enhancing] = 100.0
        adc[m.enhancing] = 1.6e-3
    asl = asl_values(TypedMap(Quantity.ASL_CBF, cbf, affine, "mL/100 g/min"), percentile=95)
    diffusion = adc_values(TypedMap(Quantity.ADC, adc, affine, "mm2/s"), fit={})
    for m in masks:
        rcbf = asl(m)["asl_rcbf_max"]
        radc = diffusion(m)["radc_mean"]
        assert rcbf[0] == pytest.approx(2.0) and radc[0] == pytest.approx(2.0)
        for _, q in (rcbf, radc):
            assert q["reference_mirror"] == "plane"
            assert "mid-sagittal plane" in q["reference"] and "yaw 9.0°" in q["reference"]
    assert len(calls) == 1  # one brain mask and affine: one plane search for both lesions and both markers
    # A mask with no plane to find: the reference says it was mirrored along the axis, and why.
    box = np.zeros((20, 10, 3))
    box[2:18] = 50.0
    box[3:6, 4:6, 1] = 100.0
    small = LesionMask("S", box == 100.0, np.eye(4))
    box[box == 0] = np.nan
    _, q = asl_values(TypedMap(Quantity.ASL_CBF, box, np.eye(4), "mL/100 g/min"), percentile=95)(small)["asl_rcbf_max"]
    assert q["reference_mirror"] == "axis"
    assert "about the brain's centre along the left-right axis (midline plane not found" in q["reference"]
