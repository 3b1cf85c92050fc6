"""An automatic target that is mostly in the brain mask's outer shell (dura, sinus, skull-base tissue) is refused."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pseudoprog.lesions.segment import NOT_RELIABLE, segment_lesions

from .helpers import ellipsoid_mask

SHAPE = (64, 64, 32)
SPACING = (1.0, 1.0, 2.0)


def _blob_at_depth(depth_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    brain, affine = ellipsoid_mask(SHAPE, SPACING, (32.0, 32.0, 32.0), (30.0, 30.0, 30.0))
    # A compact bright structure 12 x 16 x 14 mm (cut by the brain mask) centred depth_mm under its lateral surface.
    blob, _ = ellipsoid_mask(SHAPE, SPACING, (62.0 - depth_mm, 32.0, 32.0), (6.0, 8.0, 7.0))
    t1 = np.where(brain, 700.0, 0.0)
    t1c = t1.copy()
    t1c[blob & brain] = 1100.0
    return t1c + rng.normal(0, 10, SHAPE), t1 + rng.normal(0, 10, SHAPE), brain, affine, blob & brain


def _outer_share(mask: np.ndarray, brain: np.ndarray) -> float:
    depth = ndimage.distance_transform_edt(brain, sampling=SPACING)
    return float((depth[mask] <= 5.0).mean())


def test_a_target_mostly_in_the_brain_masks_outer_5_mm_is_not_taken():
    t1c, t1, brain, affine, blob = _blob_at_depth(4.0)
    assert _outer_share(blob, brain) > 0.5  # its centre is deeper than the erosion, most of it is not
    lesions, notes = segment_lesions(t1c, brain, affine, t1=t1)
    assert lesions == []
    assert notes[0] == NOT_RELIABLE
    assert any("outer 5 mm" in n for n in notes)


def test_the_same_structure_deeper_in_the_brain_is_a_target():
    t1c, t1, brain, affine, blob = _blob_at_depth(12.0)
    assert _outer_share(blob, brain) < 0.5
    lesions, notes = segment_lesions(t1c, brain, affine, t1=t1)
    assert len(lesions) == 1, notes
    assert blob[lesions[0].enhancing].mean() > 0.9
