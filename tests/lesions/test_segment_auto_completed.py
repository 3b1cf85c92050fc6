"""Automatic targets completed like a reader's click (issue 13, branch l17-auto).

A reader's seed takes the lesion's clearly enhancing tissue the raw-image brain mask cut off (across the mask's edge)
and the separate compact pieces of its broken rim; an automatic target did not, so on TCIA Brain-Tumor-Progression
01 Pre (a rim round a cavity open to the posterior surface, 17 % of the reference outside the brain mask) the
automatic Dice was 0.48 where a click gave 0.69. Now a target, once every pass has decided it is one, is completed
the same way (``segment._completed_like_a_click``): it only adds tissue next to a target, never makes another one.
"""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.lesions import segment
from pseudoprog.lesions.segment import segment_lesions

from .helpers import ellipsoid_mask
from .test_segment_pieces import _head as _broken_ring

SHAPE = (120, 120, 12)
SPACING = (1.0, 1.0, 5.0)
CENTRE = (60.0, 60.0, 27.5)
CUT_X = 95  # the given brain mask leaves out everything of the lesion beyond this column


def _cut_lesion() -> dict:
    """Brain (an ellipse of radius 45 mm in-plane, noise SD 20) with a lesion (radius 14 mm, slices 4-7, centre 19 mm
    inside the brain's right edge) whose part beyond column 95 the given brain mask leaves out: the part inside
    enhances by 180 (about 9 local SDs, a first-pass target), the part left out by 80 (4 SDs, under the half maximum).
    Dark skull beyond 45 mm, bright scalp (900 where brain is 700) beyond 49 mm."""
    brain, affine = ellipsoid_mask(SHAPE, SPACING, CENTRE, (45.0, 45.0, 60.0))
    skull = ellipsoid_mask(SHAPE, SPACING, CENTRE, (49.0, 49.0, 99.0))[0]
    scalp = ellipsoid_mask(SHAPE, SPACING, CENTRE, (53.0, 53.0, 99.0))[0] & ~skull
    slab = ((np.arange(SHAPE[2]) >= 4) & (np.arange(SHAPE[2]) <= 7))[None, None, :]
    lesion = ellipsoid_mask(SHAPE, SPACING, (86.0, 60.0, 27.5), (14.0, 14.0, 99.0))[0] & slab & brain
    cut = lesion & (np.arange(SHAPE[0])[:, None, None] > CUT_X)
    rng = np.random.default_rng(15)
    t1c = np.where(brain, 700.0, 0.0) + np.where(scalp, 900.0, 0.0) + rng.normal(0, 20, SHAPE)
    t1c[lesion & ~cut] += 180.0
    t1c[cut] += 80.0
    return {"t1c": t1c, "brain": brain & ~cut, "affine": affine, "lesion": lesion, "cut": cut, "scalp": scalp}


def _without_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segment, "_completed_like_a_click", lambda e, brain, affine, target, **_: target)


def test_an_automatic_target_is_grown_across_the_mask_edge_where_the_mask_cut_it():
    h = _cut_lesion()
    (les,), notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert les.method == "automatic", notes
    assert float(les.enhancing[h["cut"]].mean()) >= 0.7  # measured 0.78; 0.01 without the completion
    assert float(les.enhancing[h["lesion"]].mean()) >= 0.95
    assert not (les.enhancing & h["scalp"]).any()


def test_without_the_completion_the_automatic_target_misses_what_the_mask_cut(monkeypatch: pytest.MonkeyPatch):
    _without_completion(monkeypatch)
    h = _cut_lesion()
    (les,), _ = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert float(les.enhancing[h["cut"]].mean()) < 0.1


def test_an_automatic_target_takes_the_pieces_of_its_broken_rim_and_nothing_else():
    h = _broken_ring()
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    ring = [les for les in lesions if (les.enhancing & h["bright"]).any()]
    assert len(ring) == 1, notes
    enh = ring[0].enhancing
    assert float(enh[h["bright"]].mean()) > 0.9
    assert float(enh[h["pieces"]].mean()) >= 0.5  # measured 0.67; 0 without the completion
    assert not (enh & h["other"]).any()  # the second lesion, beyond piece_gap_mm, stays its own
    assert int((enh & h["line"]).sum()) <= 10  # the vessel: 9 voxels where it touches the ring, as before


def test_without_the_completion_the_automatic_target_is_only_the_bright_half(monkeypatch: pytest.MonkeyPatch):
    _without_completion(monkeypatch)
    h = _broken_ring()
    lesions, _ = segment_lesions(h["t1c"], h["brain"], h["affine"])
    (enh,) = [les.enhancing for les in lesions if (les.enhancing & h["bright"]).any()]
    assert not (enh & h["pieces"]).any()
