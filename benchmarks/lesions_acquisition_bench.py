"""Lesions on real scans (issue 13): are the outcomes robust to what another scanner or coil brings?

Every real scan of ``lesions_real_bench --lesions`` (BraTS x 3, ReMIND, TCIA x 22, loaded as in
``lesions_invariance_bench``) is run as loaded and under realistic acquisition perturbations of the T1c (and the FLAIR,
BraTS), with the brain mask computed again on the perturbed T1c (as the program does):

- ``biasLR+20`` / ``biasLR-20`` / ``biasAP±20`` / ``biasSI±20`` (and ``±10``): a smooth multiplicative field,
  exponential in a world axis (left-right, anterior-posterior, superior-inferior), whose ratio between the two ends of
  the as-loaded brain mask along that axis is 1.2 (1.1): i.e. 20 % (10 %) peak-to-peak across the brain. ``+``: brighter
  towards +x (left), +y (anterior), +z (superior) in RAS world space, ``-`` the reverse;
- ``centre+20`` / ``centre-20``: a radial field, the centre of the brain 20 % brighter (darker) than its edge
  (an ellipsoid fitted to the brain's extent), as a dielectric 3 T centre-bright profile or a surface-coil array
  (bright periphery) gives; clipped at 1.5 x the brain's half-extent;
- ``snr/2`` / ``snr/3``: noise added so the brain's noise SD doubles (triples): Rician magnitude (a second, imaginary
  channel) on magnitude images, Gaussian on z-scored BraTS (whose constant, skull-stripped background is left constant).
  The scan's own noise SD is estimated inside the brain mask from in-plane neighbour differences (robust: 1.4826 x MAD
  / sqrt 2; texture makes it an over-estimate, so the noise added is if anything more);
- ``gamma0.8`` / ``gamma1.25``: the intensity normalised to [0, 1] over the volume (min to max), raised to that power
  and mapped back: a monotone contrast change.

The RNG is seeded (12345 + scan index) so a run is repeatable. Per scan and perturbation the change against the as
loaded run is flagged: automatic outcome (target / none / not reliable / refused), automatic Dice (> 0.01), **any
automatic target less than 90 % within 5 voxels of the reference ("TARGET OUTSIDE")**, seeded Dice (> 0.01; seed at
the reference centroid), RANO diameters (> 1 mm), brain-mask volume (> 0.5 %), a brain mask the product refuses.

Run from the repository with ../shared/data beside it:
    PYTHONPATH=src:. python -m benchmarks.lesions_acquisition_bench [--only=biasLR+20,snr/2] [--no-seed] [CASE]
Prints a markdown table, one row per scan and perturbation; nothing from the data is written.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from benchmarks.lesions_invariance_bench import BRATS, Outcome, Scan, _diam, _f, load
from benchmarks.lesions_real_bench import _dice
from pseudoprog.align.brainmask import brain_mask
from pseudoprog.case import Volume
from pseudoprog.errors import CannotAssessError
from pseudoprog.lesions.measure import measure_lesion
from pseudoprog.lesions.segment import NOT_RELIABLE, seed_from_voxels, segment_lesions


def _world(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """World (RAS, mm) coordinates of every voxel, shape (3, *shape)."""
    idx = np.indices(shape, dtype=np.float32).reshape(3, -1)
    return (affine[:3, :3].astype(np.float32) @ idx + affine[:3, 3:4].astype(np.float32)).reshape(3, *shape)


def bias_field(brain: np.ndarray, affine: np.ndarray, kind: str, pp: float) -> np.ndarray:
    """A smooth multiplicative field: ``kind`` "x" / "y" / "z" (a gradient along that world axis) or "r" (radial).

    ``pp``: the ratio between the brain's two ends (or its centre and its edge) minus one, signed: 0.2 = 20 % brighter
    towards +axis (the centre), -0.2 the reverse.
    """
    xyz = _world(brain.shape, affine)
    pts = xyz[:, brain]
    lo, hi = pts.min(axis=1), pts.max(axis=1)
    centre, half = (lo + hi) / 2.0, (hi - lo) / 2.0
    g = np.float32(np.log1p(abs(pp)) * np.sign(pp))
    if kind == "r":
        r2 = sum(((xyz[a] - centre[a]) / half[a]) ** 2 for a in range(3))
        u = 1.0 - np.minimum(r2, 1.5**2)  # 1 at the centre, 0 at the brain's edge
    else:
        a = "xyz".index(kind)
        u = (xyz[a] - centre[a]) / (2.0 * half[a])  # -0.5 .. 0.5 across the brain
        u = np.clip(u, -0.75, 0.75)
    return np.exp(g * u).astype(np.float32)


def noise_sd(img: np.ndarray, brain: np.ndarray) -> float:
    """The scan's noise SD inside the brain, from in-plane neighbour differences (1.4826 MAD / sqrt 2)."""
    diffs = []
    for ax in (0, 1):
        d = np.diff(img, axis=ax)
        both = np.logical_and(np.delete(brain, 0, axis=ax), np.delete(brain, -1, axis=ax))
        diffs.append(d[both])
    d = np.concatenate(diffs)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def _constant_background(img: np.ndarray) -> np.ndarray | None:
    vals, counts = np.unique(img[:: max(1, img.size // 200000)], return_counts=True)
    mode = vals[np.argmax(counts)]
    bg = img == mode
    return bg if bg.mean() > 0.2 else None


def _noisy(img: np.ndarray, sd: float, rng: np.random.Generator, *, rician: bool) -> np.ndarray:
    bg = _constant_background(img)
    n1 = rng.normal(0.0, sd, img.shape).astype(np.float32)
    if rician:
        n2 = rng.normal(0.0, sd, img.shape).astype(np.float32)
        out = np.sqrt((img + n1) ** 2 + n2**2)
    else:
        out = img + n1
    if bg is not None:
        out[bg] = img[bg]
    return out.astype(np.float32)


def _gamma(img: np.ndarray, gamma: float) -> np.ndarray:
    lo, hi = float(img.min()), float(img.max())
    return (lo + (hi - lo) * ((img - lo) / (hi - lo)) ** gamma).astype(np.float32)


Perturb = Callable[[Scan, np.ndarray, np.random.Generator], Scan]


def _both(scan: Scan, f: Callable[[np.ndarray], np.ndarray]) -> Scan:
    return Scan(f(scan.t1c), scan.affine, scan.ref, None if scan.flair is None else f(scan.flair))


def perturbations() -> dict[str, Perturb]:
    out: dict[str, Perturb] = {}
    for pp in (20, 10):
        for kind, name in (("x", "LR"), ("y", "AP"), ("z", "SI")):
            for sign in (1, -1):

                def bias(s: Scan, brain: np.ndarray, rng: np.random.Generator, k=kind, v=sign * pp / 100.0) -> Scan:
                    field = bias_field(brain, s.affine, k, v)
                    return _both(s, lambda a: (a - _floor(a)) * field + _floor(a))

                out[f"bias{name}{'+' if sign > 0 else '-'}{pp}"] = bias
        for sign in (1, -1):

            def centre(s: Scan, brain: np.ndarray, rng: np.random.Generator, v=sign * pp / 100.0) -> Scan:
                field = bias_field(brain, s.affine, "r", v)
                return _both(s, lambda a: (a - _floor(a)) * field + _floor(a))

            out[f"centre{'+' if sign > 0 else '-'}{pp}"] = centre
    for k in (2, 3):

        def noise(s: Scan, brain: np.ndarray, rng: np.random.Generator, k=k) -> Scan:
            rician = float(s.t1c.min()) >= 0.0

            def f(a: np.ndarray) -> np.ndarray:
                return _noisy(a, noise_sd(a, brain) * float(np.sqrt(k * k - 1)), rng, rician=rician)

            return _both(s, f)

        out[f"snr/{k}"] = noise
    for gm in (0.8, 1.25):
        out[f"gamma{gm:g}"] = lambda s, brain, rng, gm=gm: _both(s, lambda a: _gamma(a, gm))
    return out


def _floor(a: np.ndarray) -> float:
    """The intensity a field multiplies from: 0 for magnitude images, the background's value for z-scored ones."""
    return min(0.0, float(a.min()))


def run(scan: Scan, *, seed: bool = True, brain: np.ndarray | None = None) -> tuple[Outcome, bool]:
    """The outcome on ``scan`` (Outcome.near: the least-near automatic target); and whether the mask was refused."""
    t0 = time.perf_counter()
    refused_mask = False
    if brain is None:
        try:
            brain, _ = brain_mask(Volume(scan.t1c, scan.affine))
        except CannotAssessError:
            from pseudoprog.align.brainmask import classical_brain_mask

            brain, refused_mask = classical_brain_mask(Volume(scan.t1c, scan.affine)), True
    a, adice, near = "—", None, None
    dil = ndimage.binary_dilation(scan.ref, iterations=5)
    try:
        found, notes = segment_lesions(scan.t1c, brain, scan.affine, flair=scan.flair)
        if found:
            a = "target" if len(found) == 1 else f"{len(found)} targets"
            adice = max(_dice(les.enhancing, scan.ref) for les in found)
            near = min(float(dil[les.enhancing].mean()) for les in found)
        else:
            a = "not reliable" if NOT_RELIABLE in notes else "none"
    except CannotAssessError:
        a = "refused"
    sdice, diam = None, None
    if seed:
        centroid = tuple(float(v) for v in ndimage.center_of_mass(scan.ref))
        seeded, _ = segment_lesions(
            scan.t1c, brain, scan.affine, flair=scan.flair, seeds=(seed_from_voxels("L1", scan.affine, point=centroid),)
        )
        if seeded:
            sdice = _dice(seeded[0].enhancing, scan.ref)
            m, _ = measure_lesion(seeded[0].enhancing, scan.affine, core=seeded[0].core)
            diam = (m.long_mm, m.perp_mm) if m.long_mm and m.perp_mm else None
    return Outcome(a, adice, near, sdice, diam, int(brain.sum()), time.perf_counter() - t0), refused_mask


def changed(base: Outcome, o: Outcome, *, seed: bool, mask_refused: bool) -> str:
    flags = []
    if base.auto != o.auto:
        flags.append(f"AUTO {base.auto} → {o.auto}")
    elif base.auto_dice is not None and o.auto_dice is not None and abs(base.auto_dice - o.auto_dice) > 0.01:
        flags.append(f"auto Δ {o.auto_dice - base.auto_dice:+.2f}")
    if seed:
        if (base.seed_dice is None) != (o.seed_dice is None):
            flags.append("SEED " + ("refused" if o.seed_dice is None else "found"))
        elif base.seed_dice is not None and o.seed_dice is not None and abs(base.seed_dice - o.seed_dice) > 0.01:
            flags.append(f"seed Δ {o.seed_dice - base.seed_dice:+.3f}")
        if base.diam and o.diam:
            dl = max(abs(a - b) for a, b in zip(base.diam, o.diam, strict=True))
            if dl > 1.0:
                flags.append(f"diam Δ {dl:.1f} mm")
    if o.near is not None and o.near < 0.9:
        flags.append("**TARGET OUTSIDE**")
    if mask_refused:
        flags.append("**BRAIN MASK REFUSED**")
    if base.brain_vox and abs(o.brain_vox - base.brain_vox) > 0.005 * base.brain_vox:
        flags.append(f"brain {100 * (o.brain_vox - base.brain_vox) / base.brain_vox:+.1f} %")
    return ", ".join(flags) or "same"


def _text(o: Outcome) -> str:
    if o.auto_dice is None:
        return o.auto
    return f"{o.auto} {_f(o.auto_dice, '.2f')} ({_f(None if o.near is None else 100 * o.near, '.0f')} % near)"


def main(argv: list[str]) -> None:
    from tests.validation.test_lesions_real_more import TCIA_ALL

    only_t = next((a.split("=", 1)[1] for a in argv if a.startswith("--only=")), "")
    wanted = set(only_t.split(",")) if only_t else None
    seed = "--no-seed" not in argv
    sub = next((a for a in argv if not a.startswith("--")), "")
    perts = perturbations()
    if wanted is not None and not wanted <= set(perts):
        raise SystemExit(f"unknown: {sorted(wanted - set(perts))}; known: {sorted(perts)}")
    print(
        "| scan | perturbation | automatic (best Dice, least-near target) | seeded Dice | seeded L × P (mm) | "
        "change vs as loaded | time (s) |\n|---|---|---|---|---|---|---|"
    )
    for i, case in enumerate([*BRATS, "remind", *TCIA_ALL]):
        if sub and sub not in case:
            continue
        scan = load(case)
        brain0, _ = brain_mask(Volume(scan.t1c, scan.affine))
        base, _ = run(scan, seed=seed, brain=brain0)
        print(f"| {case} | as loaded | {_text(base)} | {_f(base.seed_dice)} | {_diam(base)} | | {base.seconds:.0f} |")
        for name, p in perts.items():
            if wanted is not None and name not in wanted:
                continue
            rng = np.random.default_rng(12345 + i)
            o, refused = run(p(scan, brain0, rng), seed=seed)
            print(
                f"| {case} | {name} | {_text(o)} | {_f(o.seed_dice)} | {_diam(o)} | "
                f"{changed(base, o, seed=seed, mask_refused=refused)} | {o.seconds:.0f} |",
                flush=True,
            )


__all__ = ["bias_field", "noise_sd", "perturbations", "run"]

if __name__ == "__main__":
    main(sys.argv[1:])
