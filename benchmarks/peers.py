"""Peers that live outside the project's environment: osipy in its own Python ≥ 3.12 virtualenv.

The virtualenv is made once (``python3.12 -m venv`` + ``pip install osipy`` from PyPI) under
``~/.cache/pseudoprog-bench/osipy-venv`` (outside the repository; override with ``PSEUDOPROG_BENCH_CACHE``) and
reused. :func:`run_osipy` runs :mod:`benchmarks.osipy_peer` in it on arrays written to a temporary ``.npz``.
When the environment cannot be made, the functions say why and the benchmarks fall back to their baselines.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CACHE = Path(os.environ.get("PSEUDOPROG_BENCH_CACHE", Path.home() / ".cache" / "pseudoprog-bench"))
PEER_SCRIPT = Path(__file__).with_name("osipy_peer.py")


def _python312() -> str | None:
    """A Python ≥ 3.12 that runs: a pyenv shim may be on PATH for a version that is not selected (exit 127)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    installed = sorted(pyenv.glob("3.1[2-9]*/bin/python"), reverse=True) if pyenv.is_dir() else []
    for cand in [shutil.which("python3.12"), shutil.which("python3.13"), *map(str, installed)]:
        if cand and subprocess.run([cand, "-c", "import sys"], capture_output=True).returncode == 0:
            return cand
    return None


def osipy_python() -> tuple[str | None, str]:
    """(the osipy environment's python, a note); python is None when the environment cannot be made."""
    venv = CACHE / "osipy-venv"
    py = venv / "bin" / "python"
    if py.exists() and subprocess.run([str(py), "-c", "import osipy"], capture_output=True).returncode == 0:
        return str(py), f"osipy from its own virtualenv {venv}"
    base = _python312()
    if base is None:
        return None, "osipy needs Python ≥ 3.12 and none runs here (python3.12, python3.13, ~/.pyenv/versions/3.1x)"
    venv.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "osipy"], check=True, capture_output=True, timeout=1200)
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"could not make osipy's virtualenv ({type(exc).__name__}: {str(exc)[:200]})"
    return str(py), f"osipy installed from PyPI into {venv}"


def run_osipy(task: str, arrays: dict[str, np.ndarray], *, timeout_s: float = 3600) -> dict[str, np.ndarray] | str:
    """Run one osipy task on ``arrays`` in its own process; the results, or a sentence saying why not."""
    py, note = osipy_python()
    if py is None:
        return note
    with tempfile.TemporaryDirectory(prefix="pseudoprog-osipy-") as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, **arrays)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        proc = subprocess.run(
            [py, str(PEER_SCRIPT), task, str(src), str(dst)], capture_output=True, text=True, timeout=timeout_s, env=env
        )
        if proc.returncode != 0 or not dst.exists():
            last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
            return f"osipy {task} failed: {last}"
        with np.load(dst) as f:
            return {k: f[k] for k in f.files}


def best_of(fn, repeats: int):
    """The fastest of ``repeats`` calls of ``fn`` (seconds) and the last call's result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def best_of_interleaved(fns: dict[str, Any], repeats: int) -> dict[str, tuple[float, float, Any]]:
    """Each function called once per round, round after round (a load that comes and goes on a shared machine
    then slows all of them alike): name → (fastest wall seconds, fastest CPU seconds of this process, last
    result)."""
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    out: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            out[name] = fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {k: (min(wall[k]), min(cpu[k]), out[k]) for k in fns}
