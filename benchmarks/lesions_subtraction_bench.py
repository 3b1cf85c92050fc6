"""Automatic detection with a pre-contrast T1 (the T1c − T1 path) on real scans, through the product path (l25-sub).

1. The two TCGA-LGG cases of ../shared/data/tcga-lgg-brats-toolkit as a user gives them (T1, T1c, T2, FLAIR in a
   session folder) and without the T1: what is found, where, and the first notes (why).
2. Lesions of known extent inserted into the real T1c only (tests/validation/test_lesions_subtraction.py,
   ``insert_lesion``: real noise kept, partial volume at the edges, × the local white matter), in a folder with the
   T1 (the product registers it onto the T1c) and without it (T1c alone): Dice of the best target against the inserted
   truth, what found it, and how many other targets (on FG-6692, whether they lie on its own ring-enhancing lesion).
   A control inserts the same ball into the T1 too (bright before contrast): with the T1 it must not be taken.
3. ``seeds`` (l26-seedt1): a reader's seed on lesions inserted into the real T1c (solid and ring, near the cortex and
   deep), a point at the centre and a box 5 mm round it, through ``segment_lesions`` with the registered T1 (as the
   product registers it) and without it: Dice against the inserted truth and RANO diameters; a follow-up click (the
   lesion grown or shrunk and moved 3 mm, the click at the earlier centre, as ``_look_at_place`` makes it); and the
   point seed through the product path (case.yaml ``seed``). ``fg-real``: a seed at the centre of FG-6692's own
   enhancing lesion (automatic detection's target), with and without the T1.

    PYTHONPATH=src:. python -m benchmarks.lesions_subtraction_bench [real|inserted|seeds|fg-real] [CASE-SUBSTRING]

Prints markdown tables (copied into benchmarks/RESULTS.md). Images are written to temporary folders only.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tests.validation.test_lesions_seed_t1 import seeded_case_folder
from tests.validation.test_lesions_subtraction import (
    _brain,
    _dice,
    _load,
    brain_point,
    case_folder,
    insert_lesion,
    tcga_files,
)

from pseudoprog.case import SeriesKind
from pseudoprog.errors import CannotAssessError
from pseudoprog.ingest import ingest_case
from pseudoprog.lesions.analysis import analyse_case
from pseudoprog.lesions.measure import measure_lesion
from pseudoprog.lesions.segment import Seed, segment_lesions

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CASES = ["TCGA-DU-7294", "TCGA-FG-6692"]
# (label, position in the brain's box, diameter mm, × local white matter, rim mm or None, also into the T1)
LESIONS = {
    "TCGA-DU-7294": [
        ("solid 20 mm ×1.8", (0.7, 0.45, 0.55), 20.0, 1.8, None, False),
        ("ring 30 mm (5 mm rim) ×1.8", (0.3, 0.6, 0.6), 30.0, 1.8, 5.0, False),
        ("solid 15 mm ×1.6", (0.3, 0.4, 0.7), 15.0, 1.6, None, False),
        ("ring 20 mm (4 mm rim) ×1.5", (0.5, 0.3, 0.6), 20.0, 1.5, 4.0, False),
        ("weak solid 20 mm ×1.2", (0.7, 0.45, 0.55), 20.0, 1.2, None, False),
        ("solid 20 mm ×1.8 in T1c and T1 (bright before contrast)", (0.7, 0.45, 0.55), 20.0, 1.8, None, True),
    ],
    "TCGA-FG-6692": [
        ("solid 20 mm ×1.8", (0.7, 0.45, 0.55), 20.0, 1.8, None, False),
        ("ring 30 mm (5 mm rim) ×1.8", (0.35, 0.35, 0.5), 30.0, 1.8, 5.0, False),
        ("solid 15 mm ×1.6", (0.65, 0.65, 0.65), 15.0, 1.6, None, False),
        ("ring 20 mm (4 mm rim) ×1.5", (0.3, 0.4, 0.7), 20.0, 1.5, 4.0, False),
        ("weak solid 20 mm ×1.2", (0.7, 0.45, 0.55), 20.0, 1.2, None, False),
        ("solid 20 mm ×1.8 in T1c and T1 (bright before contrast)", (0.7, 0.45, 0.55), 20.0, 1.8, None, True),
    ],
}


def analyse(folder: Path):
    """The timepoint's lesions and notes, or the refusal."""
    case = ingest_case(folder, allow_roots=(DATA,)).case
    try:
        result = analyse_case(case)
    except CannotAssessError as exc:
        return None, [f"refused: {exc.reason}"], None
    if result.skipped:
        return None, [f"skipped: {why}" for _, why in result.skipped], None
    (tl,) = result.timepoints.values()
    return tl.lesions, tl.notes, tl


def _where(mask: np.ndarray) -> str:
    c = np.argwhere(mask).mean(axis=0)
    return f"voxel ({c[0]:.0f}, {c[1]:.0f}, {c[2]:.0f})"


def real() -> None:
    print(
        "| case | series | result | targets (voxels, where, found by, confidence, local SDs) | first notes | time (s) |"
    )
    print("|---|---|---|---|---|---|")
    for name in CASES:
        for kinds in (("t1c", "t1", "t2", "fla"), ("t1c", "t2", "fla")):
            with tempfile.TemporaryDirectory(prefix="l25-") as tmp:
                t0 = time.perf_counter()
                lesions, notes, _ = analyse(case_folder(Path(tmp), name, kinds=kinds))
                dt = time.perf_counter() - t0
            result = "refused" if lesions is None else f"{len(lesions)} target(s)"
            targets = "; ".join(
                f"{les.lesion_id} {int(les.enhancing.sum())} vx at {_where(les.enhancing)}, {les.found_by}, "
                f"{les.confidence}, {les.contrast_sd:.1f}"
                for les in lesions or []
            )
            said = " / ".join(n[:160] for n in notes[:3])
            print(f"| {name} | {'+'.join(kinds)} | {result} | {targets or '—'} | {said} | {dt:.0f} |")


def inserted(only: str = "") -> None:
    print(
        "| case | inserted lesion | truth (voxels) | with T1: Dice, found by (confidence) | with T1: other targets | "
        "T1c alone: Dice, found by (confidence) | T1c alone: other targets | time with / alone (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in CASES:
        if only and only not in name:
            continue
        t1c, affine, brain = _brain(name)
        own = None  # FG-6692's own enhancing lesion: the T1c-alone product target without insertion
        if name == "TCGA-FG-6692":
            with tempfile.TemporaryDirectory(prefix="l25-") as tmp:
                lesions, _, _ = analyse(case_folder(Path(tmp), name, kinds=("t1c",)))
            own = np.any([les.enhancing for les in lesions or []], axis=0) if lesions else None
        for label, frac, diameter, ratio, rim, into_t1 in LESIONS[name]:
            centre = brain_point(brain, affine, frac)
            new, truth = insert_lesion(t1c, brain, affine, centre, diameter, ratio, rim)
            t1_new = None
            if into_t1:
                t1, t1_aff = _load(tcga_files(name)["t1"])
                t1_new, _ = insert_lesion(t1, t1 > 0, t1_aff, centre, diameter, ratio, rim)
            cells, times = [], []
            for kinds in (("t1c", "t1"), ("t1c",)):
                with tempfile.TemporaryDirectory(prefix="l25-") as tmp:
                    t0 = time.perf_counter()
                    lesions, notes, _ = analyse(case_folder(Path(tmp), name, kinds=kinds, t1c=new, t1=t1_new))
                    times.append(time.perf_counter() - t0)
                if lesions is None:
                    cells += [f"refused ({notes[0][:90]})", ""]
                    continue
                if not lesions:
                    cells += ["none: " + "; ".join(n[:110] for n in notes[:2]), "0"]
                    continue
                best = max(lesions, key=lambda les: _dice(les.enhancing, truth))
                d = _dice(best.enhancing, truth)
                hit = f"{d:.2f}, {best.found_by} ({best.confidence})" if d > 0 else "0 (not found)"
                others = [les for les in lesions if les is not best or d == 0]
                on_own = sum(1 for les in others if own is not None and bool((les.enhancing & own).any()))
                other = f"{len(others)}" + (f" ({on_own} on its own lesion)" if own is not None and others else "")
                cells += [hit, other]
            print(
                f"| {name} | {label} | {int(truth.sum())} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} | "
                f"{times[0]:.0f} / {times[1]:.0f} |",
                flush=True,
            )


# (label, position in the brain's box, diameter mm, × local white matter, rim mm or None): seeded (l26-seedt1)
SEEDED = [
    ("solid 20 mm ×1.8", (0.7, 0.45, 0.55), 20.0, 1.8, None),
    ("solid 15 mm ×1.6", (0.3, 0.4, 0.7), 15.0, 1.6, None),
    ("ring 30 mm (5 mm rim) ×1.8", (0.3, 0.6, 0.6), 30.0, 1.8, 5.0),
    ("ring 20 mm (4 mm rim) ×1.5", (0.5, 0.3, 0.6), 20.0, 1.5, 4.0),
    ("solid 15 mm ×1.5 near the cortex", (0.12, 0.5, 0.6), 15.0, 1.5, None),
    ("solid 20 mm ×1.6 deep", (0.5, 0.5, 0.5), 20.0, 1.6, None),
    ("ring 20 mm (4 mm rim) ×1.8 near the cortex", (0.85, 0.3, 0.6), 20.0, 1.8, 4.0),
]
# Follow-up clicks: (label, lesion as in SEEDED at the earlier scan, diameter at the follow-up, shift mm along x)
# Lesions of SEEDED also seeded through the product path (ingest and registration take minutes on DU-7294's 1 mm grid)
PRODUCT = {"TCGA-DU-7294": 2, "TCGA-FG-6692": len(SEEDED)}
FOLLOW = [("grown 20 → 26 mm, moved 3 mm", 0, 26.0, 3.0), ("shrunk 20 → 12 mm, moved 3 mm", 0, 12.0, 3.0)]


def registered(name: str):
    """The product's brain mask and its T1 registered onto the T1c (a folder of T1c + T1 through ingest)."""
    with tempfile.TemporaryDirectory(prefix="l26-") as tmp:
        _, _, tl = analyse(case_folder(Path(tmp), name, kinds=("t1c", "t1")))
    return tl.brain, tl.images[SeriesKind.T1]


def seeded_cell(t1c, brain, affine, seed, truth, t1=None, flair=None) -> str:
    """Dice (against ``truth``), voxels and RANO diameters of a seeded lesion, or what the refusal said."""
    try:
        lesions, notes = segment_lesions(t1c, brain, affine, t1=t1, flair=flair, seeds=(seed,))
    except CannotAssessError as exc:
        return f"refused: {exc.reason[:100]}"
    if not lesions:
        return "refused: " + notes[0].split("(", 1)[-1][:110]
    return _lesion_cell(lesions[0].enhancing, lesions[0].core, affine, truth)


def _lesion_cell(enh, core, affine, truth) -> str:
    m, _ = measure_lesion(enh, affine, core=core)
    rano = f"{m.long_mm:.0f} × {m.perp_mm:.0f}" if m.long_mm else "—"
    d = f"**{_dice(enh, truth):.2f}**, " if truth is not None else ""
    return f"{d}{int(enh.sum())} vx, {rano} mm"


def seed_at(centre: np.ndarray, diameter: float, kind: str) -> Seed:
    if kind == "point":
        return Seed("L1", point_mm=(float(centre[0]), float(centre[1]), float(centre[2])))
    half = diameter / 2.0 + 5.0
    lo, hi = centre - half, centre + half
    return Seed("L1", box_mm=((float(lo[0]), float(lo[1]), float(lo[2])), (float(hi[0]), float(hi[1]), float(hi[2]))))


def product_seeded(name: str, kinds, t1c, point: np.ndarray, truth) -> str:
    """A point seed given in case.yaml, through ingest and ``analyse_case``."""
    with tempfile.TemporaryDirectory(prefix="l26-") as tmp:
        lesions, notes, tl = analyse(seeded_case_folder(Path(tmp), name, point, kinds=kinds, t1c=t1c))
    if lesions is None:
        return notes[0][:110]
    seeded = [les for les in lesions if les.lesion_id == "L1"]
    if not seeded:
        return "refused: " + next((n for n in notes if "L1" in n), "no lesion L1")[:110]
    return _lesion_cell(seeded[0].enhancing, seeded[0].core, tl.reference.affine, truth)


def seeds(only: str = "") -> None:
    print("| case | inserted lesion (truth voxels, RANO) | seed | with T1 | T1c alone |")
    print("|---|---|---|---|---|")
    for name in CASES:
        if only and only not in name:
            continue
        t1c, affine, _ = _brain(name)
        brain, t1 = registered(name)
        for n, (label, frac, diameter, ratio, rim) in enumerate(SEEDED):
            centre = brain_point(brain, affine, frac)
            new, truth = insert_lesion(t1c, brain, affine, centre, diameter, ratio, rim)
            m, _ = measure_lesion(truth, affine)
            what = f"{label} ({int(truth.sum())}, {m.long_mm:.0f} × {m.perp_mm:.0f} mm)"
            for kind in ("point", "box"):
                seed = seed_at(centre, diameter, kind)
                cells = [seeded_cell(new, brain, affine, seed, truth, t1=t) for t in (t1, None)]
                print(f"| {name} | {what} | {kind} | {cells[0]} | {cells[1]} |", flush=True)
            if n >= PRODUCT[name]:
                continue
            cells = [product_seeded(name, kinds, new, centre, truth) for kinds in (("t1c", "t1"), ("t1c",))]
            print(f"| {name} | {what} | point, product path | {cells[0]} | {cells[1]} |", flush=True)
        for label, i, diameter, shift in FOLLOW:
            _, frac, before, ratio, rim = SEEDED[i]
            centre = brain_point(brain, affine, frac)
            moved = centre + np.array([shift, 0.0, 0.0])
            new, truth = insert_lesion(t1c, brain, affine, moved, diameter, ratio, rim)
            m, _ = measure_lesion(truth, affine)
            what = f"follow-up: {SEEDED[i][0]} {label} ({int(truth.sum())}, {m.long_mm:.0f} × {m.perp_mm:.0f} mm)"
            click = seed_at(centre, before, "point")
            cells = [seeded_cell(new, brain, affine, click, truth, t1=t) for t in (t1, None)]
            print(f"| {name} | {what} | click at the earlier centre | {cells[0]} | {cells[1]} |", flush=True)


def fg_real() -> None:
    """A seed at the centre of FG-6692's own enhancing lesion (the automatic target), with and without the T1."""
    name = "TCGA-FG-6692"
    t1c, affine, _ = _brain(name)
    with tempfile.TemporaryDirectory(prefix="l26-") as tmp:
        lesions, _, tl = analyse(case_folder(Path(tmp), name, kinds=("t1c", "t1")))
    auto = lesions[0].enhancing
    centre = affine[:3, :3] @ np.argwhere(auto).mean(axis=0) + affine[:3, 3]
    print(f"automatic target: {_lesion_cell(auto, lesions[0].core, affine, None)}")
    masks = {}
    for label, t1 in (("with T1", tl.images[SeriesKind.T1]), ("T1c alone", None)):
        found, notes = segment_lesions(t1c, tl.brain, affine, t1=t1, seeds=(seed_at(centre, 0.0, "point"),))
        masks[label] = found[0].enhancing if found else np.zeros_like(auto)
        cell = _lesion_cell(found[0].enhancing, found[0].core, affine, None) if found else f"refused: {notes}"
        print(f"seed at its centre, {label}: {cell}; Dice against the automatic target {_dice(masks[label], auto):.2f}")
    print(f"Dice with T1 against T1c alone: {_dice(masks['with T1'], masks['T1c alone']):.2f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    what = args[0] if args else "all"
    if what in ("real", "all"):
        real()
    if what in ("inserted", "all"):
        inserted(args[1] if len(args) > 1 else "")
    if what == "seeds":
        seeds(args[1] if len(args) > 1 else "")
    if what == "fg-real":
        fg_real()
