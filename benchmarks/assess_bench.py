"""`assess` on the synthetic DICOM patient against the read-once floor, in one run (issue 19).

The floor is the time to read every file of the case once with pydicom, headers and pixels (``dcmread`` +
``pixel_array``): no program that reads DICOM can assess the case faster. ``assess`` and the floor are timed
alternately in the same process (best of ``--repeats``), so a machine shared with other jobs slows both alike;
the ratio is what this benchmark reports. It also counts header parses per file during ``assess`` (in this
process and in the worker processes that parse the large folders).

Run: ``PYTHONPATH=src:. python -m benchmarks.assess_bench [--case DIR] [--repeats R]`` (without ``--case`` it writes
the pseudoprogression phantom as DICOM into a temporary folder first).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pydicom

from pseudoprog.flow import assess, run
from pseudoprog.ingest import dicom

RESULTS = Path(__file__).parent / "results" / "assess.md"


def read_once_floor(case_dir: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds to read every DICOM file of the case once (headers and pixels); and how many files."""
    files = sorted(case_dir.rglob("*.dcm"))
    started, cpu = time.perf_counter(), time.process_time()
    for path in files:
        pydicom.dcmread(path).pixel_array  # noqa: B018 (decoding the pixels is the point)
    return time.perf_counter() - started, time.process_time() - cpu, len(files)


def _cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its finished children (the DICOM parsing workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed_assess(case_dir: Path, out: Path) -> tuple[float, float, list[tuple[str, float]], Counter[str]]:
    """Wall and CPU seconds of one ``assess`` (CPU: all its threads and worker processes), its per-stage times
    (from its progress lines) and header parses per file (in this process, plus one for each file a worker
    process parsed)."""
    shutil.rmtree(out, ignore_errors=True)
    stages: list[tuple[str, float]] = []
    parses: Counter[str] = Counter()
    real = pydicom.dcmread
    real_index = run.file_index
    indexes: list[dicom.FileIndex] = []

    @contextmanager
    def capturing_index(*args, **kwargs):  # type: ignore[no-untyped-def]
        with real_index(*args, **kwargs) as index:
            indexes.append(index)
            yield index

    def counting(fp, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(fp, (str, os.PathLike)):
            parses[str(fp)] += 1
        return real(fp, *args, **kwargs)

    def progress(message: str) -> None:
        if " took " in message:
            name, rest = message.split(" took ")
            stages.append((name, float(rest.split()[0])))

    pydicom.dcmread = counting  # type: ignore[assignment]
    run.file_index = capturing_index  # type: ignore[assignment]
    try:
        started, cpu = time.perf_counter(), _cpu_seconds()
        assess(case_dir, out, progress=progress)
        wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    finally:
        pydicom.dcmread = real  # type: ignore[assignment]
        run.file_index = real_index  # type: ignore[assignment]
    for path in getattr(indexes[0], "parsed", {}):  # (older versions of pseudoprog parse every file here)
        parses[str(path)] += 1
    return wall, cpu, stages, parses


def cold_assess(case_dir: Path, out: Path) -> float:
    """Wall seconds of ``pseudoprog assess`` in a fresh Python process, as a user runs it: the imports (numpy,
    SciPy, SimpleITK, pydicom, highdicom, matplotlib, WeasyPrint, pyradiomics), the compiled kernels loaded from
    numba's cache and every first call are in it; the in-process runs above pay them once, before the first."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pseudoprog.cli", "assess", str(case_dir), "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", type=Path, default=None, help="a DICOM case folder (default: write the phantom)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cold", type=int, default=2, help="runs of the command in a fresh process (0: none)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="assess-bench-"))
    try:
        case_dir = args.case
        if case_dir is None:
            from pseudoprog.phantoms.patient import write_synthetic_case

            case_dir = write_synthetic_case(tmp / "case", scenario="pseudoprogression", fmt="dicom")
        load_start = os.getloadavg()[0]
        floors, runs = [], []
        for _ in range(args.repeats):  # interleaved: floor, assess, floor, assess ...
            floor_wall, floor_cpu, n_files = read_once_floor(case_dir)
            floors.append((floor_wall, floor_cpu))
            runs.append(timed_assess(case_dir, tmp / "out"))
        colds = [cold_assess(case_dir, tmp / "cold") for _ in range(args.cold)]
        floor, floor_cpu = min(floors)
        wall, cpu, stages, parses = min(runs, key=lambda r: r[0])
        n_dicom = {str(p) for p in case_dir.rglob("*.dcm")}
        per_file = Counter(parses[f] for f in n_dicom)
        ratio = wall / floor
        lines = [
            "# `assess` vs the read-once floor (synthetic DICOM patient)",
            "",
            f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, pydicom {pydicom.__version__}; load average {load_start:.1f} at start, "
            f"{os.getloadavg()[0]:.1f} at the end (other jobs share the cores).",
            f"Case: {case_dir.name}, {n_files} DICOM files. Best of {args.repeats}, floor and assess interleaved.",
            "",
            "| what | wall (s) | CPU (s) |",
            "|---|---:|---:|",
            f"| read-once floor (pydicom `dcmread` + `pixel_array`, every file) | {floor:.2f} | {floor_cpu:.2f} |",
            f"| `assess` (whole case: ingest, lesions, maps, criteria, evidence, advice, report) | {wall:.2f} "
            f"| {cpu:.2f} |",
            *(f"| — {name} | {sec:.1f} | |" for name, sec in stages),
            "",
            f"**Ratio assess / floor: {ratio:.1f}×** wall (target ≤ 3×, goal 2.5×); CPU seconds (all threads) "
            f"{cpu / floor_cpu:.1f}× (with the DICOM parsing workers' CPU). All floors (wall): "
            + ", ".join(f"{f[0]:.2f}" for f in floors)
            + "; all assess (wall): "
            + ", ".join(f"{r[0]:.2f}" for r in runs)
            + ".",
            "",
            # A host whose speed drifts from minute to minute moves the best floor and the best assess apart; each
            # assess over the floor read just before it is steadier.
            "Paired ratios (each assess over the floor read just before it): "
            + ", ".join(f"{r[0] / f[0]:.2f}" for f, r in zip(floors, runs, strict=True))
            + f"; median **{statistics.median(r[0] / f[0] for f, r in zip(floors, runs, strict=True)):.1f}×**.",
            "",
            *(
                [
                    f"A fresh process (`python -m pseudoprog.cli assess`, as a user runs it, best of {len(colds)}): "
                    f"**{min(colds):.2f} s, {min(colds) / floor:.1f}× the floor** (all: "
                    + ", ".join(f"{c:.2f}" for c in colds)
                    + "); the difference from the in-process best is the imports, the kernels loaded from numba's "
                    "cache and the first calls.",
                    "",
                ]
                if colds
                else []
            ),
            "DICOM header parses per file during `assess` (pydicom `dcmread` in this process, plus the files the "
            "worker processes parsed): "
            + ", ".join(f"{k}× for {v} files" for k, v in sorted(per_file.items()))
            + ".",
        ]
        text = "\n".join(lines) + "\n"
        print(text)
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
