"""Lesions on real scans (issue 13): brain-mask Dice and lesion Dice/diameters against reference masks.

Run from the repository with ../shared/data beside it:
    PYTHONPATH=src:. python -m benchmarks.lesions_real_bench [--lesions] [CASE-SUBSTRING]
(--lesions: only the lesion table; a substring such as "06/" or "Post" limits it to those cases.)
Prints markdown tables (copied into benchmarks/RESULTS.md). Nothing from the data is written.
"""

from __future__ import annotations

import time
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from pseudoprog.align.brainmask import brain_mask
from pseudoprog.case import Volume
from pseudoprog.errors import CannotAssessError
from pseudoprog.lesions.measure import measure_lesion
from pseudoprog.lesions.segment import core_of, seed_from_voxels, segment_lesions

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float(np.count_nonzero(a & b)) / max(1, int(a.sum() + b.sum()))


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(str(path))
    return np.asarray(img.dataobj, dtype=np.float32), img.affine  # type: ignore[attr-defined]


def brain_masks() -> None:
    print("| image | reference | Dice | volume ours / ref (mL) | error | time (s) |\n|---|---|---|---|---|---|")
    root = DATA / "tcga-lgg-brats-toolkit" / "TCGA-DU-7294"
    for seq in ("t1c", "fla", "t1", "t2"):
        data, aff = _load(root / "hdbet_native-space" / f"TCGA-DU-7294_hdbet_native_{seq}.nii.gz")
        ref = _load(root / "masks_hdbet_native-space" / f"TCGA-DU-7294_hdbet_mask_native_{seq}.nii.gz")[0] > 0
        _row(f"TCGA-DU-7294 {seq} (skull-stripped)", "HD-BET", data, aff, ref)
    for case in ("brats_2013_pat0001_1", "brats_2013_pat0002_1", "brats_2013_pat0004_1"):
        data, aff = _load(DATA / "real-glioma-labelled" / case / "T1c_subtrMeanDivStd.nii.gz")
        ref = _load(DATA / "real-glioma-labelled" / case / "brainmask.nii.gz")[0] > 0
        _row(f"{case} T1c (z-scored, stripped)", "thresholded air", data, aff, ref)


def _row(name: str, refname: str, data: np.ndarray, aff: np.ndarray, ref: np.ndarray) -> None:
    t0 = time.perf_counter()
    mask, _ = brain_mask(Volume(data, aff))
    dt = time.perf_counter() - t0
    vox = float(abs(np.linalg.det(aff[:3, :3]))) / 1000.0
    v, vr = mask.sum() * vox, ref.sum() * vox
    print(
        f"| {name} | {refname} | {_dice(mask, ref):.3f} | {v:.0f} / {vr:.0f} | "
        f"{100 * (v - vr) / vr:+.1f} % | {dt:.1f} |"
    )


def lesions(only: str = "") -> None:
    """The per-case table of issue 13: every real scan the validation tests use, loaded the same way.

    BraTS: z-scored T1c with FLAIR, label 4 (enhancing) as reference. ReMIND: the DICOM T1c and its SEG.
    TCIA BTP: every patient Pre and Post, assumed 1 x 1 x 5 mm (tests/validation/test_lesions_real_more.py).
    "near" is the share of the first automatic target within 5 voxels of the reference (the tests' bar: >= 90 %).
    """
    from tests.validation.test_lesions_real_more import TCIA_ALL
    from tests.validation.test_lesions_real_more import _load as load_more

    print(
        "| case | automatic: result | auto Dice | seeded Dice | seeded L × P (mm) | reference L × P (mm) | "
        "time brain / auto / seed (s) |\n|---|---|---|---|---|---|---|"
    )
    cases = ["brats_2013_pat0001_1", "brats_2013_pat0002_1", "brats_2013_pat0004_1", "remind", *TCIA_ALL]
    for case in cases:
        if only and only not in case:
            continue
        t0 = time.perf_counter()
        flair = None
        if case.startswith("brats"):
            d = DATA / "real-glioma-labelled" / case
            t1c, aff = _load(d / "T1c_subtrMeanDivStd.nii.gz")
            flair = _load(d / "Flair_subtrMeanDivStd.nii.gz")[0]
            ref = _load(d / "OTMultiClass.nii.gz")[0].astype(int) == 4
            brain, _ = brain_mask(Volume(t1c, aff))
        else:
            t1c, aff, ref, brain = load_more(case)
        _lesion_row(case, t1c, aff, ref, flair, brain, time.perf_counter() - t0)


def _lesion_row(
    name: str, t1c: np.ndarray, aff: np.ndarray, ref: np.ndarray, flair: np.ndarray | None, brain: np.ndarray, tb: float
) -> None:
    near = ndimage.binary_dilation(ref, iterations=5)
    t0 = time.perf_counter()
    try:
        auto, notes = segment_lesions(t1c, brain, aff, flair=flair)
        if auto:
            res = f"{len(auto)} target(s), A1 {100 * float(near[auto[0].enhancing].mean()):.0f} % near"
            adice = f"{_dice(auto[0].enhancing, ref):.2f}"
        else:
            res, adice = f"none: {notes[0][:70] if notes else ''}", "—"
    except CannotAssessError as exc:
        res, adice = f"refused: {exc}"[:80], "—"
    ta = time.perf_counter() - t0
    centroid = tuple(float(v) for v in ndimage.center_of_mass(ref))
    t0 = time.perf_counter()
    seeded, snotes = segment_lesions(t1c, brain, aff, flair=flair, seeds=(seed_from_voxels("L1", aff, point=centroid),))
    ts = time.perf_counter() - t0
    rm, _ = measure_lesion(ref, aff, core=core_of(ref))
    if seeded:
        sm, _ = measure_lesion(seeded[0].enhancing, aff, core=seeded[0].core)
        sdice = f"{_dice(seeded[0].enhancing, ref):.3f}"
        sdiam = f"{sm.long_mm:.1f} × {sm.perp_mm:.1f}" if sm.long_mm and sm.perp_mm else "not measurable"
    else:
        sdice, sdiam = "refused", snotes[0][:60] if snotes else ""
    ref_diam = f"{rm.long_mm:.1f} × {rm.perp_mm:.1f}" if rm.long_mm and rm.perp_mm else "not measurable"
    print(f"| {name} | {res} | {adice} | {sdice} | {sdiam} | {ref_diam} | {tb:.0f} / {ta:.0f} / {ts:.0f} |", flush=True)


if __name__ == "__main__":
    import sys

    if "--lesions" not in sys.argv:
        brain_masks()
        print()
    lesions(next((a for a in sys.argv[1:] if not a.startswith("--")), ""))
