"""Phantom for a seeded lesion chaining into bright tissue outside the brain mask through the slices below it
(issue 13, branch l21-seed).

On TCIA Brain-Tumor-Progression 06 Post (1 x 1 x 5 mm assumed) a click 3 mm from the reference centroid, still
inside the reference, grew the faint temporal lesion down to its lowest slices, where it touches the skull base: the
compact tissue beyond the brain mask (``segment._with_tissue_beyond``) was then taken as one connected piece over
slices 2-8, with the sinus and marrow beside the lesion on its own slices reached through the slices below it (2348
voxels, none in the reference; Dice 0.65 -> 0.40). The mask cuts a lesion in-plane, so tissue beyond it is now
taken only on the lesion's own axial slices, as ``_across_the_mask_edge`` already does.
"""

from __future__ import annotations

import numpy as np

from pseudoprog.lesions.segment import seed_from_voxels, segment_lesions

from .helpers import dice, ellipsoid_mask

SHAPE = (120, 120, 12)
SPACING = (1.0, 1.0, 5.0)
CENTRE = (60.0, 60.0, 27.5)


def _head() -> dict:
    """Brain (an ellipse of radius 45 mm in-plane, noise SD 20) with a faint lesion (radius 10 mm, slices 4-7,
    enhancing by 100: about 5 local SDs) near its right edge. Outside the given brain mask, in notches its per-slice
    hull still covers: bright compact tissue (enhancing by 150) on slices 2-3, below the lesion and touching it across
    slices 3-4 (the skull base), joined to a bright blob beside the lesion on slices 4-5, 8 mm from it in-plane with
    plain brain between (a sinus)."""
    brain, affine = ellipsoid_mask(SHAPE, SPACING, CENTRE, (45.0, 45.0, 60.0))
    k = np.arange(SHAPE[2])[None, None, :]
    lesion = ellipsoid_mask(SHAPE, SPACING, (88.0, 55.0, 27.5), (10.0, 10.0, 99.0))[0] & (k >= 4) & (k <= 7)
    below = np.zeros(SHAPE, dtype=bool)
    below[76:101, 45:90, 2:4] = True
    below &= brain
    blob = np.zeros(SHAPE, dtype=bool)
    blob[86:101, 73:88, 4:6] = True
    blob &= brain
    rng = np.random.default_rng(21)
    t1c = np.where(brain, 700.0, 0.0) + rng.normal(0, 20, SHAPE)
    t1c[lesion] += 100.0
    t1c[below | blob] += 150.0
    return {"t1c": t1c, "brain": brain & ~below & ~blob, "affine": affine, "lesion": lesion, "outside": below | blob}


def test_the_phantom_outside_tissue_touches_the_lesion_only_below_it():
    h = _head()
    grown = np.zeros(SHAPE, dtype=bool)
    grown[:, :, 3] = h["lesion"][:, :, 4]  # the lesion's lowest slice, one slice down
    assert (grown & h["outside"]).any()  # touching across slices 3-4
    beside = h["outside"][:, :, 4:8] & ~h["lesion"][:, :, 4:8]
    assert beside.any() and not (h["outside"] & h["lesion"]).any()


def test_bright_tissue_beyond_the_mask_is_not_reached_through_the_slices_below_the_lesion():
    # Measured: nothing outside the mask, Dice 0.97; before the change the slab below and the blob beside were taken
    # (2475 voxels outside the mask, Dice 0.49).
    h = _head()
    seed = seed_from_voxels("L1", h["affine"], point=(88.0, 55.0, 5.5))
    (les,), _ = segment_lesions(h["t1c"], h["brain"], h["affine"], seeds=(seed,))
    assert not (les.enhancing & h["outside"]).any()
    assert dice(les.enhancing, h["lesion"]) > 0.85
