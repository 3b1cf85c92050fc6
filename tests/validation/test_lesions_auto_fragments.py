"""Automatic detection on every TCIA Brain-Tumor-Progression scan (1 x 1 x 5 mm assumed), run like
test_lesions_real_more.py: fragments of one tumour's rim count as one structure, and a target mostly in the brain
mask's outer shell is refused (branch l13-auto, benchmarks/RESULTS.md).

- 09 Post: a large rim-enhancing glioblastoma whose speckled rim breaks, at the noise guard's 6 SD bar, into 21
  pieces of ≥ 50 mm³ (all within 5 voxels of the reference); the guard refused the scan ("21 separate enhancing
  candidates"). Joined by its dimmer enhancing tissue into one lesion-shaped structure it counts once: target
  Dice 0.93.
- 06 Pre: with the guard counting 11 structures the scan was refused; a bright structure at the occipital pole on
  the midline (the confluence of the sinuses, no voxel in the tumour) passes every other test, so without the guard it
  became a target. Its growth follows a transverse sinus to the surface: 57 % of it lies in the brain mask's outer
  5 mm and its centre is 11 mm from the mid-sagittal plane, so detection was declared not reliable. Judged on the part
  detection found (its centre 3 mm from the plane, branch l16-reliable) it is the torcula, not a target, and the
  dominance-backed last pass takes the tumour (Dice 0.61, 94 % of it inside the reference).
- 08 Pre, 08 Post (branch l16-reliable): the only first-pass candidate is the same confluence of the sinuses; grown,
  even as its own half-maximum mask, it is hollow (solidity 0.14-0.19: the confluence with a transverse sinus), which
  declared the whole detection not reliable. It is now judged like the structures no lesion can be: at most 6 mm
  thick and far from every target, it is set aside, and the dominance-backed last pass takes the tumour (Dice 0.66,
  0.84). In 07 Post the confluence and the straight sinus grow into one hollow structure 15 mm thick in places: a
  lesion may be merged with it, so detection is still not reliable there.
"""

from __future__ import annotations

import pytest

from .test_lesions_real_more import TCIA, TCIA_ALL, _auto, _dice, _never_outside

pytestmark = pytest.mark.validation

# Scans not already checked by test_lesions_real_more.py (TCIA) and test_lesions_real_heldout.py (11).
OTHERS = [c for c in TCIA_ALL if c not in TCIA and not c.startswith("11/")]


@pytest.mark.parametrize("case", OTHERS)
def test_tcia_automatic_detection_never_targets_outside_the_tumour_on_every_scan(case):
    _never_outside(_auto(case))


def test_tcia_fragments_of_one_speckled_rim_are_one_automatic_target():
    r = _auto("09/Post")
    assert r["auto"], r["auto_notes"]  # was refused: 21 separate enhancing candidates
    assert max(_dice(les.enhancing, r["ref"]) for les in r["auto"]) >= 0.6


def test_tcia_the_confluence_of_the_sinuses_is_not_a_target_and_the_tumour_is():
    r = _auto("06/Pre")
    assert any("astride the midline" in n and "torcula" in n for n in r["auto_notes"]), r["auto_notes"]
    (les,) = r["auto"]  # was: not reliable (the confluence's growth mostly in the brain mask's outer 5 mm)
    assert _dice(les.enhancing, r["ref"]) >= 0.6


@pytest.mark.parametrize("case", ["08/Pre", "08/Post"])
def test_tcia_a_thin_hollow_sinus_growth_far_from_the_tumour_is_set_aside(case):
    r = _auto(case)
    assert r["auto"], r["auto_notes"]  # was: not reliable (a candidate grown to a hollow structure)
    (les,) = r["auto"]
    assert _dice(les.enhancing, r["ref"]) >= 0.6
    assert any("grown to its full extent" in n and "set aside" in n for n in r["auto_notes"])


def test_tcia_a_thick_hollow_sinus_growth_still_makes_detection_refuse():
    r = _auto("07/Post")
    assert r["auto"] == []
    assert any("grown to its full extent" in n and "thick in places" in n for n in r["auto_notes"])
