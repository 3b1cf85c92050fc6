"""Lesions on more real scans (issue 13): ReMIND-022 (DICOM T1c + DICOM SEG) and TCIA Brain-Tumor-Progression.

- ../shared/data/real-glioma-dicom-remind: a real oblique 3D post-contrast T1 (176 slices, 0.98 x 0.98 x
  1.0 mm) and a manual DICOM SEG of a small glioma (799 voxels). The SEG has no source-image references,
  so it is mapped geometrically (each frame's ImagePositionPatient through the T1c's geometry).
- ../shared/data/tcia-brain-tumor-progression-t1c: post-contrast T1 with tumour masks; the voxel size was
  lost (stored as 1 mm). We assume 1 x 1 x 5 mm (in-plane as stored, 5 mm slices, typical of the
  DSC-matched T1post of that collection); Dice is in voxels and does not depend on it, only the seed's
  search ball does. Automatic detection is checked on the "Pre" scans of five patients (01, 03, 05, 07, 09)
  (the other scans in test_lesions_auto_fragments.py, with the faint rings of 04 Pre and 01 Post here);
  the seed on all 11 patients, "Pre" and "Post". The reference is a whole-tumour mask made on T1w (Imaging
  Biometrics), so it can hold non-enhancing tumour, distant pieces and necrosis our enhancing mask does not.

Checks: automatic detection never puts a target outside the reference (≥ 90 % of an automatic lesion inside
the reference dilated by 5 mm) or refuses / finds nothing and says so; a seed at the reference centroid gives
Dice ≥ 0.75 and RANO diameters within 15 % (or 3 mm) of the reference's (strict xfail with the measured value
and the cause seen on the slices where not met) or a refusal that states the contrast it saw.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import ndimage

from pseudoprog.align.brainmask import brain_mask
from pseudoprog.case import Volume
from pseudoprog.errors import CannotAssessError
from pseudoprog.lesions.measure import measure_lesion
from pseudoprog.lesions.segment import (
    NOT_RELIABLE,
    Seed,
    _shell_background,
    _spacing,
    core_of,
    enhancement_map,
    seed_from_voxels,
    segment_lesions,
)

from ..conftest import shared_data

pytestmark = pytest.mark.validation

# Measured on this branch (benchmarks/RESULTS.md, "Lesions on real scans"); causes from PNG slices of each case.
REMIND_SEED = (
    "seed refused: the peak stands 0.8-1.2 local SDs above the surrounding brain within 10-30 mm of the click "
    "(needs 3); the labelled tumour is not an enhancing lesion (its median stands 0.6 local SDs above the brain "
    "3-15 mm around it, test_remind_the_labelled_tumour_barely_enhances)"
)
TCIA = ["01/Pre", "03/Pre", "05/Pre", "07/Pre", "09/Pre"]
TCIA_ALL = [f"{p}/{tp}" for tp in ("Pre", "Post") for p in (f"{i:02d}" for i in range(1, 12))]
_WHOLE = "the reference is a whole-tumour mask, wider than the enhancing margin we draw"
TCIA_SEED_FAILS = {
    "01/Pre": "seeded Dice 0.72 (0.685 before the dimmer rim was taken round clearly enhancing tissue, 0.54 before "
    "growth across the brain mask's edge, 0.47 before separate compact "
    "pieces within 5 mm were taken, 0.33 before clearly enhancing tissue connected to the lesion was taken): the "
    "brain mask leaves out 17 % of the reference (a rim round a cavity open to the posterior surface), some of it "
    "beyond its per-slice hull, and much of the reference inside the mask stands less than 3 local SDs above the "
    "brain even smoothed (the reference is a whole-tumour mask); the missed reference above 3 SDs (1160 voxels) lies a "
    "median 34 mm from the click, past the point's 40 mm reach (extending it by 10 mm gave 0.743 but cost 02 Post 0.06 "
    "and 11 Pre 0.08), and the mask's bright rim round the cavity is thinner than its cortex step takes (6.3 mm "
    "disk, needs 18)",
    "02/Pre": "seeded Dice 0.47 (0.39 before growth across the brain mask's edge, 0.24 before compact tissue beyond "
    "the brain mask was taken): a thin temporal rim at the skull base, 45 % of the reference outside the brain "
    "mask, a quarter of that outside the mask's per-slice hull (the mask of those skull-base slices is narrow), the "
    "rest partly under 3 local SDs; the reference inside the mask stands a median 1.4-2.9 SDs above the brain; the "
    "bright rim outside the mask is joined to the skull base's marrow and fat (one bright component of 8344 voxels "
    "on the mask's 2 mm grid, 2 % of it reference), so no bright-tissue rule of the mask can take it alone",
    "06/Pre": "seeded Dice 0.715 (0.63 before the dimmer rim was taken round clearly enhancing tissue): the reference "
    "adds separate temporal pieces on slices 4-8, 20-44 mm from our mask (524 voxels, 19 % of it), with no "
    "enhancing tissue between; without them the Dice would be 0.81",
    "07/Pre": "seeded Dice 0.10: the 310-voxel reference marks small bits round a bright 3-slice mass we segment "
    "(2000 voxels, 42 x 33 mm); the reference is not this enhancing lesion",
    "11/Pre": f"seeded Dice 0.67: {_WHOLE}",
    "01/Post": "seeded Dice 0.65 (0.63 before the dimmer rim was taken round clearly enhancing tissue, 0.61 before "
    "growth across the brain mask's edge): the reference spans 87 mm "
    "(two lobes); the seeded growth takes the 52 mm near "
    "the click, and 71 % of the reference stands less than 3 local SDs above the brain (no enhancing piece is "
    "left within 5 mm of our mask)",
    "06/Post": "seeded Dice 0.57: the reference has two pieces (one seed per piece: 0.64)",
    "07/Post": "seeded Dice 0.54: the reference (1221 voxels) leaves out the bright lateral half of the mass "
    "we segment (2724 voxels) and adds a separate piece 15 mm below",
    "10/Post": "seeded Dice 0.60 (refused before the slice-levelled second look): a 160-voxel ring 8-15 mm across "
    "near the vertex (slices 16-18); on slice 17 we take the ring with its dark centre (153 voxels, the reference's "
    "60 are the ring alone), and so small a reference leaves Dice no room for a voxel of boundary",
    "11/Post": "seed refused, 2.1 local SDs: the reference is two lesions in opposite frontal lobes and its centroid "
    "lies in normal brain between them, 9 mm from the nearer (one seed per piece: 0.60); the compact clearly enhancing "
    "tissue nearest the click (19.5 mm) is a deep vein outside the reference, so moving the seed to the nearest "
    "enhancing tissue would take it (branch l21-seed)",
}
# Cases meeting the Dice goal whose diameters still differ from the reference's by more than 15 % / 3 mm.
TCIA_DIAMETER_FAILS = {
    "02/Post": "long 61.8 vs 53.1 mm (limit 8.0): growth across the brain mask's edge adds the reference's upper arc "
    "on slice 7 (Dice 0.79 -> 0.82) and our mask joins it to the lower mass along the lateral side, where the "
    "reference leaves them separate pieces, so slice 7 (61.8 x 24.5; the reference's own largest piece 55.9 x 17.0) "
    "becomes our largest cross-section, while the reference's is slice 6 (53.2 x 25.2; ours 49.7 x 24.8)",
}


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float(np.count_nonzero(a & b)) / max(1, int(a.sum() + b.sum()))


def _load_remind() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """T1c volume (i = column, j = row, k = slice), its RAS affine and the SEG mapped onto it."""
    import pydicom

    root = shared_data("real-glioma-dicom-remind")
    slices = [pydicom.dcmread(str(p)) for p in sorted((root / "3DAXT1postcontrast_MRI").glob("*.dcm"))]
    o = np.asarray(slices[0].ImageOrientationPatient, dtype=float)
    row, col = o[:3], o[3:]
    normal = np.cross(row, col)
    slices.sort(key=lambda s: float(normal @ np.asarray(s.ImagePositionPatient, dtype=float)))
    vol = np.stack([s.pixel_array.astype(np.float32).T for s in slices], axis=-1)
    dr, dc = (float(v) for v in slices[0].PixelSpacing)  # between rows, between columns
    first = np.asarray(slices[0].ImagePositionPatient, dtype=float)
    step = (np.asarray(slices[-1].ImagePositionPatient, dtype=float) - first) / (len(slices) - 1)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = row * dc, col * dr, step, first
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    seg = pydicom.dcmread(str(root / "Tumor_segmentation.dcm"))
    frames = seg.pixel_array.astype(bool)
    ref = np.zeros(vol.shape, dtype=bool)
    inv = np.linalg.inv(lps)
    for k, fg in enumerate(seg.PerFrameFunctionalGroupsSequence):
        pos = np.asarray(fg.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        i0, j0, kk = (int(v) for v in np.rint((inv @ np.r_[pos, 1.0])[:3]))
        m = frames[k].T
        ref[i0 : i0 + m.shape[0], j0 : j0 + m.shape[1], kk] |= m
    return vol, affine, ref


@functools.cache
def _load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """T1c, affine, reference and brain mask of ``remind`` or a TCIA ``NN`` / ``NN/Pre`` / ``NN/Post``."""
    if name == "remind":
        t1c, affine, ref = _load_remind()
    else:
        t1c, affine, ref = tcia_scan(name)
    brain, _ = brain_mask(Volume(t1c, affine))
    return t1c, affine, ref, brain


def tcia_scan(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """T1c, affine and reference mask of a TCIA ``NN/Pre`` / ``NN/Post`` (``NN``: Pre) at the assumed 5 mm slices."""
    import nibabel as nib

    pid, _, tp = name.partition("/")
    root = shared_data("tcia-brain-tumor-progression-t1c", pid)
    img = nib.load(str(root / f"{tp or 'Pre'}_Scan_T1.nii.gz"))
    affine = img.affine.copy()
    affine[:3, 2] *= 5.0 / np.linalg.norm(affine[:3, 2])  # the assumed 5 mm slices (module docstring)
    ref = np.asarray(nib.load(str(root / f"{tp or 'Pre'}_Mask.nii.gz")).dataobj) > 0
    return np.asarray(img.dataobj, dtype=np.float32), affine, ref


@functools.cache
def _run(name: str) -> dict:
    t1c, affine, ref, brain = _load(name)
    centroid = tuple(float(v) for v in ndimage.center_of_mass(ref))
    seeded, seed_notes = segment_lesions(t1c, brain, affine, seeds=(seed_from_voxels("L1", affine, point=centroid),))
    return {"ref": ref, "affine": affine, "seeded": seeded, "seed_notes": seed_notes}


@functools.cache
def _auto(name: str) -> dict:
    t1c, affine, ref, brain = _load(name)
    try:
        auto, auto_notes = segment_lesions(t1c, brain, affine)
    except CannotAssessError as exc:
        auto, auto_notes = [], [str(exc)]
    return {"ref": ref, "auto": auto, "auto_notes": auto_notes}


def test_the_remind_seg_maps_onto_the_t1c_voxel_for_voxel():
    _, _, ref = _load_remind()
    assert int(ref.sum()) == 799  # PROVENANCE: 799 voxels, on 12 slices
    assert int(np.count_nonzero(ref.any(axis=(0, 1)))) == 12


def _never_outside(r: dict) -> None:
    near = ndimage.binary_dilation(r["ref"], iterations=5)
    for les in r["auto"]:
        inside = float(near[les.enhancing].mean())
        assert inside >= 0.9, f"{les.lesion_id}: only {inside:.0%} of it near the reference"
    if not r["auto"]:
        text = " ".join(r["auto_notes"])
        assert NOT_RELIABLE in text or "found no enhancing lesion" in text or "candidates" in text


def _seed_goal(r: dict) -> None:
    (les,) = r["seeded"]
    assert _dice(les.enhancing, r["ref"]) >= 0.75


def test_remind_automatic_detection_never_targets_outside_the_tumour():
    _never_outside(_auto("remind"))


@pytest.mark.xfail(strict=True, reason=REMIND_SEED)
def test_remind_a_seed_at_the_centroid_gives_the_tumour():
    _seed_goal(_run("remind"))


def test_remind_a_refused_seed_says_what_it_saw():
    r = _run("remind")
    assert r["seeded"] or any("local SDs" in n and "needs" in n for n in r["seed_notes"])


@pytest.mark.parametrize("pid", TCIA)
def test_tcia_automatic_detection_never_targets_outside_the_tumour(pid):
    _never_outside(_auto(pid))


# Faint rim-enhancing tumours found by the ring-backed pass alone (benchmarks/RESULTS.md, "ring-backed pass"):
# measured Dice 0.70 / 0.63 / 0.55, 98 / 94 / 88 % of the target inside the reference and 100 % within 5 voxels of
# it; the floors are 0.1 under the measured values.
TCIA_RINGS = {"09/Pre": 0.6, "04/Pre": 0.53, "01/Post": 0.45}


def _found_on_pass(case: str, floor: float, *says: str) -> None:
    """The one automatic target is the tumour (never outside it, Dice >= floor) and a note names the pass."""
    r = _auto(case)
    (les,) = r["auto"]
    _never_outside(r)
    assert _dice(les.enhancing, r["ref"]) >= floor
    assert any(all(s in n for s in says) for n in r["auto_notes"])


@pytest.mark.parametrize("case", sorted(TCIA_RINGS))
def test_tcia_a_faint_ring_is_found_on_the_ring_backed_pass(case):
    _found_on_pass(case, TCIA_RINGS[case], "second, ring-backed pass")


# Tumours whose fragments pass every shape test but stand only 5.0 / 5.0 / 3.2 local SDs above their surroundings
# (the first pass needs 6), found on the dominance-backed last pass as the only compact mass grown from them
# (benchmarks/RESULTS.md, "dominance-backed pass"): measured Dice 0.76 / 0.77 / 0.57, 90 / 91 / 60 % of the target
# inside the reference and 100 % within 5 voxels of it; the floors are 0.1 under the measured values.
TCIA_DOMINANT = {"03/Pre": 0.65, "03/Post": 0.66, "06/Post": 0.46}


@pytest.mark.parametrize("case", sorted(TCIA_DOMINANT))
def test_tcia_a_moderately_enhancing_mass_is_found_on_the_dominance_backed_pass(case):
    _found_on_pass(case, TCIA_DOMINANT[case], "dominance-backed pass")


# Tumours every earlier pass missed because the brain's level steps between the 5 mm slices, inflating the brain's
# robust SD and every 3-15 mm shell's: on the map with each slice's brain median subtracted one of their structures
# stands the first pass's 6 local SDs (6.5 / 6.8; 4.7 / 5.7 unlevelled), and each is the only compact mass there
# (benchmarks/RESULTS.md, "slice-levelled last pass"): measured Dice 0.81 / 0.72, 89 / 73 % inside the reference,
# 100 / 96.6 % within 5 voxels of it (none found before); the floors are 0.1 under the measured values.
TCIA_LEVELLED = {"04/Post": 0.71, "11/Pre": 0.62}


@pytest.mark.parametrize("case", sorted(TCIA_LEVELLED))
def test_tcia_a_tumour_on_levelled_thick_slices_is_found_on_the_last_pass(case):
    _found_on_pass(case, TCIA_LEVELLED[case], "slice-levelled last pass", "brain level subtracted")


# A large tumour with patchy, moderate enhancement (05 Post: 72 x 47 mm, seeded Dice 0.83) no 50 mm³ structure of
# which reaches the first pass's 4 robust SDs at 2 mm (the only one there is a one-slice skull-base speck); on the map
# smoothed at 6 mm FWHM (the smallest measurable lesion's scale) it stands above 3 robust SDs of that map and grows,
# from 3.1 local SDs, into the only compact mass (benchmarks/RESULTS.md, "coarse-scale last pass"): measured Dice
# 0.63, 98 % inside the reference, 100 % within 5 voxels of it (none found before); the floor is the 0.6.
TCIA_COARSE = {"05/Post": 0.6}


@pytest.mark.parametrize("case", sorted(TCIA_COARSE))
def test_tcia_a_large_moderately_enhancing_tumour_is_found_on_the_coarse_scale_pass(case):
    _found_on_pass(case, TCIA_COARSE[case], "coarse-scale last pass", "6 mm FWHM")


def test_tcia_a_cavity_rim_the_reference_leaves_out_is_not_taken_on_the_levelled_pass():
    # 07 Pre: the enhancing rim round a right frontal cavity (the reference marks bits round it: 5 % of the rim's
    # growth inside the reference, 85 % within 5 voxels) is the only compact mass on the levelled map too, but its
    # structures stand at most 5.3 local SDs there, under the first pass's 6: nothing is taken, and the note says so.
    r = _auto("07/Pre")
    assert r["auto"] == []
    assert any("slice-levelled last pass took none" in n and "needs 6" in n for n in r["auto_notes"])


def test_tcia_an_automatic_target_the_brain_mask_cut_is_completed_like_a_click():
    # 01 Pre: a rim round a cavity open to the posterior surface, 17 % of the reference outside the brain mask. The
    # first-pass target (Dice 0.48) is completed as a reader's click is, across the mask's edge (benchmarks/RESULTS.md,
    # "automatic targets completed like a click"): measured Dice 0.73, 87 % inside the reference, 99.7 % within 5
    # voxels of it; the floor is 0.1 under the measured value.
    r = _auto("01/Pre")
    (les,) = r["auto"]
    _never_outside(r)
    assert _dice(les.enhancing, r["ref"]) >= 0.63


def test_tcia_an_automatic_target_completed_like_a_click_ends_at_its_dimmer_rim():
    # 01 Post: a faint two-lobed tumour found on the ring-backed pass, completed across the brain mask's edge and with
    # the separate pieces of its rim; round what the completion adds, the dimmer rim is taken too, as round the
    # growth's bright part (benchmarks/RESULTS.md, branch l22-auto): measured Dice 0.609 (0.593 without it, under the
    # issue's 0.6), 85 % inside the reference, 100 % within 5 voxels of it.
    r = _auto("01/Post")
    (les,) = r["auto"]
    _never_outside(r)
    assert _dice(les.enhancing, r["ref"]) >= 0.6


# 02 Post is refused by the noise guard: 15 structures counted (limit 10). The count does repeat itself (the tumour is
# 4 of them, one hollow structure on the posterior midline 3), but no general recount measured brings it under the limit
# with a margin without blinding the guard to noise: each connected structure once 13, anatomy-shaped ones left out
# 11, one-slice ones too 10 (that recount reports a thick-slice image of 14 bright specks as "no lesion":
# tests/lesions/test_segment_noise_guard.py), named anatomy (paired, deep midline) left out 8 but 0 of the guard
# phantom's 18 spots (benchmarks/RESULTS.md, branch l23-guard).
TCIA_GUARDED = (
    "refused: 15 separate enhancing candidates (limit 10), and the refusal is right for this pipeline: with the "
    "limit lifted the first pass takes two structures astride the midline (570 and 195 mm³, 28 and 39 mm from the "
    "reference, 0 % within 5 voxels of it; deep_midline_structure reads them as a deep vein, plexus or "
    "circumventricular organ) and the dominance-backed pass, which finds the tumour at Dice 0.80 when they are not "
    "taken, never runs; no recount of the guard alone measured gets under the limit with a margin"
)


@pytest.mark.xfail(strict=True, reason=TCIA_GUARDED)
def test_tcia_an_automatic_target_is_found_past_the_noise_guard():
    r = _auto("02/Post")
    _never_outside(r)
    (les,) = r["auto"]
    assert _dice(les.enhancing, r["ref"]) >= 0.6


def test_tcia_02_post_deep_midline_structures_are_no_targets_even_without_the_noise_guard(monkeypatch):
    # 02 Post's refusal stays (benchmarks/RESULTS.md, branch l23-guard: 15 candidates > 10). Lifting the limit put two
    # deep midline structures (6-9 mm thick, none within 5 voxels of the tumour) as first-pass targets until the first
    # pass set such structures aside as the slice-levelled last pass does (l25-spacing: on 0.8 mm pixels the guard
    # counts under 10 and they were taken). Without the guard the tumour is now found on a later pass.
    import pseudoprog.lesions.segment as segment

    t1c, affine, ref, brain = _load("02/Post")
    with pytest.raises(CannotAssessError, match="15 separate enhancing candidates"):
        segment_lesions(t1c, brain, affine)
    limit = segment.value
    monkeypatch.setattr(
        segment, "value", lambda *k: 100 if k == ("segmentation", "max_automatic_candidates") else limit(*k)
    )
    lesions, notes = segment_lesions(t1c, brain, affine)
    near = ndimage.binary_dilation(ref, iterations=5)
    assert sum("astride the midline" in n for n in notes) == 2, notes
    assert len(lesions) == 1  # measured: 99 % within 5 voxels of the reference, 2516 of its 2887 voxels inside
    assert near[lesions[0].enhancing].mean() >= 0.9


def _marked(cases: list[str], fails: dict[str, str]) -> list:
    return [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=fails[c])) if c in fails else c for c in cases]


# A seeded lesion's dimmer rim is taken round the clearly enhancing tissue the connected step adds, not only round its
# bright part (segment._with_dimmer_rim; benchmarks/RESULTS.md, "dimmer rim round clearly enhancing tissue"):
# measured 0.721 / 0.715 / 0.818, 0.685 / 0.634 / 0.771 without it; the floors lie between.
TCIA_MARGIN = {"01/Pre": 0.70, "06/Pre": 0.67, "03/Post": 0.79}


@pytest.mark.parametrize("case", sorted(TCIA_MARGIN))
def test_tcia_the_dimmer_rim_of_clearly_enhancing_tissue_is_taken(case):
    r = _run(case)
    (les,) = r["seeded"]
    assert _dice(les.enhancing, r["ref"]) >= TCIA_MARGIN[case]


@pytest.mark.parametrize("case", _marked(TCIA_ALL, TCIA_SEED_FAILS))
def test_tcia_a_seed_at_the_centroid_gives_the_tumour(case):
    _seed_goal(_run(case))


@pytest.mark.parametrize("case", _marked([c for c in TCIA_ALL if c not in TCIA_SEED_FAILS], TCIA_DIAMETER_FAILS))
def test_tcia_seeded_diameters_match_the_reference_mask(case):
    r = _run(case)
    (les,) = r["seeded"]
    ours, _ = measure_lesion(les.enhancing, r["affine"], core=les.core)
    ref, _ = measure_lesion(r["ref"], r["affine"], core=core_of(r["ref"]))
    assert ours.long_mm is not None and ref.long_mm is not None
    assert ours.perp_mm is not None and ref.perp_mm is not None
    assert abs(ours.long_mm - ref.long_mm) <= max(3.0, 0.15 * ref.long_mm)
    assert abs(ours.perp_mm - ref.perp_mm) <= max(3.0, 0.15 * ref.perp_mm)


@pytest.mark.parametrize("case", TCIA_ALL)
def test_tcia_a_refused_seed_says_what_it_saw(case):
    r = _run(case)
    assert r["seeded"] or any("local SDs" in n and "needs" in n and "mm round the click" in n for n in r["seed_notes"])


def test_tcia_a_click_in_a_necrotic_core_finds_the_rim_around_it():
    """09/Pre: the centroid of a 70-80 mm rim-enhancing glioblastoma lies in its necrotic core, 20-30 mm from the
    rim; the search widens from 10 to 30 mm and the rim (with the enclosed core) is found (was refused at 2.5 SDs)."""
    r = _run("09/Pre")
    (les,) = r["seeded"]
    assert _dice(les.enhancing, r["ref"]) >= 0.8
    assert les.core.sum() > 0.1 * les.enhancing.sum()


def test_tcia_a_tumour_at_the_cortex_is_inside_the_brain_mask_and_seeded_whole():
    """09/Post: the raw-image brain mask left out 65 % of a large rim-enhancing tumour at the cortex (its shell is half
    skull, so it failed the surrounded test); segmentation then took only the compact tissue beyond the mask that
    touched the lesion (Dice 0.41). The brain mask now takes a bright mass filling a notch of its per-slice convex hull
    (branch l13-mask): 98 % of the reference inside the mask, seeded Dice 0.90, almost nothing beyond the mask."""
    _, _, ref, brain = _load("09/Post")
    assert float(brain[ref].mean()) >= 0.95
    (les,) = _run("09/Post")["seeded"]
    assert _dice(les.enhancing, ref) >= 0.85
    assert (les.enhancing & ~brain).sum() < 100


def test_tcia_a_seed_at_a_lesion_on_the_dura_does_not_follow_the_dura():
    """07/Pre: a bright frontal mass touches the enhancing dura; the seeded mask must not run along it over the
    convexity (it did: 3958 voxels over 9 slices, 44 mm); the mass is about 2000 voxels on slices 10-14."""
    r = _run("07/Pre")
    (les,) = r["seeded"]
    assert les.enhancing.sum() < 2500
    assert np.flatnonzero(les.enhancing.any(axis=(0, 1))).min() >= 9


def test_tcia_clearly_enhancing_tissue_connected_to_the_lesion_is_taken():
    """01/Pre: much of the reference we missed stood a median 2.7 local SDs above the brain, below the lesion's own
    half maximum and further than the dimmer rim's 3 mm band (11 mm from our mask; on 5 mm slices the band never
    reaches the next slice). Tissue 3 local SDs above the brain and connected to the lesion is now taken: 1742 ->
    2681 voxels, 96 % inside the reference (936 of the 939 added voxels in it), Dice 0.33 -> 0.47."""
    r = _run("01/Pre")
    (les,) = r["seeded"]
    assert les.enhancing.sum() > 2400
    # 0.93 before growth across the brain mask's edge (measured 0.92 since, 99.8 % within 3 voxels of the reference).
    assert float(r["ref"][les.enhancing].mean()) >= 0.9
    assert _dice(les.enhancing, r["ref"]) >= 0.45


def test_remind_the_labelled_tumour_barely_enhances():
    """The evidence behind ReMIND's refusal: the labelled glioma's median enhancement stands < 1 local robust SD
    above the brain 3-15 mm around it (measured 0.6), far below the 3 SDs a seed needs: it is not an enhancing
    lesion, and refusing the seed is the correct answer."""
    t1c, affine, ref, brain = _load("remind")
    e = enhancement_map(t1c, brain)
    bg, spread = _shell_background(e, brain, ref, _spacing(affine))
    assert (float(np.median(e[ref])) - bg) / spread < 1.0
    r = _run("remind")
    assert not r["seeded"]
    assert any("local SDs" in n and "needs ≥ 3.0" in n for n in r["seed_notes"])


def test_tcia_a_seeded_lesion_the_brain_mask_cut_is_grown_across_its_edge():
    """02/Pre and 01/Pre: the raw-image brain mask leaves out 45 % and 17 % of the reference (a thin temporal rim at
    the skull base; a rim round a cavity open to the posterior surface), dimmer than the lesion's half maximum, so
    the compact-tissue step beyond the mask did not take it. A reader's seed now grows across the mask's edge
    (segment._across_the_mask_edge: 3 local SDs, within edge_band_mm of the mask, inside its per-slice hull, on the
    lesion's slices, no dural sheet). Measured from the centroid: 02/Pre Dice 0.39 -> 0.48 (768 voxels outside the
    mask, 64 % of them in the reference; 555 and 60 % before), 01/Pre 0.54 -> 0.685 (0 -> 1002 outside, 83 % in the
    reference); 96 % of the 4128 voxels the step adds over the 22 TCIA scans lie within 3 voxels of the reference."""
    for case, floor, before in (("02/Pre", 0.45, 0.39), ("01/Pre", 0.65, 0.54)):
        _, _, ref, brain = _load(case)
        (les,) = _run(case)["seeded"]
        assert _dice(les.enhancing, ref) >= floor, f"{case}: was {before}"
        outside = les.enhancing & ~brain
        assert int(outside.sum()) > 700
        assert float(ref[outside].mean()) >= 0.6
        assert float(ndimage.binary_dilation(ref, iterations=3)[les.enhancing].mean()) >= 0.9


PIECES_OFFSETS = [(0.0, 0.0, 0.0), (5.0, 0.0, 0.0), (-5.0, 0.0, 0.0), (0.0, -5.0, 0.0), (0.0, 0.0, 1.0)]  # voxels


@pytest.mark.parametrize("offset", PIECES_OFFSETS)
def test_tcia_separate_pieces_of_the_lesion_are_taken_from_one_click(offset):
    """01/Pre: pieces of a multilobular tumour's rim (a small ring beside the main one, parts of the upper lobe),
    dimmer than its half maximum and speckled under the 3 SD bar, a few mm from our mask and not connected to it.
    Compact pieces within piece_gap_mm that stand 3 local SDs above the brain once smoothed in-plane are now taken:
    from the centroid 2681 -> 3193 voxels, 98 % of the 512 added inside the reference, Dice 0.47 -> 0.54; from seeds
    5 mm or one slice off +422 to +561 voxels, 98 % inside, Dice +0.05 to +0.07 (+0.01 from 5 mm anterior or one slice
    below, where the
    growth itself reaches further)."""
    t1c, affine, ref, brain = _load("01/Pre")
    point = tuple(float(v) + o for v, o in zip(ndimage.center_of_mass(ref), offset, strict=True))
    (les,), _ = segment_lesions(t1c, brain, affine, seeds=(seed_from_voxels("L1", affine, point=point),))
    # 0.95 before growth across the brain mask's edge, which adds tissue outside the mask around the reference's
    # (whole-tumour) outline: 91.5-93.3 % inside it from these seeds, 99.8 % within 3 voxels of it.
    assert float(ref[les.enhancing].mean()) >= 0.9
    assert _dice(les.enhancing, ref) >= 0.53


# World mm from the reference centroid; each point is still inside the reference.
SKULL_BASE_OFFSETS = [(3.0, 0.0, 0.0), (0.0, 3.0, 0.0), (0.0, 0.0, -3.0)]


@pytest.mark.parametrize("offset_mm", SKULL_BASE_OFFSETS)
def test_tcia_a_click_3_mm_off_does_not_chain_into_the_skull_base_beyond_the_mask(offset_mm):
    """06/Post: from a click 3 mm off the reference centroid the faint temporal lesion grows down to its lowest slices,
    where it touches the skull base; the compact bright tissue beyond the brain mask (segment._with_tissue_beyond) was
    taken as one piece over slices 2-8, reaching the sinus beside the lesion through the slices below it (1740-2432
    voxels; 2037-2781 outside the mask in the end, none in the reference), Dice 0.40-0.45 (the same growth without
    them: 0.65). Tissue beyond the mask is now taken only on the lesion's own slices: measured 0.645-0.648, no voxel
    outside the mask."""
    t1c, affine, ref, brain = _load("06/Post")
    centre = affine @ np.r_[ndimage.center_of_mass(ref), 1.0]
    point = tuple(float(c + o) for c, o in zip(centre[:3], offset_mm, strict=True))
    (les,), _ = segment_lesions(t1c, brain, affine, seeds=(Seed("L1", point_mm=point),))
    assert int((les.enhancing & ~brain).sum()) <= 100
    assert _dice(les.enhancing, ref) >= 0.6


def test_tcia_a_click_between_two_lesions_is_refused_and_told_where_to_click():
    """11/Post: the reference centroid lies in normal brain between two faint ring lesions (9.3 mm from the nearer's
    nearest voxel); the click is refused at every reach (1.0, 1.9, 2.1 local SDs within 10, 20, 30 mm; 1.2, 2.3, 2.8
    with the slices levelled) and the note now says so at each reach and that the click is not on enhancing tissue."""
    r = _run("11/Post")
    assert not r["seeded"]
    (note,) = r["seed_notes"]
    assert "1.0 within 10 mm" in note and "within 20 mm" in note
    assert "the click is not on clearly enhancing tissue" in note


def test_tcia_a_click_beside_two_lesions_is_not_accepted_by_widening_the_levelled_second_look():
    """11/Post, the centroid moved 3 mm in x: refused on the map as it is at 10, 20 and 30 mm, the click was accepted by
    the slice-levelled second look in its 30 mm ball at exactly 3.0 local SDs, and the growth took 16 710 voxels over
    slices 1-18 (Dice 0.19, 892 outside the brain mask). The second look now judges the click's own ball only (every
    other click it accepts on the TCIA scans is accepted within 10 mm: 10 Post), so the click is refused with the
    contrasts it saw."""
    t1c, affine, ref, brain = _load("11/Post")
    centre = affine @ np.r_[ndimage.center_of_mass(ref), 1.0]
    point = (float(centre[0]) + 3.0, float(centre[1]), float(centre[2]))
    lesions, (note,) = segment_lesions(t1c, brain, affine, seeds=(Seed("L1", point_mm=point),))
    assert lesions == []
    assert "brain level subtracted" in note and "the click is not on clearly enhancing tissue" in note


def test_tcia_a_faint_ring_on_thick_slices_is_seeded_after_levelling_the_slices():
    """10/Post: a seed in the core of a small faint ring at the vertex was refused (2.4 local SDs within 10 mm): the
    brain's level steps between its 5 mm slices (medians 0.11 apart), inflating the 3-D shell's SD, while the ring
    stands 3.6-4.3 SDs above the brain on its own slice. A refused reader's seed on thick slices is judged again with
    each slice's brain median subtracted (segment._slice_levelled): measured Dice 0.61, 49 % of the mask in the
    reference, all of it within 3 voxels of it (the floors are under the measured values)."""
    r = _run("10/Post")
    (les,) = r["seeded"]
    near = ndimage.binary_dilation(r["ref"], iterations=3)
    assert float(near[les.enhancing].mean()) >= 0.95
    assert _dice(les.enhancing, r["ref"]) >= 0.5
    assert any("brain level subtracted" in n for n in r["seed_notes"])


def test_tcia_lesions_do_not_move_with_the_header_s_float_rounding():
    """A header's spacing is exact only to float32 precision: TCIA 01 Pre's 1 x 1 x 5 mm read as 2e-7 longer. On that
    lattice distances fall exactly on the segmentation's thresholds (the background shell's 15 mm is three slices, a
    3 mm in-plane disk's radius 1.5 pixels rounds to 2 or to 1), so the rounding, not the image, decided: with the
    same brain mask the seeded lesion's diameters moved by 23 mm (benchmarks/RESULTS.md, session 42). Now a
    distance within 1 µm of its threshold counts as on it (align.mm): the same masks and diameters."""
    t1c, affine, ref, brain = _load("01/Pre")
    read = affine.copy()
    read[:3, :3] *= 1.0 + 2e-7
    centroid = tuple(float(v) for v in ndimage.center_of_mass(ref))
    outcomes = []
    for header in (affine, read):
        seeded, _ = segment_lesions(t1c, brain, header, seeds=(seed_from_voxels("L1", header, point=centroid),))
        auto, _ = segment_lesions(t1c, brain, header)
        m, _ = measure_lesion(seeded[0].enhancing, header, core=seeded[0].core)
        outcomes.append((seeded[0].enhancing, [a.enhancing for a in auto], (m.long_mm, m.perp_mm)))
    (seed_a, auto_a, diam_a), (seed_b, auto_b, diam_b) = outcomes
    assert np.count_nonzero(seed_a ^ seed_b) == 0
    assert len(auto_a) == len(auto_b) >= 1
    assert all(np.count_nonzero(a ^ b) == 0 for a, b in zip(auto_a, auto_b, strict=True))
    assert np.allclose(diam_a, diam_b, atol=0.01)
