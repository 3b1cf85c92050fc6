"""Lesions on real scans (issue 13): brain-mask Dice and lesion Dice/diameters against reference masks.

Run from the repository with ../shared/data beside it:
    PYTHONPATH=src:. python -m benchmarks.lesions_real_bench [--lesions] [--spacing=X,Y,Z] [--brats-grid=X,Y,Z]
        [--box=MM] [--brain-mask=deepbet] [CASE]
(--lesions: only the lesion table; a substring such as "06/" or "Post" limits it to those cases.
--spacing: the voxel size assumed for the TCIA scans, in-plane x, y and slice in mm (default 1,1,5; their true size
was lost). --brats-grid: BraTS (1 mm isotropic) resampled to that grid first, e.g. 0.5,0.5,1 (in-plane halved,
bilinear) or 1,1,3 (thick slices, the mean of 3 slices); the reference is resampled the same way, >= 0.5. Integer
factors only. A summary line follows the table: automatic Dice >= 0.6, targets outside the reference, seeded
Dice >= 0.75, refusals. --box=MM: instead, a reader's box on every scan, the reference's bounding box widened by MM.
--brain-mask=deepbet: every scan's brain mask made by the optional deepbet extra instead of the classical method.)
Prints markdown tables (copied into benchmarks/RESULTS.md). Nothing from the data is written.
"""

from __future__ import annotations

import time
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from pseudoprog.align.brainmask import brain_mask, classical_brain_mask
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


def _brats(case: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A BraTS case's z-scored T1c, affine, FLAIR and enhancing reference (label 4)."""
    d = DATA / "real-glioma-labelled" / case
    t1c, aff = _load(d / "T1c_subtrMeanDivStd.nii.gz")
    return t1c, aff, _load(d / "Flair_subtrMeanDivStd.nii.gz")[0], _load(d / "OTMultiClass.nii.gz")[0].astype(int) == 4


def _resample(vol: np.ndarray, aff: np.ndarray, grid: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``vol`` on a 1 mm grid brought to ``grid``: 0.5 mm finer (linear) or an integer factor coarser (mean)."""
    out, new = np.asarray(vol, dtype=np.float32), aff.copy()
    for ax, mm in enumerate(grid):
        if mm < 1.0:  # linear at the original voxels and half-way between them (factor 2 only)
            if abs(mm - 0.5) > 1e-6:
                raise ValueError("finer grids: 0.5 mm only")
            lo = np.moveaxis(out, ax, 0)
            up = np.empty((2 * lo.shape[0] - 1, *lo.shape[1:]), dtype=np.float32)
            up[0::2], up[1::2] = lo, 0.5 * (lo[:-1] + lo[1:])
            out = np.moveaxis(up, 0, ax)
            new[:3, ax] *= 0.5
        elif mm > 1.0:  # the mean of k slices: a k mm slice profile, centred on the middle one
            k = round(mm)
            lo = np.moveaxis(out, ax, 0)
            n = lo.shape[0] // k
            out = np.moveaxis(lo[: n * k].reshape(n, k, *lo.shape[1:]).mean(axis=1), 0, ax)
            new[:3, 3] += new[:3, ax] * (k - 1) / 2.0
            new[:3, ax] *= k
    return np.ascontiguousarray(out), new


def lesions(
    only: str = "",
    spacing: tuple[float, float, float] = (1.0, 1.0, 5.0),
    brats_grid: tuple[float, ...] = (),
    brain_method: str = "classical",
) -> None:
    """The per-case table of issue 13: every real scan the validation tests use, loaded the same way.

    BraTS: z-scored T1c with FLAIR, label 4 (enhancing) as reference. ReMIND: the DICOM T1c and its SEG.
    TCIA BTP: every patient Pre and Post, assumed 1 x 1 x 5 mm (tests/validation/test_lesions_real_more.py) unless
    ``spacing`` says otherwise. "near" is the share of the least-near automatic target within 5 voxels of the
    reference (the tests' bar: >= 90 %; below it the target is counted "outside"). ``brats_grid``: see the module doc.
    """
    from tests.validation.test_lesions_real_more import TCIA_ALL, tcia_scan
    from tests.validation.test_lesions_real_more import _load as load_more

    print(
        "| case | automatic: result | auto Dice | seeded Dice | seeded L × P (mm) | reference L × P (mm) | "
        "time brain / auto / seed (s) |\n|---|---|---|---|---|---|---|"
    )
    tally: list[tuple[bool, bool, bool, bool, bool]] = []
    mask_refused = 0  # scans whose brain mask the product refuses (implausible volume at this voxel size)
    cases = ["brats_2013_pat0001_1", "brats_2013_pat0002_1", "brats_2013_pat0004_1", "remind", *TCIA_ALL]
    for case in cases:
        if only and only not in case:
            continue
        t0 = time.perf_counter()
        flair = None
        if case.startswith("brats"):
            t1c, aff, flair, ref = _brats(case)
            if brats_grid:
                flair = _resample(flair, aff, brats_grid)[0]
                ref = _resample(ref.astype(np.float32), aff, brats_grid)[0] >= 0.5
                t1c, aff = _resample(t1c, aff, brats_grid)
            brain, _ = brain_mask(Volume(t1c, aff))
        elif case.startswith("remind") or spacing == (1.0, 1.0, 5.0):
            t1c, aff, ref, brain = load_more(case)
        else:
            t1c, aff, ref = tcia_scan(case)
            for ax, mm in enumerate(spacing):
                aff[:3, ax] *= mm / np.linalg.norm(aff[:3, ax])
            try:
                brain, _ = brain_mask(Volume(t1c, aff))
            except CannotAssessError as exc:  # the product stops here; the lesion stage is run on the mask anyway
                print(f"<!-- {case}: {exc} -->")
                brain, mask_refused = classical_brain_mask(Volume(t1c, aff)), mask_refused + 1
        if brain_method != "classical":
            brain, _ = brain_mask(Volume(t1c, aff), method=brain_method)
        tally.append(_lesion_row(case, t1c, aff, ref, flair, brain, time.perf_counter() - t0))
    auto = sum(r[0] for r in tally)
    print(
        f"\nSummary ({len(tally)} scans; TCIA at {' x '.join(f'{v:g}' for v in spacing)} mm"
        + (f", BraTS at {' x '.join(f'{v:g}' for v in brats_grid)} mm" if brats_grid else "")
        + f"): automatic Dice >= 0.6 on {auto}, a target outside its reference (< 90 % near) on "
        f"{sum(r[1] for r in tally)}, automatic refused on {sum(r[2] for r in tally)}, seeded Dice >= 0.75 on "
        f"{sum(r[3] for r in tally)}, seed refused on {sum(r[4] for r in tally)}; brain mask refused on {mask_refused}",
        flush=True,
    )


def _lesion_row(
    name: str, t1c: np.ndarray, aff: np.ndarray, ref: np.ndarray, flair: np.ndarray | None, brain: np.ndarray, tb: float
) -> tuple[bool, bool, bool, bool, bool]:
    """Print one row; return (auto Dice >= 0.6, a target < 90 % near, refused, seeded Dice >= 0.75, seed refused)."""
    near = ndimage.binary_dilation(ref, iterations=5)
    t0 = time.perf_counter()
    best, outside, refused = 0.0, False, False
    try:
        auto, notes = segment_lesions(t1c, brain, aff, flair=flair)
        if auto:
            nears = [float(near[a.enhancing].mean()) for a in auto]
            outside = min(nears) < 0.9
            best = max(_dice(a.enhancing, ref) for a in auto)
            res = f"{len(auto)} target(s), A1 {100 * nears[0]:.0f} % near" + (
                f", least {100 * min(nears):.0f} %" if len(auto) > 1 else ""
            )
            adice = f"{_dice(auto[0].enhancing, ref):.2f}"
        else:
            res, adice = f"none: {notes[0][:70] if notes else ''}", "—"
    except CannotAssessError as exc:
        res, adice, refused = f"refused: {exc}"[:80], "—", True
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
    sd = _dice(seeded[0].enhancing, ref) if seeded else 0.0
    return best >= 0.6, outside, refused, sd >= 0.75, not seeded


def boxes(only: str = "", margin_mm: float = 3.0) -> None:
    """A reader's box on every real scan: the reference's bounding box widened by ``margin_mm`` (a box round what
    the reader sees), seeded as a box. Dice, RANO diameters and the share of the mask outside the reference's own
    bounding box (what the margin allowed)."""
    from tests.validation.test_lesions_real_more import TCIA_ALL
    from tests.validation.test_lesions_real_more import _load as load_more

    from pseudoprog.lesions.segment import Seed

    print(
        f"| case | box seed (+{margin_mm:g} mm): Dice | L × P (mm) | reference L × P (mm) | outside the reference's "
        "box | time (s) |\n|---|---|---|---|---|---|"
    )
    met = 0
    cases = ["brats_2013_pat0001_1", "brats_2013_pat0002_1", "brats_2013_pat0004_1", "remind", *TCIA_ALL]
    for case in [c for c in cases if only in c]:
        flair = None
        if case.startswith("brats"):
            t1c, aff, flair, ref = _brats(case)
            brain, _ = brain_mask(Volume(t1c, aff))
        else:
            t1c, aff, ref, brain = load_more(case)
        idx = np.argwhere(ref)
        lo, hi = idx.min(axis=0), idx.max(axis=0)
        corners = np.array([[a, b, c, 1.0] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
        world = (corners @ aff.T)[:, :3]
        box = (tuple(world.min(axis=0) - margin_mm), tuple(world.max(axis=0) + margin_mm))
        t0 = time.perf_counter()
        seeded, notes = segment_lesions(t1c, brain, aff, flair=flair, seeds=(Seed("L1", box_mm=box),))
        ts = time.perf_counter() - t0
        rm, _ = measure_lesion(ref, aff, core=core_of(ref))
        ref_diam = f"{rm.long_mm:.1f} × {rm.perp_mm:.1f}" if rm.long_mm and rm.perp_mm else "not measurable"
        if not seeded:
            print(
                f"| {case} | refused: {notes[0][-90:] if notes else ''} | — | {ref_diam} | — | {ts:.0f} |", flush=True
            )
            continue
        mask = seeded[0].enhancing
        sm, _ = measure_lesion(mask, aff, core=seeded[0].core)
        own = np.zeros_like(mask)
        own[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1, lo[2] : hi[2] + 1] = True
        met += _dice(mask, ref) >= 0.75
        diam = f"{sm.long_mm:.1f} × {sm.perp_mm:.1f}" if sm.long_mm and sm.perp_mm else "not measurable"
        out = 100.0 * float((mask & ~own).sum()) / max(1, int(mask.sum()))
        print(f"| {case} | {_dice(mask, ref):.3f} | {diam} | {ref_diam} | {out:.0f} % | {ts:.0f} |", flush=True)
    print(f"\nBox seeds (+{margin_mm:g} mm): Dice >= 0.75 on {met}", flush=True)


if __name__ == "__main__":
    import sys

    if "--lesions" not in sys.argv and not any(a.startswith("--box=") for a in sys.argv):
        brain_masks()
        print()

    def _mm(flag: str) -> tuple[float, ...]:
        given = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith(f"--{flag}=")), "")
        return tuple(float(v) for v in given.split(",")) if given else ()

    if _mm("box"):
        boxes(next((a for a in sys.argv[1:] if not a.startswith("--")), ""), margin_mm=_mm("box")[0])
        sys.exit(0)
    lesions(
        next((a for a in sys.argv[1:] if not a.startswith("--")), ""),
        spacing=_mm("spacing") or (1.0, 1.0, 5.0),  # type: ignore[arg-type]
        brats_grid=_mm("brats-grid"),
        brain_method=next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--brain-mask=")), "classical"),
    )
