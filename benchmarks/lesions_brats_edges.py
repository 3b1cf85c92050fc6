"""Where the lesion stage's masks differ from BraTS label 4 (issue 13; benchmarks/RESULTS.md, branch l20-brats).

Run from the repository with ../shared/data beside it:
    PYTHONPATH=src:. python -m benchmarks.lesions_brats_edges [CASE-SUBSTRING]
For each real-glioma-labelled case (z-scored T1c with FLAIR, loaded as in ``lesions_real_bench``) the seeded lesion
(a click at label 4's centroid) and the automatic target are compared with label 4, voxel by voxel:

- missed label-4 voxels (FN): in our core; under the dimmer-rim bar (``rim_local_sd`` upper-half SDs above the
  brain round the bright part, the bar :func:`segment.grow_lesion` used: recorded, not recomputed), and over it;
  their contrast in units of that bar's background (``z``: 1 = the bar), distance from our mask and from the click,
  share on the label's own edge (the automatic target: against the brain 3-15 mm round the filled target);
- our voxels outside label 4 (FP): by BraTS label (0 background, 1 necrosis, 2 oedema, 3 non-enhancing tumour),
  on our own edge, within 2 mm of label 4;
- the label's edge convention: the share of label 4 among brain voxels one voxel outside our seeded mask, by
  contrast (the same contrast, labelled differently from case to case, is what no fixed bar can follow);
- ceilings: the best Dice any single contrast bar gives inside label 4 dilated by 2 voxels (perfect localisation),
  the bar it needs, and that Dice at our bar (z > 1).
Prints markdown. Nothing from the data is written.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from scipy import ndimage

from benchmarks.lesions_real_bench import DATA, _dice, _load
from pseudoprog.align.brainmask import brain_mask
from pseudoprog.case import Volume
from pseudoprog.lesions import segment as seg

CASES = ("brats_2013_pat0004_1", "brats_2013_pat0001_1", "brats_2013_pat0002_1")


@contextmanager
def _rim_backgrounds() -> Iterator[list[tuple[float, float]]]:
    """The (median, upper-half SD) each :func:`segment.grow_lesion` call judged its dimmer rim against."""
    seen: list[tuple[float, float]] = []
    original = seg._upper_background

    def recording(e: np.ndarray, brain: np.ndarray, region: np.ndarray, spacing: np.ndarray) -> tuple[float, float]:
        out = original(e, brain, region, spacing)
        if sys._getframe(1).f_code.co_name == "grow_lesion":
            seen.append(out)
        return out

    seg._upper_background = recording  # type: ignore[assignment]
    try:
        yield seen
    finally:
        seg._upper_background = original  # type: ignore[assignment]


def _pct(x: np.ndarray) -> str:
    return f"{100 * float(np.mean(x)):.0f} %" if x.size else "—"


def _row(
    case: str, mode: str, les: seg.SegmentedLesion, lab: np.ndarray, e: np.ndarray, bg: tuple[float, float], seed: tuple
) -> str:
    ref = lab == 4
    m, core = les.enhancing, les.core
    z = (e - bg[0]) / bg[1]
    fn, fp = ref & ~m, m & ~ref
    in_core = fn & core
    rest = fn & ~core
    under, over = rest & (z <= 1.0), rest & (z > 1.0)
    d_ours = ndimage.distance_transform_edt(~m)
    d_ref = ndimage.distance_transform_edt(~ref)
    ref_edge = ref & ~ndimage.binary_erosion(ref)
    our_edge = m & ~ndimage.binary_erosion(m)
    idx = np.argwhere(fn)
    d_seed = np.sqrt(((idx - np.asarray(seed)) ** 2).sum(axis=1)) if idx.size else np.zeros(0)
    labels = " / ".join(str(int((fp & (lab == k)).sum())) for k in range(4))
    return (
        f"| {case[11:18]} | {mode} | {_dice(m, ref):.3f} | {int(m.sum())} / {int(ref.sum())} | {int(fn.sum())} | "
        f"{int(in_core.sum())} | {int(under.sum())} (z {np.median(z[under]) if under.any() else 0:.2f}) | "
        f"{int(over.sum())} (z {np.median(z[over]) if over.any() else 0:.2f}) | {_pct(ref_edge[fn])} | "
        f"{_pct(d_ours[fn] <= 1.01)} / {_pct(d_ours[fn] > 10)} | {np.median(d_seed) if d_seed.size else 0:.0f} | "
        f"{int(fp.sum())} | {labels} | {_pct(our_edge[fp])} | {_pct(d_ref[fp] <= 2.01)} |"
    )


def _edges(case: str, m: np.ndarray, core: np.ndarray, lab: np.ndarray, e: np.ndarray, brain: np.ndarray, bg) -> str:
    ref = lab == 4
    z = (e - bg[0]) / bg[1]
    ring = ndimage.binary_dilation(m) & ~m & ~core & brain & (lab > 0)
    shares = []
    for lo, hi in ((-np.inf, 0.0), (0.0, 0.5), (0.5, 1.0)):
        sel = ring & (z > lo) & (z <= hi)
        shares.append(f"{_pct(ref[sel])} of {int(sel.sum())}")
    zone = ndimage.binary_dilation(ref, iterations=2) & brain
    best = max((_dice(zone & (z > t), ref), float(t)) for t in np.arange(-1.0, 4.0, 0.1))
    normal = brain & (lab == 0)
    med0 = float(np.median(e[normal]))
    sd0 = (float(np.percentile(e[normal], 75)) - med0) / 0.6745
    p25 = (float(np.percentile(e[ref], 25)) - med0) / sd0
    bar = (bg[0] + bg[1] - med0) / sd0
    return (
        f"| {case[11:18]} | {' | '.join(shares)} | {best[0]:.3f} at z > {best[1]:.1f} | "
        f"{_dice(zone & (z > 1.0), ref):.3f} | {bar:.2f} | {p25:.2f} |"
    )


def main(only: str = "") -> None:
    rows, edges = [], []
    for case in CASES:
        if only and only not in case:
            continue
        d = DATA / "real-glioma-labelled" / case
        t1c, aff = _load(d / "T1c_subtrMeanDivStd.nii.gz")
        flair = _load(d / "Flair_subtrMeanDivStd.nii.gz")[0]
        lab = _load(d / "OTMultiClass.nii.gz")[0].astype(int)
        brain, _ = brain_mask(Volume(t1c, aff))
        e = seg.enhancement_map(t1c, brain)
        centroid = tuple(float(v) for v in ndimage.center_of_mass(lab == 4))
        with _rim_backgrounds() as seen:
            seeded, _ = seg.segment_lesions(
                t1c, brain, aff, flair=flair, seeds=(seg.seed_from_voxels("L1", aff, point=centroid),)
            )
        rows.append(_row(case, "seeded", seeded[0], lab, e, seen[0], centroid))
        edges.append(_edges(case, seeded[0].enhancing, seeded[0].core, lab, e, brain, seen[0]))
        auto, _ = seg.segment_lesions(t1c, brain, aff, flair=flair)
        if auto:
            # Automatic detection grows many structures: the target is judged against the brain round it.
            filled = seg.fill_holes_3d_and_axial(auto[0].enhancing)
            bg = seg._upper_background(e, brain, filled, seg._spacing(aff))
            rows.append(_row(case, "automatic", auto[0], lab, e, bg, centroid))
        print(rows[-1], file=sys.stderr, flush=True)
    print(
        "| case | mask | Dice | ours / label 4 | missed (FN) | FN in our core | FN under the rim bar (median z) | "
        "FN over it (median z) | FN on the label's edge | FN ≤ 1 mm / > 10 mm from ours | FN from click (mm) | "
        "ours outside (FP) | FP in labels 0 / 1 / 2 / 3 | FP on our edge | FP ≤ 2 mm from label 4 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print(
        "| case | label 4 among voxels 1 mm outside ours (tumour labels), z ≤ 0 | 0 < z ≤ 0.5 | 0.5 < z ≤ 1 | "
        "best single bar within 2 vox of label 4 | Dice there at our bar (z > 1) | our bar in normal-brain SDs | "
        "label 4's 25th percentile in normal-brain SDs |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(edges))


if __name__ == "__main__":
    main(next((a for a in sys.argv[1:] if not a.startswith("--")), ""))
