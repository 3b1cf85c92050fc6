"""Geometry kernels of segmentation: the compiled mirror-overlap loop, the boxed depth = their whole-array forms."""

from __future__ import annotations

import numpy as np

from pseudoprog.lesions.segment import mid_sagittal_plane
from pseudoprog.lesions.symmetry import mirrored_overlap


def _numpy_overlap(pts, normals, offsets, inv, brain):
    """The array form the loop replaced: mirror every point, round to a voxel, read the mask (outside: 0)."""
    signed = pts @ normals.T - offsets
    mirrored = pts[:, None, :] - 2.0 * signed[..., None] * normals[None, :, :]
    vox = np.rint(mirrored @ inv[:3, :3].T + inv[:3, 3]).astype(np.intp)
    inside = np.all((vox >= 0) & (vox < np.array(brain.shape)), axis=-1)
    flat = np.ravel_multi_index(tuple(np.moveaxis(vox, -1, 0)), brain.shape, mode="clip")
    return (inside & brain.ravel()[flat]).mean(axis=0)


def _tilted_head():
    """An off-centre ellipsoid head turned 7 degrees, on an oblique grid with 1 x 1 x 3 mm voxels."""
    x, y, z = np.mgrid[:96, :110, :40].astype(float)
    yaw = np.radians(7.0)
    u = (x - 52) * np.cos(yaw) + (y - 50) * np.sin(yaw)
    v = -(x - 52) * np.sin(yaw) + (y - 50) * np.cos(yaw)
    brain = (u / 38) ** 2 + (v / 48) ** 2 + ((z - 18) * 3 / 55) ** 2 < 1
    brain[60:70, 40:60, 10:20] = False  # not symmetric: a resection cavity
    affine = np.array([[-1.0, 0.05, 0.0, 90.0], [0.05, 1.0, 0.1, -110.0], [0.0, -0.03, 3.0, -40.0], [0, 0, 0, 1]])
    return brain, affine


def test_the_loop_scores_every_candidate_plane_as_the_array_form_does():
    brain, affine = _tilted_head()
    idx = np.argwhere(brain)
    pts = idx[:: max(1, idx.shape[0] // 5000)].astype(float) @ affine[:3, :3].T + affine[:3, 3]
    inv = np.linalg.inv(affine)
    rng = np.random.default_rng(0)
    yaw, roll = rng.uniform(-0.35, 0.35, 200), rng.uniform(-0.17, 0.17, 200)
    normals = np.stack([np.cos(yaw) * np.cos(roll), np.sin(yaw) * np.cos(roll), np.sin(roll)], axis=-1)
    offsets = normals @ pts.mean(axis=0) + rng.uniform(-20, 20, 200)
    ours = mirrored_overlap(pts, normals, offsets, inv, brain.astype(np.uint8).ravel(), brain.shape)
    reference = _numpy_overlap(pts, normals, offsets, inv, brain)
    # Equal but for a mirror landing within rounding of a voxel boundary (at most one point of ~5000 per plane).
    assert np.abs(ours - reference).max() <= 1.0 / pts.shape[0]
    assert np.mean(ours == reference) > 0.95


def test_the_plane_of_a_turned_head_is_found_turned():
    brain, affine = _tilted_head()
    normal, _offset = mid_sagittal_plane(brain, affine)
    # The head is turned 7 degrees in voxel space; the grid's own axes add their obliquity (about 3 degrees).
    yaw_deg = np.degrees(np.arctan2(normal[1], normal[0]))
    assert 3.0 <= abs(yaw_deg) <= 12.0


def test_depth_on_the_mask_box_is_the_distance_transform_of_the_whole_image():
    from scipy import ndimage

    from pseudoprog.lesions.segment import depth_in_mm

    brain, _affine = _tilted_head()
    spacing = np.array([1.0, 1.0, 3.0])
    for mask in (brain, brain[:, 20:, :], np.zeros_like(brain)):  # inside the image, cut by its border, empty
        assert np.array_equal(depth_in_mm(mask, spacing), ndimage.distance_transform_edt(mask, sampling=spacing))
