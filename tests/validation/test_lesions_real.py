"""Lesions on real scans (issue 13): BRATS 2013/2015 gliomas with expert labels (label 4 = enhancing).

The three cases of ../shared/data/real-glioma-labelled (CC BY-NC-SA: read there, never copied) have
a T1c and a FLAIR only, z-scored inside the brain, with a constant negative background.

Checks, per case:
- the classical brain mask recovers the skull-stripped support (Dice ≥ 0.98 against the provided
  "thresholded air" mask; the background is a constant, not zero);
- automatic detection never puts a target outside the labelled tumour: every automatic lesion has
  ≥ 90 % of its voxels within 2 mm of the tumour core (labels 1, 3, 4: the labels' edge and the
  enhancing margin's partial-volume fringe, one to two voxels, are not "outside"), or detection
  refuses / finds nothing and says so in its notes;
- where automatic detection gives a target, its enhancing Dice is ≥ 0.6 (issue 13);
- a point seed at the centroid of label 4 gives an enhancing Dice ≥ 0.75 and RANO diameters within
  15 % (or 3 mm) of the reference mask's, measured with the same algorithm.
A case that fails is marked ``xfail(strict=True)`` with the measured value, so a fix shows up as an
unexpected pass and the marker must then be removed.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest
from scipy import ndimage

from pseudoprog.align.brainmask import brain_mask
from pseudoprog.case import Volume
from pseudoprog.lesions.measure import measure_lesion
from pseudoprog.lesions.segment import NOT_RELIABLE, core_of, seed_from_voxels, segment_lesions

from ..conftest import shared_data

pytestmark = pytest.mark.validation

CASES = ["brats_2013_pat0001_1", "brats_2013_pat0002_1", "brats_2013_pat0004_1"]
# Measured (see benchmarks/RESULTS.md, "Lesions on real scans"): every goal is met today (seeded Dice 0.87 /
# 0.88 / 0.76, diameters within 15 %; automatic targets: pat0001 Dice 0.87 (its ring, found by the second look),
# pat0004 0.73, pat0002 0.74 on the FLAIR-backed pass (0.70 / 0.70 before branch l22-auto took the dimmer rim round
# what an automatic target's completion adds)); a case that fails later gets a strict xfail here with its measured
# value.
AUTO_DICE_FAILS: dict[str, str] = {}
SEED_DICE_FAILS: dict[str, str] = {}
DIAMETER_FAILS: dict[str, str] = {}


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float(np.count_nonzero(a & b)) / max(1, int(a.sum() + b.sum()))


@functools.cache
def _run(case: str) -> dict:
    import nibabel as nib

    root = shared_data("real-glioma-labelled", case)
    img = nib.load(str(root / "T1c_subtrMeanDivStd.nii.gz"))
    t1c = np.asarray(img.dataobj, dtype=np.float32)
    flair = np.asarray(nib.load(str(root / "Flair_subtrMeanDivStd.nii.gz")).dataobj, dtype=np.float32)
    labels = np.asarray(nib.load(str(root / "OTMultiClass.nii.gz")).dataobj).astype(np.int16)
    ref_brain = np.asarray(nib.load(str(root / "brainmask.nii.gz")).dataobj) > 0
    affine = img.affine
    t0 = time.perf_counter()
    brain, _ = brain_mask(Volume(t1c, affine))
    t_brain = time.perf_counter() - t0
    t0 = time.perf_counter()
    auto, auto_notes = segment_lesions(t1c, brain, affine, flair=flair)
    t_auto = time.perf_counter() - t0
    et = labels == 4
    centroid = tuple(float(v) for v in ndimage.center_of_mass(et))
    t0 = time.perf_counter()
    seeded, seed_notes = segment_lesions(
        t1c, brain, affine, flair=flair, seeds=(seed_from_voxels("L1", affine, point=centroid),)
    )
    t_seed = time.perf_counter() - t0
    return {
        "affine": affine,
        "labels": labels,
        "brain": brain,
        "ref_brain": ref_brain,
        "auto": auto,
        "auto_notes": auto_notes,
        "seeded": seeded,
        "seed_notes": seed_notes,
        "times": (t_brain, t_auto, t_seed),
    }


@pytest.mark.parametrize("case", CASES)
def test_brain_mask_of_a_z_scored_skull_stripped_image(case):
    r = _run(case)
    assert _dice(r["brain"], r["ref_brain"]) >= 0.98


@pytest.mark.parametrize("case", CASES)
def test_automatic_detection_never_targets_outside_the_tumour(case):
    r = _run(case)
    core = np.isin(r["labels"], [1, 3, 4])
    spacing = np.sqrt((r["affine"][:3, :3] ** 2).sum(axis=0))
    near = ndimage.distance_transform_edt(~core, sampling=spacing) <= 2.0
    for les in r["auto"]:
        inside = float(near[les.enhancing].mean())
        assert inside >= 0.9, f"{les.lesion_id}: only {inside:.0%} of its voxels are within 2 mm of the tumour"
    if not r["auto"]:
        assert any(n == NOT_RELIABLE or "found no enhancing lesion" in n for n in r["auto_notes"])


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=AUTO_DICE_FAILS[c])) if c in AUTO_DICE_FAILS else c
        for c in CASES
    ],
)
def test_an_automatic_target_is_the_enhancing_tumour(case):
    r = _run(case)
    et = r["labels"] == 4
    for les in r["auto"]:
        assert _dice(les.enhancing, et) >= 0.6


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=SEED_DICE_FAILS[c])) if c in SEED_DICE_FAILS else c
        for c in CASES
    ],
)
def test_a_seed_at_the_centroid_gives_the_enhancing_tumour(case):
    r = _run(case)
    (les,) = r["seeded"]
    assert _dice(les.enhancing, r["labels"] == 4) >= 0.75


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=DIAMETER_FAILS[c])) if c in DIAMETER_FAILS else c
        for c in CASES
    ],
)
def test_seeded_diameters_match_the_reference_mask(case):
    r = _run(case)
    (les,) = r["seeded"]
    et = r["labels"] == 4
    ours, _ = measure_lesion(les.enhancing, r["affine"], core=les.core)
    ref, _ = measure_lesion(et, r["affine"], core=core_of(et))
    print(f"{case}: ours {ours.long_mm} x {ours.perp_mm} mm, reference {ref.long_mm} x {ref.perp_mm} mm")
    assert ours.long_mm is not None and ref.long_mm is not None
    assert ours.perp_mm is not None and ref.perp_mm is not None
    assert abs(ours.long_mm - ref.long_mm) <= max(3.0, 0.15 * ref.long_mm)
    assert abs(ours.perp_mm - ref.perp_mm) <= max(3.0, 0.15 * ref.perp_mm)


@pytest.mark.parametrize("case", CASES)
def test_a_seed_refused_or_found_says_what_it_saw(case):
    r = _run(case)
    assert len(r["seeded"]) == 1 or any("local SDs" in n for n in r["seed_notes"])


def test_a_ring_enhancing_glioblastoma_is_found_automatically():
    # pat0001: a 31 mL ring whose bright side alone stands out of the brain, as a hollow fragment (solidity 0.14)
    # and faint pieces (2.9-3.4 local SDs); grown like a click, the fragment is the ring round its necrotic core.
    r = _run("brats_2013_pat0001_1")
    assert len(r["auto"]) == 1, r["auto_notes"]
    assert _dice(r["auto"][0].enhancing, r["labels"] == 4) >= 0.8
    assert any("at first not taken" in n and "ring" in n for n in r["auto_notes"])
