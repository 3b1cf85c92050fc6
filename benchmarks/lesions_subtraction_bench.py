"""Automatic detection with a pre-contrast T1 (the T1c − T1 path) on real scans, through the product path (l25-sub).

1. The two TCGA-LGG cases of ../shared/data/tcga-lgg-brats-toolkit as a user gives them (T1, T1c, T2, FLAIR in a
   session folder) and without the T1: what is found, where, and the first notes (why).
2. Lesions of known extent inserted into the real T1c only (tests/validation/test_lesions_subtraction.py,
   ``insert_lesion``: real noise kept, partial volume at the edges, × the local white matter), in a folder with the
   T1 (the product registers it onto the T1c) and without it (T1c alone): Dice of the best target against the inserted
   truth, what found it, and how many other targets (on FG-6692, whether they lie on its own ring-enhancing lesion).
   A control inserts the same ball into the T1 too (bright before contrast): with the T1 it must not be taken.

    PYTHONPATH=src:. python -m benchmarks.lesions_subtraction_bench [real|inserted] [CASE-SUBSTRING]

Prints markdown tables (copied into benchmarks/RESULTS.md). Images are written to temporary folders only.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tests.validation.test_lesions_subtraction import (
    _brain,
    _dice,
    _load,
    brain_point,
    case_folder,
    insert_lesion,
    tcga_files,
)

from pseudoprog.errors import CannotAssessError
from pseudoprog.ingest import ingest_case
from pseudoprog.lesions.analysis import analyse_case

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


if __name__ == "__main__":
    args = sys.argv[1:]
    what = args[0] if args else "all"
    if what in ("real", "all"):
        real()
    if what in ("inserted", "all"):
        inserted(args[1] if len(args) > 1 else "")
