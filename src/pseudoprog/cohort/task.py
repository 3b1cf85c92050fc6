"""The task a worker runs for one case: the case's own process under a time-out and a memory bound,
its outputs written to a temporary folder and renamed into place with a done-marker (never half).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import write_json

DONE_FILE = "cohort-done.json"
LOG_FILE = "cohort-log.txt"
POLL_S = 0.25  # how often the watchdog samples the case's time and memory


@dataclass(frozen=True)
class CaseJob:
    """What a worker needs to run one case (plain data: it travels to the worker by pickle)."""

    name: str
    case_dir: str
    out_root: str  # the cohort's cases/ folder (shared by client and workers)
    input_hash: str
    timeout_s: float
    memory_limit_bytes: int
    profile: str | None = None
    deidentify: str | None = None  # "shift" | "remove": the case's outputs de-identified (see report.deidentify)
    secret: str = ""  # the cohort's de-identification secret (same pseudonyms and shift for every case)


def read_done(folder: Path) -> dict[str, Any] | None:
    """The done-marker of a published case folder, or None (absent or unreadable = not finished)."""
    try:
        return json.loads((folder / DONE_FILE).read_text())
    except (OSError, ValueError):
        return None


def _tree_usage(proc: Any) -> tuple[int, float]:
    """(resident bytes, CPU seconds) of a process and its children, as far as they can be read now."""
    import psutil

    rss, cpu = 0, 0.0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0, 0.0
    for p in procs:
        try:
            rss += p.memory_info().rss
            t = p.cpu_times()
            cpu += t.user + t.system
        except psutil.Error:
            pass
    return rss, cpu


def _kill_group(popen: subprocess.Popen) -> None:
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    popen.wait()


def _reason(tmp: Path, code: int) -> str:
    try:
        err = json.loads((tmp / "cohort-error.json").read_text())
        return f"{err['kind']}: {err['message']}"
    except (OSError, ValueError, KeyError):
        pass
    if code < 0:
        return f"the case's process died from signal {signal.Signals(-code).name}"
    return f"the case's process exited with status {code} and no result (see {LOG_FILE})"


def run_case(job: CaseJob) -> dict[str, Any]:
    """Run one case and publish ``out_root/<name>``; returns its done-marker. Never raises for the case's faults."""
    import psutil

    out_root = Path(job.out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = out_root / f".partial-{job.name}-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    started = time.monotonic()
    peak, cpu = 0, 0.0
    status, reason = "ok", None
    env = {**os.environ, "PSEUDOPROG_COHORT_PARENT": str(os.getpid())}
    # One thread per case (BLAS, numba and ITK's filters): the worker runs one case at a time on its core, so N
    # workers use N cores and do not contend for them.
    env.update(
        {
            k: "1"
            for k in (
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS",
                "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS",
                "PSEUDOPROG_CASE_THREADS",
            )
        }
    )
    cmd = [sys.executable, "-m", "pseudoprog.cohort.one", job.case_dir, str(tmp), job.profile or ""]
    if job.deidentify:
        from .one import SECRET_ENV

        cmd.append(job.deidentify)
        env[SECRET_ENV] = job.secret
    with (tmp / LOG_FILE).open("wb") as log:
        popen = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        proc = psutil.Process(popen.pid)
        while True:
            code = popen.poll()
            if code is not None:
                break
            rss, cpu_now = _tree_usage(proc)
            peak, cpu = max(peak, rss), max(cpu, cpu_now)
            if time.monotonic() - started > job.timeout_s:
                _kill_group(popen)
                status, reason = "error", f"timed out after {job.timeout_s:g} s (the case's process was stopped)"
                break
            if peak > job.memory_limit_bytes:
                _kill_group(popen)
                status = "error"
                reason = f"exceeded the memory limit of {job.memory_limit_bytes / 2**30:.2f} GiB (stopped)"
                break
            time.sleep(POLL_S)
    if status == "ok" and popen.returncode != 0:
        status, reason = "error", _reason(tmp, popen.returncode)
    if status == "ok" and not (tmp / "assessment.json").is_file():
        status, reason = "error", "the case's process ended without writing assessment.json"
    if job.deidentify and reason:  # an error names files of the case folder: not its name, dates or ids
        from ..report.deidentify import Deidentifier

        deid = Deidentifier(dates=job.deidentify, secret=job.secret)
        deid.forget(Path(job.case_dir).name)
        reason = deid.text(reason.replace(job.case_dir, "CASE_DIR"))
    done = {
        "case": job.name,
        "case_dir": None if job.deidentify else job.case_dir,  # a folder name often carries the patient's
        "input_hash": job.input_hash,
        "status": status,
        "error": reason,
        "seconds": round(time.monotonic() - started, 2),
        "peak_rss_bytes": int(peak),
        "cpu_seconds": round(cpu, 2),  # sampled every POLL_S: the last fraction of a second is not counted
        "worker_pid": os.getpid(),
        "finished": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }
    if status != "ok":
        _keep_only_log(tmp)
    write_json(tmp / DONE_FILE, done)  # last file in: a folder without it is never taken as finished
    publish(tmp, out_root / job.name)
    return done


def _keep_only_log(tmp: Path) -> None:
    """An error row keeps the log and the error, not a partial report that could be mistaken for a result."""
    for child in tmp.iterdir():
        if child.name in (LOG_FILE, "cohort-error.json"):
            continue
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def publish(tmp: Path, target: Path) -> None:
    """Move a finished temporary folder into place: the old one aside, the new one in, the old one removed."""
    for attempt in range(3):  # another attempt at the same case (a worker wrongly presumed dead) may race us
        old = None
        if target.exists():
            old = target.with_name(f".old-{target.name}-{uuid.uuid4().hex[:12]}")
            with contextlib.suppress(FileNotFoundError):
                os.replace(target, old)
        try:
            os.replace(tmp, target)
        except OSError:
            if attempt == 2:
                raise
            continue
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return
