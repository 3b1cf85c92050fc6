"""Phantoms for a reader's seed on thick slices whose brain level steps between slices (issue 13, l16-seedref).

On TCIA Brain-Tumor-Progression 10 Post (1 x 1 x 5 mm assumed) a seed in a small ring's core was refused: the ring
stands 3.6-4.3 SDs above the brain on its own slice, but the brain's level steps between the thick slices (medians
0.11 apart, 1.3 in-plane SDs), so the 3-D background shell's SD was inflated and the peak judged at 2.4 SDs. A
reader's seed on slices at least ``slice_level_anisotropy`` times thicker than the in-plane voxel is now judged on
an enhancement map with each slice's brain median subtracted (``segment._slice_levelled``). Nothing enhancing near
the click is still refused, and automatic detection is unchanged.
"""

from __future__ import annotations

import numpy as np

from pseudoprog.lesions import segment
from pseudoprog.lesions.segment import seed_from_voxels, segment_lesions

from .helpers import dice, ellipsoid_mask

SHAPE = (100, 100, 12)
SPACING = (1.0, 1.0, 5.0)
CENTRE = (50.0, 50.0, 27.5)
LESION = (62.0, 50.0, 27.5)
# The brain's level on each slice (noise SD 20): steps of 2-3 in-plane SDs between neighbours.
LEVELS = (700.0, 640.0, 740.0, 680.0, 760.0, 650.0, 730.0, 670.0, 750.0, 660.0, 720.0, 690.0)


def _head(*, lesion: bool = True) -> dict:
    """Brain (radius 45 mm in-plane) with a level that steps slice by slice; a lesion of radius 8 mm on slices 5-6
    enhancing by 80 (4 in-plane SDs, about 1.5 SDs of the 3-D shell round it)."""
    brain, affine = ellipsoid_mask(SHAPE, SPACING, CENTRE, (45.0, 45.0, 99.0))
    slab = ((np.arange(SHAPE[2]) >= 5) & (np.arange(SHAPE[2]) <= 6))[None, None, :]
    les = ellipsoid_mask(SHAPE, SPACING, LESION, (8.0, 8.0, 99.0))[0] & slab & brain
    rng = np.random.default_rng(16)
    t1c = np.where(brain, np.asarray(LEVELS)[None, None, :], 0.0) + rng.normal(0, 20, SHAPE)
    if lesion:
        t1c[les] += 80.0
    return {"t1c": t1c, "brain": brain, "affine": affine, "lesion": les}


def _seed(h: dict) -> segment.Seed:
    return seed_from_voxels("L1", h["affine"], point=(LESION[0], LESION[1], 5.5))


def test_a_seed_on_thick_slices_is_judged_against_each_slices_own_level():
    h = _head()
    found, notes = segment_lesions(h["t1c"], h["brain"], h["affine"], seeds=(_seed(h),))
    # Without the levelling: refused, the peak 1.9 SDs above the 3-D shell round the click (its SD holds the steps).
    assert len(found) == 1, notes
    assert dice(found[0].enhancing, h["lesion"]) >= 0.8  # measured 0.92


def test_levelling_does_not_make_a_seed_in_plain_brain_enhance():
    h = _head(lesion=False)
    found, notes = segment_lesions(h["t1c"], h["brain"], h["affine"], seeds=(_seed(h),))
    assert found == []  # measured: 2.0 local SDs within 30 mm (needs 3)
    assert any("local SDs" in n and "needs" in n for n in notes)


def test_isotropic_volumes_are_not_levelled():
    e = np.arange(20.0 * 20 * 4, dtype=np.float32).reshape(20, 20, 4)  # 400 brain voxels a slice
    brain = np.ones(e.shape, dtype=bool)
    assert segment._slice_levelled(e, brain, np.diag([1.0, 1.0, 1.2, 1.0])) is e
    levelled = segment._slice_levelled(e, brain, np.diag([1.0, 1.0, 5.0, 1.0]))
    assert np.allclose(np.median(levelled.reshape(-1, 4), axis=0), 0.0)
