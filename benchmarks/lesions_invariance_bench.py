"""Lesions on real scans (issue 13): are the outcomes invariant to things that should not matter?

Every real scan of ``lesions_real_bench --lesions`` (BraTS x 3, ReMIND, TCIA x 22) is run as loaded and under
transformations a correct program's outcome must not depend on, and each is compared with the untransformed run:

- intensity: the image (and FLAIR) times 0.01, times 1000 plus 500, and z-scored over the volume (BraTS, already
  z-scored: plus 5 and times 100 plus 1000 instead);
- ``flipLR-vox`` / ``flipAP-vox``: the voxel array reversed along the grid axis nearest left-right (anterior-posterior)
  with the affine changed to match, i.e. the same head in world space stored the other way round;
- ``mirrorLR`` / ``mirrorAP``: the array reversed with the affine kept, i.e. the mirror-image head (the tumour on the
  other side, the head facing the other way);
- ``permute``: the same head stored with its grid axes in another order (axes (2, 0, 1), the affine's columns
  permuted to match: a slice axis stored first, as a sagittal or coronal series stores it);
- ``tiltLR+20`` / ``tiltSI+15``: the same voxels with the header turned 20° about the left-right world axis (15°
  about the superior-inferior one) through the image's centre: an oblique acquisition or a head turned in the scanner;
- ``hdr+2e-7`` / ``tiltLR+20f32``: the header as a NIfTI file gives it back (the affine in float32), its axes 2e-7
  longer (the spacings an oblique grid's float32 columns give: 5 mm read as 5.000001 mm), or ``tiltLR+20``'s affine
  rounded to float32: a distance exactly on a threshold (three 5 mm slices are 15 mm) must not fall either side by it;
- ``seed±x`` etc. (seeded path only): the seed moved 3 mm in world space from the reference centroid along each world
  axis, where the moved point is still inside the reference (with the core it encloses, as a ring's centroid is).

The brain mask is computed again on every transformed image (as the program does). Dice is taken on the transformed
grid against the transformed reference; "near" is the share of the first automatic target within 5 voxels of it.

Run from the repository with ../shared/data beside it:
    PYTHONPATH=src:. python -m benchmarks.lesions_invariance_bench [--only T1,T2] [--seeds] [CASE-SUBSTRING]
(--only: a comma-separated list of transformation names; --seeds: also the seed offsets.) Prints a markdown table,
one row per scan and transformation; nothing from the data is written.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from benchmarks.lesions_real_bench import DATA, _dice, _load
from pseudoprog.align.brainmask import brain_mask
from pseudoprog.case import Volume
from pseudoprog.errors import CannotAssessError
from pseudoprog.lesions.measure import measure_lesion
from pseudoprog.lesions.segment import NOT_RELIABLE, core_of, seed_from_voxels, segment_lesions

BRATS = ("brats_2013_pat0001_1", "brats_2013_pat0002_1", "brats_2013_pat0004_1")


@dataclass
class Scan:
    t1c: np.ndarray
    affine: np.ndarray
    ref: np.ndarray
    flair: np.ndarray | None


@dataclass
class Outcome:
    auto: str  # "target", "none", "not reliable", "refused"
    auto_dice: float | None
    near: float | None
    seed_dice: float | None
    diam: tuple[float, float] | None
    brain_vox: int
    seconds: float


def load(case: str) -> Scan:
    if case.startswith("brats"):
        d = DATA / "real-glioma-labelled" / case
        t1c, aff = _load(d / "T1c_subtrMeanDivStd.nii.gz")
        flair = _load(d / "Flair_subtrMeanDivStd.nii.gz")[0]
        ref = _load(d / "OTMultiClass.nii.gz")[0].astype(int) == 4
        return Scan(t1c, aff, ref, flair)
    from tests.validation.test_lesions_real_more import _load as load_more

    t1c, aff, ref, _ = load_more(case)
    return Scan(t1c, aff, ref, None)


def _flip(scan: Scan, axis: int, *, keep_affine: bool) -> Scan:
    aff = scan.affine.copy()
    if not keep_affine:  # new index i maps to old index n - 1 - i: the same world position
        f = np.eye(4)
        f[axis, axis], f[axis, 3] = -1.0, scan.t1c.shape[axis] - 1
        aff = aff @ f

    def fl(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.flip(a, axis=axis))

    return Scan(fl(scan.t1c), aff, fl(scan.ref), None if scan.flair is None else fl(scan.flair))


def _world_axis(affine: np.ndarray, world: int) -> int:
    """The grid axis whose direction is nearest the world axis ``world`` (0 = left-right, 1 = anterior-posterior)."""
    cols = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    return int(np.argmax(np.abs(cols[world])))


def _permute(scan: Scan, order: tuple[int, int, int]) -> Scan:
    aff = scan.affine.copy()
    aff[:, :3] = scan.affine[:, list(order)]

    def tr(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.transpose(a, order))

    return Scan(tr(scan.t1c), aff, tr(scan.ref), None if scan.flair is None else tr(scan.flair))


def _tilted(scan: Scan, world_axis: int, degrees: float) -> Scan:
    """The same voxels with the header turned by ``degrees`` about a world axis through the image's centre: an
    oblique acquisition (slices prescribed along the head, e.g. AC-PC) or a head turned in the scanner."""
    from scipy.spatial.transform import Rotation

    centre = scan.affine @ np.array([*(np.array(scan.t1c.shape) - 1) / 2.0, 1.0])
    turn = np.eye(4)
    turn[:3, :3] = Rotation.from_euler("xyz"[world_axis], degrees, degrees=True).as_matrix()
    turn[:3, 3] = centre[:3] - turn[:3, :3] @ centre[:3]
    return Scan(scan.t1c, turn @ scan.affine, scan.ref, scan.flair)


def _header_rounded(scan: Scan, *, scale: float = 1.0) -> Scan:
    """The same voxels with the header as a file gives it back: the affine in float32 (NIfTI's sform), and with
    ``scale`` its axes that much longer (1 + 2e-7: the spacings an oblique grid's float32 columns give)."""
    aff = scan.affine.copy()
    aff[:3, :3] *= scale
    return Scan(scan.t1c, aff.astype(np.float32).astype(np.float64), scan.ref, scan.flair)


def _scaled(scan: Scan, f: Callable[[np.ndarray], np.ndarray]) -> Scan:
    return Scan(
        f(scan.t1c).astype(np.float32),
        scan.affine,
        scan.ref,
        None if scan.flair is None else f(scan.flair).astype(np.float32),
    )


def _zscored(a: np.ndarray) -> np.ndarray:
    return (a - a.mean()) / a.std()


def transforms(case: str) -> dict[str, Callable[[Scan], Scan]]:
    out: dict[str, Callable[[Scan], Scan]] = {}
    if case.startswith("brats"):
        out["+5"] = lambda s: _scaled(s, lambda a: a + 5.0)
        out["x100+1000"] = lambda s: _scaled(s, lambda a: a * 100.0 + 1000.0)
    else:
        out["x0.01"] = lambda s: _scaled(s, lambda a: a * 0.01)
        out["x1000+500"] = lambda s: _scaled(s, lambda a: a * 1000.0 + 500.0)
        out["z"] = lambda s: _scaled(s, _zscored)
    out["flipLR-vox"] = lambda s: _flip(s, _world_axis(s.affine, 0), keep_affine=False)
    out["flipAP-vox"] = lambda s: _flip(s, _world_axis(s.affine, 1), keep_affine=False)
    out["mirrorLR"] = lambda s: _flip(s, _world_axis(s.affine, 0), keep_affine=True)
    out["mirrorAP"] = lambda s: _flip(s, _world_axis(s.affine, 1), keep_affine=True)
    out["permute"] = lambda s: _permute(s, (2, 0, 1))
    out["tiltLR+20"] = lambda s: _tilted(s, 0, 20.0)
    out["tiltSI+15"] = lambda s: _tilted(s, 2, 15.0)
    out["hdr+2e-7"] = lambda s: _header_rounded(s, scale=1.0 + 2e-7)
    out["tiltLR+20f32"] = lambda s: _header_rounded(_tilted(s, 0, 20.0))
    return out


def run(
    scan: Scan, *, auto: bool = True, offset_mm: np.ndarray | None = None, brain: np.ndarray | None = None
) -> Outcome | None:
    t0 = time.perf_counter()
    if brain is None:
        brain, _ = brain_mask(Volume(scan.t1c, scan.affine))
    a, adice, near = "—", None, None
    if auto:
        try:
            found, notes = segment_lesions(scan.t1c, brain, scan.affine, flair=scan.flair)
            if found:
                a, adice = "target", _dice(found[0].enhancing, scan.ref)
                near = float(ndimage.binary_dilation(scan.ref, iterations=5)[found[0].enhancing].mean())
            else:
                a = "not reliable" if NOT_RELIABLE in notes else "none"
        except CannotAssessError:
            a = "refused"
    centroid = np.asarray(ndimage.center_of_mass(scan.ref))
    point = centroid
    if offset_mm is not None:
        point = centroid + np.linalg.solve(scan.affine[:3, :3], offset_mm)
        idx = tuple(int(v) for v in np.rint(point))
        filled = scan.ref | core_of(scan.ref)  # a ring's centroid lies in its core: moved within ring and core
        if not all(0 <= i < n for i, n in zip(idx, scan.ref.shape, strict=True)) or not filled[idx]:
            return None
    seed = seed_from_voxels("L1", scan.affine, point=tuple(float(v) for v in point))
    seeded, _ = segment_lesions(scan.t1c, brain, scan.affine, flair=scan.flair, seeds=(seed,))
    sdice, diam = None, None
    if seeded:
        sdice = _dice(seeded[0].enhancing, scan.ref)
        m, _ = measure_lesion(seeded[0].enhancing, scan.affine, core=seeded[0].core)
        diam = (m.long_mm, m.perp_mm) if m.long_mm and m.perp_mm else None
    return Outcome(a, adice, near, sdice, diam, int(brain.sum()), time.perf_counter() - t0)


def _f(v: float | None, fmt: str = ".3f") -> str:
    return "—" if v is None else format(v, fmt)


def _auto_text(o: Outcome) -> str:
    if o.auto != "target":
        return o.auto
    return f"target {_f(o.auto_dice, '.2f')} ({_f(None if o.near is None else 100 * o.near, '.0f')} % near)"


def _diam(o: Outcome) -> str:
    return "—" if o.diam is None else f"{o.diam[0]:.1f} × {o.diam[1]:.1f}"


def _changed(base: Outcome, o: Outcome) -> str:
    flags = []
    if base.auto != o.auto:
        flags.append("AUTO OUTCOME")
    elif base.auto_dice is not None and o.auto_dice is not None and abs(base.auto_dice - o.auto_dice) > 0.01:
        flags.append(f"auto Δ {o.auto_dice - base.auto_dice:+.2f}")
    if (base.seed_dice is None) != (o.seed_dice is None):
        flags.append("SEED OUTCOME")
    elif base.seed_dice is not None and o.seed_dice is not None and abs(base.seed_dice - o.seed_dice) > 0.01:
        flags.append(f"seed Δ {o.seed_dice - base.seed_dice:+.3f}")
    if base.diam and o.diam:
        dl = max(abs(a - b) for a, b in zip(base.diam, o.diam, strict=True))
        if dl > 1.0:
            flags.append(f"diam Δ {dl:.1f} mm")
    if o.auto == "target" and o.near is not None and o.near < 0.9:
        flags.append("TARGET OUTSIDE")
    if base.brain_vox and abs(o.brain_vox - base.brain_vox) > 0.005 * base.brain_vox:
        flags.append(f"brain {100 * (o.brain_vox - base.brain_vox) / base.brain_vox:+.1f} %")
    return ", ".join(flags) or "same"


def main(argv: list[str]) -> None:
    from tests.validation.test_lesions_real_more import TCIA_ALL

    only_t = next((a.split("=", 1)[1] for a in argv if a.startswith("--only=")), "")
    wanted = set(only_t.split(",")) if only_t else None
    seeds = "--seeds" in argv
    sub = next((a for a in argv if not a.startswith("--")), "")
    print(
        "| scan | transformation | automatic | seeded Dice | seeded L × P (mm) | change vs as loaded | time (s) |\n"
        "|---|---|---|---|---|---|---|"
    )
    for case in [*BRATS, "remind", *TCIA_ALL]:
        if sub and sub not in case:
            continue
        scan = load(case)
        brain0, _ = brain_mask(Volume(scan.t1c, scan.affine))
        base = run(scan, brain=brain0)
        assert base is not None
        print(
            f"| {case} | as loaded | {_auto_text(base)} | {_f(base.seed_dice)} | {_diam(base)} | | "
            f"{base.seconds:.0f} |",
            flush=True,
        )
        for name, t in transforms(case).items():
            if wanted is not None and name not in wanted:
                continue
            o = run(t(scan))
            assert o is not None
            print(
                f"| {case} | {name} | {_auto_text(o)} | {_f(o.seed_dice)} | {_diam(o)} | {_changed(base, o)} | "
                f"{o.seconds:.0f} |",
                flush=True,
            )
        if seeds:
            for axis, label in enumerate("xyz"):
                for sign in (-1.0, 1.0):
                    off = np.zeros(3)
                    off[axis] = 3.0 * sign
                    o = run(scan, auto=False, offset_mm=off, brain=brain0)
                    if o is None:
                        continue
                    o.auto, o.auto_dice, o.near = base.auto, base.auto_dice, base.near
                    print(
                        f"| {case} | seed {'+' if sign > 0 else '-'}3 mm {label} | — | {_f(o.seed_dice)} | {_diam(o)} "
                        f"| {_changed(base, o)} | {o.seconds:.0f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main(sys.argv[1:])
