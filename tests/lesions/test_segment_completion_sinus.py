"""An automatic target's completion does not take the superior sagittal sinus beside it (issue 13).

A raw-image brain mask leaves out the superior sagittal sinus in the notch between the hemispheres at the frontal
pole; the slice's convex hull bridges the notch, so the completion of a faint target next to it (across the mask's
edge, ``segment._completed_like_a_click``) could take the sinus. The completed target as a whole is no midline
structure (its centre lies in one hemisphere), so it was kept: TCIA Brain-Tumor-Progression 11 Post under a 20 %
left-right drift took 353 voxels of the sinus, 80 % of them outside the mask (78 % of the target within 5 voxels of
the reference). An added piece that is itself a midline dural structure reaching at least
``completion_midline_crossing_mm`` past the plane on both sides is now left out; a lesion's own fringe, which comes to
the plane from one side, is still taken.
"""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.lesions import segment
from pseudoprog.lesions.segment import segment_lesions

from .helpers import ellipsoid_mask

SHAPE = (120, 120, 12)
SPACING = (1.0, 1.0, 5.0)
CENTRE = (60.0, 60.0, 27.5)  # the brain's mid-sagittal plane is x = 60 mm


def _lesion_beside_the_sinus() -> dict:
    """Brain (ellipse, radius 45 mm in-plane, noise SD 20) with a faint lesion (radius 12 mm, slices 4-7, centre
    15 mm right of the midline, 13 mm inside the frontal edge) next to the sinus: a triangle at the frontal midline
    (slices 3-8) that the given brain mask leaves out, as a raw-image mask leaves out the notch between the
    hemispheres, and that enhances by half as much as the lesion (under its half maximum)."""
    brain, affine = ellipsoid_mask(SHAPE, SPACING, CENTRE, (45.0, 45.0, 60.0))
    i, j, k = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    slab = (k >= 4) & (k <= 7)
    lesion = ((i - 75.0) ** 2 + (j - 92.0) ** 2 <= 12.0**2) & slab & brain
    sinus = (np.abs(i - 60.0) <= (j - 96.0) + 2.0) & (j >= 96) & (k >= 3) & (k <= 8) & brain & ~lesion
    rng = np.random.default_rng(11)
    t1c = np.where(brain, 700.0, 0.0) + rng.normal(0, 20, SHAPE)
    t1c[lesion] += 180.0
    t1c[sinus] += 85.0
    return {"t1c": t1c, "brain": brain & ~sinus, "affine": affine, "lesion": lesion, "sinus": sinus}


def _target(h: dict) -> np.ndarray:
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    (les,) = [les for les in lesions if (les.enhancing & h["lesion"]).any()]
    assert les.method == "automatic", notes
    return les.enhancing


def test_the_completion_of_a_target_beside_the_sinus_leaves_the_sinus_out():
    h = _lesion_beside_the_sinus()
    enh = _target(h)
    assert float(enh[h["lesion"]].mean()) >= 0.9
    assert not (enh & h["sinus"]).any()  # 308 of its 650 voxels before


def test_the_phantom_reproduces_the_sinus_taken_by_the_completion(monkeypatch: pytest.MonkeyPatch):
    # The rule off (no added piece is a midline structure): the completion takes the sinus.
    monkeypatch.setattr(segment, "midline_surface_structure", lambda *a, **k: None)
    h = _lesion_beside_the_sinus()
    enh = _target(h)
    assert int((enh & h["sinus"]).sum()) >= int(h["sinus"].sum()) // 3  # measured 308 of 650 (on 4 of its 6 slices)


def _fringe_at_the_midline() -> dict:
    """Brain as above with a large faint lesion (radius 16 mm, slices 4-7) centred 16 mm right of the midline, whose
    medial edge reaches the plane; the given brain mask leaves out its part within 4 mm of the plane (a raw-image
    mask's notch at the medial surface), which enhances less (under the half maximum, as a cut fringe does)."""
    brain, affine = ellipsoid_mask(SHAPE, SPACING, CENTRE, (45.0, 45.0, 60.0))
    i, j, k = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    lesion = ((i - 76.0) ** 2 + (j - 80.0) ** 2 <= 16.0**2) & (k >= 4) & (k <= 7) & brain
    fringe = lesion & (i < 64)
    rng = np.random.default_rng(12)
    t1c = np.where(brain, 700.0, 0.0) + rng.normal(0, 20, SHAPE)
    t1c[lesion & ~fringe] += 180.0
    t1c[fringe] += 80.0
    return {"t1c": t1c, "brain": brain & ~fringe, "affine": affine, "lesion": lesion, "fringe": fringe}


def test_a_lesion_fringe_reaching_the_midline_from_one_side_is_still_completed():
    # A sinus is centred on the midline; a tumour's fringe comes to it from one hemisphere (TCIA 01 Post as loaded:
    # 487 of the 672 voxels such a rule would have left out were the reference's, 1.2 mm past the plane).
    h = _fringe_at_the_midline()
    enh = _target(h)
    assert float(enh[h["fringe"]].mean()) >= 0.7  # measured 0.82; 0.01 with no completion


def test_without_the_crossing_asked_the_fringe_at_the_midline_is_lost(monkeypatch: pytest.MonkeyPatch):
    real = segment.value
    monkeypatch.setattr(segment, "value", lambda *k: 0.0 if k[-1] == "completion_midline_crossing_mm" else real(*k))
    h = _fringe_at_the_midline()
    enh = _target(h)
    assert float(enh[h["fringe"]].mean()) < 0.3  # measured 0.01: the fringe piece left out as a sinus
