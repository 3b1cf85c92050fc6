"""`pseudoprog cohort --scheduler tcp://HOST:PORT` through the command line: the cases run on the workers of an
existing scheduler (started here on loopback), and a case that passes the per-case memory limit is stopped and
becomes an error row saying so, while the other case completes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from pseudoprog.cohort.one import TEST_ALLOCATE_ENV
from pseudoprog.phantoms.patient import write_synthetic_case

from .conftest import LIGHT_GRID, LoopbackCluster

pytestmark = pytest.mark.slow

LIMIT = "1GiB"  # a light NIfTI case peaks near 0.5 GiB (README, Cohorts)
HOG_MIB = 1536  # what the 'hog' case holds while it runs: past the limit on its own


def test_the_cli_uses_an_existing_scheduler_and_a_memory_hog_becomes_an_error_row(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    pytest.importorskip("pyarrow")
    cases = tmp_path / "cases"
    write_synthetic_case(cases / "light", scenario="stable", fmt="nifti", seed=7, grid=LIGHT_GRID,
                         sequences=("structural",))
    write_synthetic_case(cases / "hog", scenario="stable", fmt="nifti", seed=7, grid=LIGHT_GRID,
                         sequences=("structural",))
    monkeypatch.setenv(TEST_ALLOCATE_ENV, f"hog={HOG_MIB}")  # the workers inherit it; only 'hog' allocates
    logs = tmp_path / "cluster-logs"
    logs.mkdir()
    out = tmp_path / "cohort"
    cluster = LoopbackCluster(logs, n_workers=1)
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        cmd = [sys.executable, "-m", "pseudoprog.cli", "cohort", str(cases), "--out", str(out),
               "--scheduler", cluster.address, "--memory-limit", LIMIT, "--timeout", "600"]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        worker_pid = cluster.workers[0].pid
    finally:
        cluster.stop()
    assert done.returncode == 1, done.stdout + done.stderr  # one failed case
    assert f"cohort on {cluster.address}" in done.stderr
    run = json.loads((out / "cohort-run.json").read_text())
    assert run["cluster"] == {"kind": "scheduler", "address": cluster.address, "workers": 1}
    markers = {n: json.loads((out / "cases" / n / "cohort-done.json").read_text()) for n in ("light", "hog")}
    # Both cases ran in the scheduler's one worker process, not in a cluster of the command's own.
    assert {m["worker_pid"] for m in markers.values()} == {worker_pid}
    assert markers["light"]["status"] == "ok" and markers["light"]["peak_rss_bytes"] < 2**30
    hog = markers["hog"]
    assert hog["status"] == "error" and hog["error"] == "exceeded the memory limit of 1.00 GiB (stopped)"
    assert hog["peak_rss_bytes"] > 2**30
    assert sorted(p.name for p in (out / "cases" / "hog").iterdir()) == ["cohort-done.json", "cohort-log.txt"]
    frame = pd.read_csv(out / "cohort.csv")
    assert frame[frame["case"] == "hog"]["error"].tolist() == [hog["error"]]
    assert (frame[frame["case"] == "light"]["status"] == "ok").all() and (frame["case"] == "light").sum() >= 2
