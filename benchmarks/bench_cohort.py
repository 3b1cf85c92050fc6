"""Cohort throughput: 8 synthetic cases on a LocalCluster with 1 and with 2 workers (``pseudoprog cohort``).

``python -m benchmarks.bench_cohort [--out DIR]`` builds 8 light synthetic patients (two seeds of each of the
four scenarios; structural series on the 64 × 72 × 24 grid of 3 × 3 × 6 mm the tests use), runs the cohort
with 1 worker, then with 2 (fresh output folders, so nothing is reused), and prints wall time, throughput,
the ratio, the per-case cost and the peak memory of each worker's case processes (from the done-markers,
sampled every 0.25 s), with the machine and its load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from pseudoprog.phantoms.anatomy import Grid
from pseudoprog.phantoms.patient import SCENARIOS, write_synthetic_case

GRID = Grid(shape=(64, 72, 24), spacing_mm=(3.0, 3.0, 6.0))
SEEDS = (7, 8)


def build(root: Path) -> Path:
    cases = root / "cases"
    for seed in SEEDS:
        for name in SCENARIOS:
            write_synthetic_case(
                cases / f"{name}-{seed}", scenario=name, fmt="nifti", seed=seed, grid=GRID, sequences=("structural",)
            )
    return cases


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(cases: Path, out: Path, workers: int) -> dict:
    from pseudoprog.cohort import run_cohort

    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = run_cohort(cases, out, workers=workers, memory_limit="4GiB", write_report=False)
    wall = time.perf_counter() - t0
    if result.failed:
        raise RuntimeError(f"cases failed: {[(n, result.done[n]['error']) for n in result.failed]}")
    per_worker: dict[int, int] = {}
    for marker in result.done.values():
        pid = int(marker["worker_pid"])
        per_worker[pid] = max(per_worker.get(pid, 0), int(marker["peak_rss_bytes"]))
    seconds = [float(m["seconds"]) for m in result.done.values()]
    cpu = [float(m["cpu_seconds"]) for m in result.done.values()]
    return {
        "workers": workers,
        "wall_s": wall,
        "cases": len(result.done),
        "cases_per_hour": 3600.0 * len(result.done) / wall,
        "median_case_s": statistics.median(seconds),
        "median_case_cpu_s": statistics.median(cpu),
        "peak_mib_per_worker": sorted(v / 2**20 for v in per_worker.values()),
        "load_before": load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        cases = build(root)
        results = [run(cases, root / f"out-{n}", n) for n in (1, 2)]
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}")
    print(
        "| workers | wall (s) | cases/hour | median case wall (s) | median case CPU (s) | peak MiB per worker "
        "| load avg before |"
    )
    print("|---:|---:|---:|---:|---:|---|---:|")
    for r in results:
        peaks = ", ".join(f"{p:.0f}" for p in r["peak_mib_per_worker"])
        print(
            f"| {r['workers']} | {r['wall_s']:.1f} | {r['cases_per_hour']:.0f} | {r['median_case_s']:.1f} "
            f"| {r['median_case_cpu_s']:.1f} | {peaks} "
            f"| {r['load_before']:.1f} |"
        )
    ratio = results[1]["cases_per_hour"] / results[0]["cases_per_hour"]
    print(f"throughput ratio 2 workers / 1 worker: {ratio:.2f} (goal ≥ 1.7 on 2 idle cores)")
    print(f"per-case cost with 1 worker: {results[0]['wall_s'] / results[0]['cases']:.1f} s wall")


if __name__ == "__main__":
    main()
