"""Lesions on real scans (issue 13): brain-mask Dice and lesion Dice/diameters against reference masks.

Run from the repository with ../shared/data beside it:
    PYTHONPATH=src python -m benchmarks.lesions_real_bench
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


def lesions() -> None:
    print(
        "| case | automatic: result | auto Dice | seeded Dice | seeded L × P (mm) | reference L × P (mm) | "
        "time brain / auto / seed (s) |\n|---|---|---|---|---|---|---|"
    )
    for case in ("brats_2013_pat0001_1", "brats_2013_pat0002_1", "brats_2013_pat0004_1"):
        d = DATA / "real-glioma-labelled" / case
        t1c, aff = _load(d / "T1c_subtrMeanDivStd.nii.gz")
        flair = _load(d / "Flair_subtrMeanDivStd.nii.gz")[0]
        et = _load(d / "OTMultiClass.nii.gz")[0].astype(int) == 4
        _lesion_row(case, t1c, aff, et, flair)
    root = DATA / "tcia-brain-tumor-progression-t1c"
    for pid in sorted(p.name for p in root.iterdir() if p.is_dir()):
        t1c, aff = _load(root / pid / "Pre_Scan_T1.nii.gz")
        ref = _load(root / pid / "Pre_Mask.nii.gz")[0] > 0
        _lesion_row(f"TCIA BTP {pid} Pre (voxel size lost)", t1c, aff, ref, None)


def _lesion_row(name: str, t1c: np.ndarray, aff: np.ndarray, ref: np.ndarray, flair: np.ndarray | None) -> None:
    t0 = time.perf_counter()
    try:
        brain, _ = brain_mask(Volume(t1c, aff))
    except CannotAssessError as exc:  # e.g. a header that lost the voxel size: no adult brain has that volume
        print(f"| {name} | brain mask refused: {exc} | — | — | — | — | {time.perf_counter() - t0:.0f} / — / — |")
        return
    tb = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        auto, notes = segment_lesions(t1c, brain, aff, flair=flair)
        if auto:
            res = f"{len(auto)} target(s), {100 * float(ref[auto[0].enhancing].mean()):.0f} % of A1 in the reference"
            adice = f"{_dice(auto[0].enhancing, ref):.2f}"
        else:
            res, adice = f"refused: {notes[0] if notes else ''}", "—"
    except CannotAssessError as exc:
        res, adice = f"refused: {exc}"[:90], "—"
    ta = time.perf_counter() - t0
    centroid = tuple(float(v) for v in ndimage.center_of_mass(ref))
    t0 = time.perf_counter()
    seeded, snotes = segment_lesions(t1c, brain, aff, flair=flair, seeds=(seed_from_voxels("L1", aff, point=centroid),))
    ts = time.perf_counter() - t0
    rm, _ = measure_lesion(ref, aff, core=core_of(ref))
    if seeded:
        sm, _ = measure_lesion(seeded[0].enhancing, aff, core=seeded[0].core)
        sdice, sdiam = f"{_dice(seeded[0].enhancing, ref):.2f}", f"{sm.long_mm:.1f} × {sm.perp_mm:.1f}"
    else:
        sdice, sdiam = "refused", snotes[0][:60] if snotes else ""
    print(
        f"| {name} | {res} | {adice} | {sdice} | {sdiam} | {rm.long_mm:.1f} × {rm.perp_mm:.1f} | "
        f"{tb:.0f} / {ta:.0f} / {ts:.0f} |"
    )


if __name__ == "__main__":
    brain_masks()
    print()
    lesions()
