"""Lesions on more real scans (issue 13): ReMIND-022 (DICOM T1c + DICOM SEG) and TCIA Brain-Tumor-Progression.

- ../shared/data/real-glioma-dicom-remind: a real oblique 3D post-contrast T1 (176 slices, 0.98 x 0.98 x
  1.0 mm) and a manual DICOM SEG of a small glioma (799 voxels). The SEG has no source-image references,
  so it is mapped geometrically (each frame's ImagePositionPatient through the T1c's geometry).
- ../shared/data/tcia-brain-tumor-progression-t1c: post-contrast T1 with tumour masks; the voxel size was
  lost (stored as 1 mm). We assume 1 x 1 x 5 mm (in-plane as stored, 5 mm slices, typical of the
  DSC-matched T1post of that collection); Dice is in voxels and does not depend on it, only the seed's
  search ball does. Pre-treatment-response scans of five patients (01, 03, 05, 07, 09) keep the test short.

Checks: automatic detection never puts a target outside the reference (≥ 90 % of an automatic lesion inside
the reference dilated by 5 mm) or refuses / finds nothing and says so; a seed at the reference centroid gives
Dice ≥ 0.75 (strict xfail with the measured value where not met) or a refusal that states the contrast it saw.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import ndimage

from pseudoprog.align.brainmask import brain_mask
from pseudoprog.case import Volume
from pseudoprog.errors import CannotAssessError
from pseudoprog.lesions.segment import NOT_RELIABLE, seed_from_voxels, segment_lesions

from ..conftest import shared_data

pytestmark = pytest.mark.validation

# Measured on this branch (benchmarks/RESULTS.md, "Lesions on real scans").
REMIND_SEED = (
    "seed refused: the peak in the seed region stands 0.8 local SDs above the surrounding brain (needs 3): "
    "this glioma barely enhances (PROVENANCE: mean T1c 156 inside vs ~170 for bright brain)"
)
TCIA = ["01", "03", "05", "07", "09"]
TCIA_SEED_FAILS = {
    "01": "seeded Dice 0.55",
    "03": "seeded Dice 0.74",
    "07": "seeded Dice 0.00 (a 310-voxel reference mask; cause not investigated)",
    "09": "seed refused: peak 2.5 local SDs (needs 3)",
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
def _run(name: str) -> dict:
    if name == "remind":
        t1c, affine, ref = _load_remind()
    else:
        import nibabel as nib

        root = shared_data("tcia-brain-tumor-progression-t1c", name)
        img = nib.load(str(root / "Pre_Scan_T1.nii.gz"))
        t1c = np.asarray(img.dataobj, dtype=np.float32)
        ref = np.asarray(nib.load(str(root / "Pre_Mask.nii.gz")).dataobj) > 0
        affine = img.affine.copy()
        affine[:3, 2] *= 5.0 / np.linalg.norm(affine[:3, 2])  # the assumed 5 mm slices (module docstring)
    brain, _ = brain_mask(Volume(t1c, affine))
    try:
        auto, auto_notes = segment_lesions(t1c, brain, affine)
    except CannotAssessError as exc:
        auto, auto_notes = [], [str(exc)]
    centroid = tuple(float(v) for v in ndimage.center_of_mass(ref))
    seeded, seed_notes = segment_lesions(t1c, brain, affine, seeds=(seed_from_voxels("L1", affine, point=centroid),))
    return {"ref": ref, "auto": auto, "auto_notes": auto_notes, "seeded": seeded, "seed_notes": seed_notes}


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
    _never_outside(_run("remind"))


@pytest.mark.xfail(strict=True, reason=REMIND_SEED)
def test_remind_a_seed_at_the_centroid_gives_the_tumour():
    _seed_goal(_run("remind"))


def test_remind_a_refused_seed_says_what_it_saw():
    r = _run("remind")
    assert r["seeded"] or any("local SDs" in n and "needs" in n for n in r["seed_notes"])


@pytest.mark.parametrize("pid", TCIA)
def test_tcia_automatic_detection_never_targets_outside_the_tumour(pid):
    _never_outside(_run(pid))


@pytest.mark.parametrize(
    "pid",
    [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=TCIA_SEED_FAILS[p])) if p in TCIA_SEED_FAILS else p
        for p in TCIA
    ],
)
def test_tcia_a_seed_at_the_centroid_gives_the_tumour(pid):
    _seed_goal(_run(pid))
