"""Every real registration the project validates, as the product makes it (issue 13, l24-reg).

- BraTS 2013 pat0001/0002/0004: FLAIR onto T1c of one session (one grid: left alone unless motion shows), and
  pat0001's FLAIR with the head moved 3 mm (data rolled, header kept): error against the known shift.
- Raw TCGA-FG-6692 (unstripped, 0.9 x 0.9 x 5.5 mm): T1 (on the T1c's grid), T2 and FLAIR onto the T1c, brain
  mask of the T1c, one session (same frame of reference). Reference poses: the best of seven dense-metric
  optimisations from seven starts (``REFERENCE``), each checked on rendered overlays (benchmarks/RESULTS.md).
- TCGA-DU-7294 (HD-BET stripped): T1, T2 and FLAIR onto the T1c, as the product registers them.
- TCIA Brain-Tumor-Progression 01-11: the Post T1c (N4-corrected) onto the Pre one (rigid), as ``analyse_case``
  registers a follow-up onto the baseline (assumed 5 mm slices).

    PYTHONPATH=src:. python -m benchmarks.registration_real_bench

Prints one line per registration (kind, accepted, metric before/after, shift at the brain's centre, rotation,
error against the reference where there is one, time). Nothing from the data is written into the repository.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from pseudoprog.align import register
from pseudoprog.align.bias import n4_bias_correct
from pseudoprog.align.brainmask import brain_mask
from pseudoprog.case import Volume

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

# Raw TCGA-FG-6692: shift (mm, RAS) at the centre of the T1c's brain mask and rotation (degrees) of the reference
# poses (best dense Mattes MI of seven optimisations from seven starts; overlays checked by eye).
REFERENCE = {
    "T1": ((-0.1, 1.4, 3.4), 10.5),
    "T2": ((5.5, 0.8, -15.5), 7.4),
    "FLAIR": ((5.6, 2.7, -12.6), 13.6),
}


def _load(path: Path) -> Volume:
    img = nib.load(str(path))
    return Volume(np.asarray(img.dataobj, dtype=np.float32), img.affine)


def _rot(m: np.ndarray) -> float:
    u, _, vt = np.linalg.svd(m[:3, :3])
    r = u @ vt
    return math.degrees(math.acos(float(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))))


def _line(name: str, reg, centre: np.ndarray, seconds: float, ref=None) -> str:
    shift = (reg.fixed_to_moving @ centre - centre)[:3]
    text = (
        f"{name:28s} {reg.kind:8s} accepted={reg.accepted!s:5s} MI {reg.metric_before:.4f} -> {reg.metric_after:.4f}  "
        f"shift@centre {np.round(shift, 1)} rot {reg.rotation_deg:.1f}"
    )
    if ref is not None:
        (t, a) = ref
        rel = reg.fixed_to_moving
        text += f"  err {np.linalg.norm(shift - np.array(t)):.1f} mm / {abs(_rot(rel) - a):.1f} deg(abs diff)"
    return text + f"  {seconds:.1f}s"


def _centre(affine: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return affine @ np.array([*np.argwhere(mask).mean(axis=0), 1.0])


def brats() -> None:
    for case in ("brats_2013_pat0001_1", "brats_2013_pat0002_1", "brats_2013_pat0004_1"):
        root = DATA / "real-glioma-labelled" / case
        t1c, flair = _load(root / "T1c_subtrMeanDivStd.nii.gz"), _load(root / "Flair_subtrMeanDivStd.nii.gz")
        brain = np.asarray(nib.load(str(root / "brainmask.nii.gz")).dataobj) > 0
        c = _centre(t1c.affine, brain)
        t = time.perf_counter()
        reg = register(t1c, flair, fixed_mask=brain, same_frame_of_reference=True)
        print(_line(f"{case} FLAIR", reg, c, time.perf_counter() - t))
        if case.endswith("0001_1"):
            moved = Volume(np.roll(flair.data, 3, axis=1), flair.affine)
            t = time.perf_counter()
            reg = register(t1c, moved, fixed_mask=brain, same_frame_of_reference=True)
            expected = flair.affine[:3, :3] @ np.array([0.0, 3.0, 0.0])
            print(
                _line(f"{case} FLAIR moved 3 mm", reg, c, time.perf_counter() - t)
                + f"  err {np.linalg.norm(reg.translation_mm - expected):.2f} mm"
            )


def tcga() -> None:
    root = DATA / "tcga-lgg-brats-toolkit" / "TCGA-FG-6692_raw"
    one = {s: _load(next(root.glob(f"*_{s}.nii.gz"))) for s in ("t1c", "t1", "t2", "fla")}
    brain, _ = brain_mask(one["t1c"])
    c = _centre(one["t1c"].affine, brain)
    for key, name in (("t1", "T1"), ("t2", "T2"), ("fla", "FLAIR")):
        t = time.perf_counter()
        reg = register(one["t1c"], one[key], fixed_mask=brain, same_frame_of_reference=True)
        print(_line(f"TCGA-FG-6692 raw {name}", reg, c, time.perf_counter() - t, REFERENCE[name]))
    root = DATA / "tcga-lgg-brats-toolkit" / "TCGA-DU-7294" / "hdbet_native-space"
    one = {s: _load(root / f"TCGA-DU-7294_hdbet_native_{s}.nii.gz") for s in ("t1c", "t1", "t2", "fla")}
    brain, _ = brain_mask(one["t1c"])
    c = _centre(one["t1c"].affine, brain)
    for key, name in (("t1", "T1"), ("t2", "T2"), ("fla", "FLAIR")):
        t = time.perf_counter()
        reg = register(one["t1c"], one[key], fixed_mask=brain, same_frame_of_reference=True)
        print(_line(f"TCGA-DU-7294 {name}", reg, c, time.perf_counter() - t))


def tcia() -> None:
    for pid in (f"{i:02d}" for i in range(1, 12)):
        root = DATA / "tcia-brain-tumor-progression-t1c" / pid
        refs = []
        for tp in ("Pre", "Post"):
            img = nib.load(str(root / f"{tp}_Scan_T1.nii.gz"))
            affine = img.affine.copy()
            affine[:3, 2] *= 5.0 / np.linalg.norm(affine[:3, 2])  # the assumed 5 mm slices
            vol = Volume(np.asarray(img.dataobj, dtype=np.float32), affine)
            brain, _ = brain_mask(vol)
            ref, _ = n4_bias_correct(vol, mask=brain)
            refs.append((ref, brain))
        (pre, brain), (post, _) = refs
        c = _centre(pre.affine, brain)
        t = time.perf_counter()
        reg = register(pre, post, kind="rigid", preset="structural", fixed_mask=brain)
        print(_line(f"TCIA {pid} Post onto Pre", reg, c, time.perf_counter() - t))


if __name__ == "__main__":
    brats()
    tcga()
    tcia()
