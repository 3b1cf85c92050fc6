"""A real dask cluster on loopback and one cohort run over it, shared by the cohort tests.

The fixture starts ``dask scheduler`` and two ``dask worker`` processes (127.0.0.1, free ports, no nanny so a
worker can be killed for good), builds one light synthetic patient per scenario (structural series on a
coarse grid), a broken case and a case that hangs (a FIFO sidecar: reading it blocks, as a dead network mount
would), runs the cohort, reruns it, then kills a worker while two cases are redone. Each case is also assessed
alone for comparison. Every process it starts is stopped at the end. Under pytest-xdist the work is done once
(file lock) and its results are read by every test process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pseudoprog.phantoms.anatomy import Grid
from pseudoprog.phantoms.patient import SCENARIOS, write_synthetic_case

LIGHT_GRID = Grid(shape=(64, 72, 24), spacing_mm=(3.0, 3.0, 6.0))  # as tests/report: small, still measurable
FORMATS = {"pseudoprogression": "dicom"}  # the others as NIfTI: both readers go through the cluster
TIMEOUT_S = 90.0  # 3× a light case on a loaded 2-core machine (10-30 s measured); the hung case reaches it
KILLED = ("stable", "true_progression")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackCluster:
    """``dask scheduler`` + N ``dask worker`` processes on 127.0.0.1; :meth:`stop` ends every one of them."""

    def __init__(self, log_dir: Path, n_workers: int = 2) -> None:
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self._log_dir = log_dir
        env = {**os.environ, "DASK_LOGGING__DISTRIBUTED": "warning"}
        self.procs.append(self._start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], env))
        for _ in range(n_workers):
            w = self._start(
                [
                    "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                    "--no-dashboard", "--memory-limit", "2GiB",
                ],
                env,
            )
            self.workers.append(w)
            self.procs.append(w)
        from dask.distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(n_workers, timeout=120)

    def _start(self, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self._log_dir / f"{args[0]}-{len(self.procs)}.log").open("wb")
        return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log, stderr=subprocess.STDOUT, env=env)

    def kill_worker(self, i: int) -> None:
        self.workers[i].send_signal(signal.SIGKILL)
        self.workers[i].wait()

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def build_cases(root: Path) -> dict[str, Path]:
    cases = {}
    for name in SCENARIOS:
        cases[name] = write_synthetic_case(
            root / name, scenario=name, fmt=FORMATS.get(name, "nifti"), seed=7, grid=LIGHT_GRID,
            sequences=("structural",),
        )
    broken = root / "broken"
    broken.mkdir()
    (broken / "case.yaml").write_text("patient: [never closed\n")
    cases["broken"] = broken
    hung = root / "hung"
    shutil.copytree(cases["stable"], hung)
    sidecar = next(hung.glob("*/T1c.json"))
    sidecar.unlink()
    os.mkfifo(sidecar)
    cases["hung"] = hung
    return cases


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "created"}


def _do_everything(work: Path) -> dict[str, Any]:
    from pseudoprog.cohort import run_cohort

    cases = build_cases(work / "cases")
    labels = work / "labels.csv"
    labels.write_text(
        "case_id,date,outcome\n"
        + "".join(f"{n},,{json.loads((cases[n] / 'truth.json').read_text())['truth']}\n" for n in SCENARIOS)
    )
    out = work / "cohort"
    result: dict[str, Any] = {"out": str(out), "cases": {k: str(v) for k, v in cases.items()}}
    logs = work / "cluster-logs"
    logs.mkdir()
    # The same cases assessed one at a time by the single-case flow, in a process of its own that runs while
    # the hung case holds a worker idle.
    single = work / "single"
    script = (  # `pseudoprog assess` on each case in turn: the public single-case command
        "import subprocess, sys\n"
        "for name, case in zip(sys.argv[1::2], sys.argv[2::2]):\n"
        "    subprocess.run([sys.executable, '-m', 'pseudoprog.cli', 'assess', case, '--out',\n"
        f"                    {str(single)!r} + '/' + name], check=True)\n"
    )
    args = [x for n in SCENARIOS for x in (n, str(cases[n]))]
    with (logs / "single.log").open("wb") as log:
        reference_proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=log, stderr=subprocess.STDOUT)
    cluster = None
    try:
        cluster = LoopbackCluster(logs)
        t0 = time.monotonic()
        first = run_cohort(
            work / "cases", out, scheduler=cluster.address, timeout_s=TIMEOUT_S, labels=labels, memory_limit="2GiB"
        )
        result["first"] = {"computed": first.computed, "skipped": first.skipped, "done": first.done,
                           "seconds": time.monotonic() - t0, "outputs": {k: str(v) for k, v in first.outputs.items()}}
        result["first_assessments"] = {
            n: _strip(json.loads((out / "cases" / n / "assessment.json").read_text()))
            for n in SCENARIOS
            if (out / "cases" / n / "assessment.json").is_file()
        }
        second = run_cohort(work / "cases", out, scheduler=cluster.address, timeout_s=TIMEOUT_S, labels=labels)
        result["rerun"] = {"computed": second.computed, "skipped": second.skipped}
        # Redo two cases and kill a worker once both are running.
        for name in KILLED:
            shutil.rmtree(out / "cases" / name)
        killed: dict[str, Any] = {}

        def killer() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if len(list((out / "cases").glob(".partial-*"))) >= 2:
                    time.sleep(2.0)  # both cases well into their work
                    cluster.kill_worker(0)
                    killed["at"] = time.monotonic()
                    return
                time.sleep(0.2)

        thread = threading.Thread(target=killer)
        thread.start()
        third = run_cohort(work / "cases", out, scheduler=cluster.address, timeout_s=TIMEOUT_S, labels=labels)
        thread.join()
        result["killed"] = {
            "worker_killed": "at" in killed,
            "computed": third.computed,
            "done": third.done,
            "assessments": {n: _strip(json.loads((out / "cases" / n / "assessment.json").read_text()))
                            for n in KILLED if (out / "cases" / n / "assessment.json").is_file()},
            "worker_alive_after": cluster.workers[0].poll() is None,
        }
        assert reference_proc.wait(timeout=900) == 0, (logs / "single.log").read_text()[-3000:]
    finally:
        if cluster is not None:
            cluster.stop()
        if reference_proc.poll() is None:
            reference_proc.kill()
            reference_proc.wait()
    result["cluster_stopped"] = cluster is not None and all(p.poll() is not None for p in cluster.procs)
    result["single"] = {n: _strip(json.loads((single / n / "assessment.json").read_text())) for n in SCENARIOS}
    return result


@pytest.fixture(scope="session")
def cohort_runs(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, Any]:
    """The results of the cluster runs (built once per session, across xdist processes)."""
    pytest.importorskip("distributed")
    pytest.importorskip("pyarrow")
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    work = shared / "cohort-cluster"
    summary = shared / "cohort-cluster.json"
    with (shared / "cohort-cluster.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not summary.exists():
                with contextlib.suppress(FileNotFoundError):
                    shutil.rmtree(work)
                work.mkdir()
                summary.write_text(json.dumps(_do_everything(work), default=str))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return json.loads(summary.read_text())
