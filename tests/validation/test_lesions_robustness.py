"""Lesions on real scans (issue 13, l26-robust): what another scanner or coil brings must not invent a target.

A held-out scan comes with its own slow intensity drift (coil sensitivity, dielectric centre brightening), noise
level and contrast. benchmarks/lesions_acquisition_bench.py runs every real scan under such perturbations
(benchmarks/RESULTS.md, "acquisition differences"); these tests keep its findings on one or two scans each. The
field is the bench's own: exponential in one world axis, its two ends across the (as-loaded) brain mask 20 % apart;
the brain mask is made again on the perturbed T1c, as the program does.
"""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.lesions_acquisition_bench import _gamma, bias_field
from scipy import ndimage

from pseudoprog.align.brainmask import brain_mask
from pseudoprog.case import Volume
from pseudoprog.lesions.segment import NOT_RELIABLE, seed_from_voxels, segment_lesions

from .test_lesions_real_more import _dice, _load

pytestmark = pytest.mark.validation


def _under_field(name: str, kind: str, pp: float, *, seeds: tuple = ()) -> tuple[list, list[str], np.ndarray]:
    t1c, affine, ref, brain = _load(name)
    return _segmented((t1c * bias_field(brain, affine, kind, pp)).astype(np.float32), affine, ref, seeds=seeds)


def _under_gamma(name: str, gamma: float) -> tuple[list, list[str], np.ndarray]:
    t1c, affine, ref, _ = _load(name)
    return _segmented(_gamma(t1c, gamma).astype(np.float32), affine, ref)


def _segmented(
    t1c: np.ndarray, affine: np.ndarray, ref: np.ndarray, *, seeds: tuple = ()
) -> tuple[list, list[str], np.ndarray]:
    moved_brain, _ = brain_mask(Volume(t1c, affine))
    found, notes = segment_lesions(t1c, moved_brain, affine, seeds=seeds)
    return found, notes, ref


def _near(found: list, ref: np.ndarray) -> list[float]:
    near = ndimage.binary_dilation(ref, iterations=5)
    return [float(near[les.enhancing].mean()) for les in found]


def test_tcia_02_pre_a_vessel_cut_in_two_by_an_intensity_drift_is_not_a_target():
    # On 0205485, 20 % brighter towards the front: the 4-SD bar cut the frontal-base vessel (one 730 mm³ tube-like
    # structure as loaded, rejected) into an 80 mm³ compact piece and a 460 mm³ tube; the piece was a candidate and
    # its growth took the whole vessel back in: a first-pass target of 2000 mm³, 0 % within 5 voxels of the temporal
    # tumour. The bright structures a grown candidate takes in are now judged together (segment._bright_parts_shape).
    found, notes, ref = _under_field("02/Pre", "y", 0.2)
    assert all(n >= 0.9 for n in _near(found, ref)), notes
    assert any("the bright structures it takes in" in n for n in notes), notes


def test_tcia_05_post_anatomy_the_first_pass_set_aside_is_not_taken_back_by_a_later_pass():
    # On 0205485, 20 % brighter towards the feet: the first pass set a 3150 mm³ frontal structure aside as a midline
    # surface structure (the superior sagittal sinus), and the dominance-backed last pass took the same structure as
    # the only compact mass: a target 0 % within 5 voxels of the tumour. A later pass's target that is mostly what the
    # first pass judged normal anatomy is now not taken; the coarse-scale pass then finds the tumour.
    found, notes, ref = _under_field("05/Post", "z", -0.2)
    assert all(n >= 0.9 for n in _near(found, ref)), notes
    assert any("mostly a structure the first pass judged normal anatomy" in n for n in notes), notes


@pytest.mark.parametrize(("name", "kind", "pp"), [("09/Post", "x", 0.2), ("03/Post", "r", 0.2)])
def test_tcia_targets_stay_on_the_tumour_under_a_20_percent_intensity_drift(name, kind, pp):
    # Locks two rows of benchmarks/RESULTS.md ("acquisition differences") in: under these fields the scans keep one
    # target on the tumour (09 Post automatic Dice 0.94, 03 Post 0.77, as loaded and perturbed). Most drifts change
    # some scan's outcome (the table), so this is a regression check, not a claim of invariance.
    found, notes, ref = _under_field(name, kind, pp)
    assert NOT_RELIABLE not in notes
    assert len(found) == 1, notes
    assert _near(found, ref)[0] >= 0.9
    assert _dice(found[0].enhancing, ref) >= 0.6


SKULL_BASE = "at the skull base"


def test_tcia_08_pre_a_later_pass_does_not_take_a_mass_at_the_skull_base():
    # Centre 20 % brighter than the edge: the tumour's structures no longer stand the dominance-backed pass's bar and
    # its "only compact mass" was a 5035 mm³ mass on the brain mask's lowest slices, 0 % within 5 voxels of the
    # tumour (benchmarks/RESULTS.md, l26-robust). A later pass's mass within skull_base_margin_mm of the mask's lowest
    # point is not taken, and with no other target the detection is not reliable: a reader's seed decides.
    found, notes, ref = _under_field("08/Pre", "r", 0.2)
    assert all(n >= 0.9 for n in _near(found, ref)), notes
    assert not found
    assert NOT_RELIABLE in notes
    assert any(SKULL_BASE in n for n in notes), notes


def test_tcia_08_post_under_a_contrast_change_the_skull_base_mass_gives_way_to_the_tumour():
    # Gamma 0.8: the dominance-backed pass took a 1848-voxel mass reaching the mask's lowest slice (0 % near) before
    # the coarse-scale pass could look. Set aside at the skull base, the coarse-scale pass finds the tumour.
    found, notes, ref = _under_gamma("08/Post", 0.8)
    assert any(SKULL_BASE in n for n in notes), notes
    assert len(found) == 1, notes
    assert _near(found, ref)[0] >= 0.9


def test_tcia_06_post_a_target_at_the_temporal_base_is_not_completed_into_the_cavernous_sinus():
    # 10 % darker towards the vertex (half the drift of the table): the target was the tumour's medial temporal part
    # (354 voxels), and its completion like a click took 568 voxels of the parasellar region outside the brain mask
    # (the cavernous sinus, inside the slice's hull between the temporal lobes): 64 % within 5 voxels of the tumour,
    # Dice 0.19. A completion leaving the target a third or more outside the mask is not made.
    found, notes, ref = _under_field("06/Post", "z", -0.1)
    assert found, notes
    assert all(n >= 0.9 for n in _near(found, ref)), notes


def test_tcia_10_pre_a_click_on_the_lesion_under_a_centre_bright_field_gives_that_lesion():
    # The centre 20 % brighter than the edge: a click at the reference's centroid (the lesion near the vertex) grew
    # 2228 voxels of the brightened deep white matter 17 mm from it, which reached the click's 20 mm ball and
    # outweighed the lesion's own pieces (seeded Dice 0.00, 49.7 x 35.5 mm instead of 21.9 x 12.8). The pieces in the
    # clicked ball are now the lesion (tests/lesions/test_segment_click_beside.py).
    _, affine, ref, _ = _load("10/Pre")
    centroid = tuple(float(v) for v in ndimage.center_of_mass(ref))
    found, notes, ref = _under_field("10/Pre", "r", 0.2, seeds=(seed_from_voxels("L1", affine, point=centroid),))
    assert len(found) == 1, notes
    assert _dice(found[0].enhancing, ref) >= 0.7  # 0.78 measured (0.87 as loaded)
    assert _near(found, ref)[0] >= 0.9


def test_tcia_10_post_a_click_beside_the_centroid_under_a_centre_bright_field_gives_the_lesion():
    # The same field on 10 Post, the click 3 mm to the side of the reference's centroid: a piece of brightened deep
    # white matter (2205 voxels, slices 10-16) reached the clicked 10 mm ball by 2 voxels and outweighed the ring at
    # the click (137 voxels, 125 of them in the ball), which was dropped as under a tenth of it: seeded Dice 0.00.
    # A piece dropped by size that holds more of the clicked ball than every piece kept is now the lesion.
    _, affine, ref, _ = _load("10/Post")
    centroid = np.array(ndimage.center_of_mass(ref))
    beside = tuple(float(v) for v in centroid - np.array([3.0 / np.linalg.norm(affine[:3, 0]), 0.0, 0.0]))
    found, notes, ref = _under_field("10/Post", "r", 0.2, seeds=(seed_from_voxels("L1", affine, point=beside),))
    assert len(found) == 1, notes
    assert _dice(found[0].enhancing, ref) >= 0.45  # 0.56 measured, as at the centroid (0.60 as loaded)
    assert _near(found, ref)[0] >= 0.9


THIN_ANATOMY = "a vessel, a sinus or the dura"


def test_tcia_08_post_thin_anatomy_at_the_surface_gives_way_to_the_tumour():
    # 20 % brighter towards the front: two first-pass targets, the left tentorium (5 mm thick) and the posterior
    # superior sagittal sinus (4 mm thick, 2-10 mm to one side of the mask's symmetry plane), 0 % within 5 voxels of
    # the tumour, passed every other test (benchmarks/RESULTS.md, session 43). Thin structures reaching the mask's
    # outer 5 mm are now anatomy, and the dominance-backed pass finds the tumour (Dice 0.85; 0.86 as loaded).
    found, notes, ref = _under_field("08/Post", "y", 0.2)
    assert sum(THIN_ANATOMY in n for n in notes) == 2, notes
    assert len(found) == 1, notes
    assert _near(found, ref)[0] >= 0.9
    assert _dice(found[0].enhancing, ref) >= 0.75


def test_remind_a_thin_structure_just_under_half_in_the_outer_shell_is_not_a_target():
    # Centre 20 % brighter than the edge: a 6 mm thick structure with 49 % of its voxels in the mask's outer 5 mm
    # (surface_max_share needs 50 %) was the target, 0 % within 5 voxels of the tumour. Now set aside as thin anatomy.
    found, notes, ref = _under_field("remind", "r", 0.2)
    assert all(n >= 0.9 for n in _near(found, ref)), notes
    assert any(THIN_ANATOMY in n for n in notes), notes
