"""Automatic detection's slice-levelled last pass (issue 13, l18-auto): on thick slices whose brain level steps
between slices, the first pass's bars are inflated (the brain's robust SD and every 3-15 mm shell hold the steps), so
a lesion that stands well out on its own slices is missed by every pass. The last pass runs the dominance-backed pass
on the map with each slice's brain median subtracted and takes the most conspicuous compact mass only when one of its
structures stands the first pass's 6 local SDs there (TCIA Brain-Tumor-Progression 04 Post and 11 Pre). Nothing
enhancing is still nothing, a mass astride the midline is left to a reader, and isotropic volumes, or a brain whose
slices differ in tissue rather than level, are not levelled.
"""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.lesions import segment
from pseudoprog.lesions.segment import enhancement_map, segment_lesions

from .helpers import dice, ellipsoid_mask

SHAPE = (100, 100, 12)
SPACING = (1.0, 1.0, 5.0)
CENTRE = (50.0, 50.0, 27.5)
LESION = (68.0, 50.0)
# Every slice holds three tissue classes in 6 mm stripes (they set the brain's robust SD, about 59, in-plane as in a
# real brain), and the slices the lesion lies on, with the next, are darker by STEP (a thick-slice acquisition's level
# stepping near the vertex: TCIA 04 Post's slice medians fall 0.02 -> -0.22, a fifth of the brain's level).
STEP = 120.0


def _head(*, at: tuple[float, float] | None = LESION, amp: float = 340.0) -> dict:
    """A lesion of radius 9 mm on slices 5-6 standing ``amp`` above the mean tissue of its own (darker) slices."""
    brain, affine = ellipsoid_mask(SHAPE, SPACING, CENTRE, (45.0, 45.0, 99.0))
    tissue = np.array([680.0, 720.0, 760.0])[np.arange(SHAPE[0]) // 6 % 3][:, None, None]
    level = np.zeros(SHAPE[2])
    level[5:8] = -STEP
    rng = np.random.default_rng(18)
    t1c = np.where(brain, tissue + level[None, None, :], 0.0) + rng.normal(0, 4, SHAPE)
    slab = ((np.arange(SHAPE[2]) >= 5) & (np.arange(SHAPE[2]) <= 6))[None, None, :]
    les = np.zeros(SHAPE, dtype=bool)
    if at is not None:
        les = ellipsoid_mask(SHAPE, SPACING, (at[0], at[1], 27.5), (9.0, 9.0, 99.0))[0] & slab & brain
    t1c[les] = 720.0 - STEP + amp + rng.normal(0, 4, int(les.sum()))
    return {"t1c": t1c, "brain": brain, "affine": affine, "lesion": les}


def test_a_lesion_on_levelled_thick_slices_is_found_on_the_last_pass():
    h = _head()
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert len(lesions) == 1 and lesions[0].method == "automatic", notes
    assert dice(lesions[0].enhancing, h["lesion"]) >= 0.8
    said = [n for n in notes if "slice-levelled last pass" in n]
    assert said and "brain level subtracted" in said[0] and "lower confidence" in said[0]


def test_without_the_levelled_pass_the_lesion_is_missed(monkeypatch: pytest.MonkeyPatch):
    # What every earlier pass sees: the steps inflate the bars, so the lesion is not found (the case of 04 Post). The
    # coarse-scale pass, which runs after this one, is removed too: on this head's 6 mm tissue stripes it would find
    # the lesion as well (branch l23-scale; the pipeline's result is unchanged, the levelled pass finds it first).
    monkeypatch.setattr(segment, "_slice_levelled_pass", lambda *a, **k: (None, []))
    monkeypatch.setattr(segment, "_coarse_scale_pass", lambda *a, **k: (None, []))
    h = _head()
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert lesions == []
    assert any("found no enhancing lesion" in n for n in notes)


def test_levelling_does_not_make_plain_brain_a_lesion():
    h = _head(at=None)
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert lesions == []
    assert any("found no enhancing lesion" in n for n in notes)


def test_a_mass_astride_the_midline_is_left_to_a_reader():
    # Deep veins, the plexus of the third ventricle and the circumventricular organs lie on the midline and enhance.
    h = _head(at=(CENTRE[0], CENTRE[1]))
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert lesions == [], notes


def test_a_faint_mass_under_the_first_passs_contrast_is_not_taken():
    # 07 Pre's cavity rim stands at most 5.3 levelled local SDs: the last pass names it and takes nothing.
    h = _head(amp=280.0)
    lesions, notes = segment_lesions(h["t1c"], h["brain"], h["affine"])
    assert lesions == [], notes
    assert any("slice-levelled last pass took none" in n and "needs 6" in n for n in notes), notes


def test_isotropic_volumes_are_not_levelled_and_the_pass_finds_nothing():
    h = _head()
    iso = np.diag([1.0, 1.0, 1.2, 1.0])
    e = enhancement_map(h["t1c"], h["brain"])
    view = segment.DetectionMap.of(e, h["brain"], np.array([1.0, 1.0, 1.2]))
    assert segment._slice_levelled_pass(e, h["brain"], iso, view) == (None, [])


def test_a_brain_whose_slices_differ_in_tissue_is_not_levelled():
    # The same lesion with the tissue classes in axial layers (each slice one class, as in the phantoms of
    # test_segment_flair_pass.py): levelling would remove 90 % of the brain's spread, not an acquisition's steps.
    h = _head()
    layered = np.array([680.0, 720.0, 760.0])[np.arange(SHAPE[2]) % 3][None, None, :]
    t1c = np.where(h["brain"], layered, 0.0) + np.random.default_rng(18).normal(0, 4, SHAPE)
    t1c[h["lesion"]] = 720.0 + 340.0
    e = enhancement_map(t1c, h["brain"])
    view = segment.DetectionMap.of(e, h["brain"], segment._spacing(h["affine"]))
    assert segment._slice_levelled_pass(e, h["brain"], h["affine"], view) == (None, [])
