"""Drive a cohort: hash every case, skip the finished ones, send the rest to dask.distributed, gather.

Each case is one task (``pure=False``, one worker thread each, so a worker runs one case at a time).
A worker that dies mid-case has its task rescheduled by the scheduler onto another worker; a case
that kills workers repeatedly ends as an error row. Case outputs live in ``OUT/cases/<name>/`` and are
taken as finished only when their done-marker's input hash equals the current one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..files import write_json
from ..privacy import redact
from ..report.deidentify import Deidentifier
from .cases import CaseEntry, case_hash, find_cases, software_fingerprint
from .task import CaseJob, read_done, run_case

CASES_FOLDER = "cases"
DEFAULT_TIMEOUT_S = 3600.0
DEFAULT_MEMORY = "4GiB"
LOOPBACK = "127.0.0.1"


@dataclass
class CohortRun:
    """What a cohort run did: per-case done-markers, which were computed now and which were skipped."""

    out_dir: Path
    cases: list[CaseEntry]
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    cluster: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        return [n for n, d in self.done.items() if d.get("status") != "ok"]


ProgressFn = Callable[[str, dict[str, Any] | None], None]  # ("start"|"done"|"skip", marker)


def parse_memory(text: str) -> int:
    """'4GiB', '512MB', '2G' or bytes → bytes."""
    from dask.utils import parse_bytes

    try:
        value = int(parse_bytes(text))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"memory limit {text!r} is not a size such as 4GiB or 512MB") from exc
    if value <= 0:
        raise ValueError("memory limit must be positive")
    return value


def run_cohort(
    cases: str | Path | Sequence[CaseEntry],
    out_dir: Path,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_limit: str = DEFAULT_MEMORY,
    profile: Path | None = None,
    retry_errors: bool = False,
    criteria: Sequence[str] | None = None,
    labels: Path | None = None,
    progress: ProgressFn | None = None,
    write_report: bool = True,
    deidentify: str | None = None,
) -> CohortRun:
    """Assess every case on dask.distributed and write cohort.parquet, cohort.csv and cohort.html in ``out_dir``.

    ``scheduler`` (``tcp://HOST:PORT``) uses an existing cluster whose workers see ``out_dir`` and the case
    folders at the same paths; otherwise a LocalCluster of ``workers`` processes on 127.0.0.1 is started
    and stopped. ``memory_limit`` bounds each case's process tree (and each local worker process).
    A case whose done-marker has the current input hash is not run again; ``retry_errors`` reruns error rows.
    ``deidentify`` (``"shift"`` or ``"remove"``) de-identifies every case's outputs as ``assess --deidentify``
    does, with one secret for the cohort (kept in ``OUT/.deidentify-secret``, readable by its owner only: never
    share it), so each case has one pseudonym — its folder, its rows — across reruns; the tables and the page
    then carry pseudonyms and shifted dates only.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if timeout_s <= 0:
        raise ValueError("timeout must be positive (seconds)")
    mem = parse_memory(memory_limit)
    if labels is not None:
        from .table import read_labels

        read_labels(labels)  # a bad labels file is an InputError before any case runs
    if criteria:
        from .html import chosen_criteria

        chosen_criteria(criteria)
    entries = find_cases(Path(cases)) if isinstance(cases, (str, Path)) else list(cases)
    out_dir = Path(out_dir)
    root = out_dir / CASES_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    _clear_partials(root)
    say = progress or (lambda _k, _d: None)
    extra = Path(profile).read_bytes() if profile is not None else b""
    secret, deid = "", None
    if deidentify is not None:
        secret = cohort_secret(out_dir)
        deid = Deidentifier(dates=deidentify, secret=secret)  # a bad option fails here
        entries = [CaseEntry(name=deid.pseudonym(e.name), path=e.path) for e in entries]
        # Another mode or secret gives other outputs: those cases are redone.
        extra += f"\0deidentify={deidentify}:{hashlib.sha256(secret.encode()).hexdigest()}".encode()
    run = CohortRun(out_dir=out_dir, cases=entries)
    jobs: list[CaseJob] = []
    software = software_fingerprint()
    for entry in entries:
        digest = case_hash(entry.path, software_version=software, extra=extra)
        marker = read_done(root / entry.name)
        if marker and marker.get("input_hash") == digest and (marker.get("status") == "ok" or not retry_errors):
            run.done[entry.name] = marker
            run.skipped.append(entry.name)
            say("skip", marker)
            continue
        jobs.append(
            CaseJob(
                name=entry.name,
                case_dir=str(entry.path.resolve()),
                out_root=str(root.resolve()),
                input_hash=digest,
                timeout_s=float(timeout_s),
                memory_limit_bytes=mem,
                profile=str(Path(profile).resolve()) if profile is not None else None,
                deidentify=deidentify,
                secret=secret,
            )
        )
    if jobs:
        _run_jobs(jobs, run, workers=workers, scheduler=scheduler, memory_bytes=mem, say=say)
    _clear_partials(root)
    if write_report:
        from .html import write_cohort_outputs

        run.outputs = write_cohort_outputs(run, criteria=criteria, labels=labels, deidentify=deid)
    write_json(
        out_dir / "cohort-run.json",
        {
            "software_version": __version__,
            "software_fingerprint": software,
            "finished": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "cases": len(entries),
            "computed": run.computed,
            "skipped": run.skipped,
            "failed": run.failed,
            "cluster": run.cluster,
            "timeout_s": timeout_s,
            "memory_limit_bytes_per_case": mem,
            "deidentified": deidentify,
        },
    )
    return run


SECRET_FILE = ".deidentify-secret"


def cohort_secret(out_dir: Path) -> str:
    """The cohort's de-identification secret: read from ``OUT/.deidentify-secret``, or made and kept there (0600)."""
    import secrets

    path = Path(out_dir) / SECRET_FILE
    if path.is_file():
        text = path.read_text(encoding="ascii").strip()
        if len(text) >= 32:
            return text
    text = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text + "\n")
    return text


def _clear_partials(root: Path) -> None:
    """Temporary folders of interrupted runs: never results, removed."""
    for p in root.glob(".partial-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(".old-*"):
        shutil.rmtree(p, ignore_errors=True)


def _run_jobs(
    jobs: list[CaseJob], run: CohortRun, *, workers: int, scheduler: str | None, memory_bytes: int, say: ProgressFn
) -> None:
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host=LOOPBACK,
            dashboard_address=None,
            memory_limit=memory_bytes,
        )
        client = Client(cluster)
        run.cluster = {"kind": "local", "workers": workers, "memory_limit_bytes_per_worker": memory_bytes}
    else:
        client = Client(scheduler)
        info = client.scheduler_info()
        run.cluster = {"kind": "scheduler", "address": scheduler, "workers": len(info.get("workers", {}))}
    try:
        by_key = {}
        futures = []
        for job in jobs:
            fut = client.submit(run_case, job, key=f"case-{job.name}-{job.input_hash[:12]}", pure=False)
            by_key[fut.key] = job
            futures.append(fut)
            say("start", {"case": job.name})
        for fut in as_completed(futures):
            job = by_key[fut.key]
            try:
                marker = fut.result()
            except Exception as exc:  # the scheduler gave up on the task (e.g. it killed workers repeatedly)
                marker = _failed_marker(job, f"the task failed on the cluster: {type(exc).__name__}: {exc}")
            run.done[job.name] = marker
            run.computed.append(job.name)
            say("done", marker)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    # Keep the cohort's case order.
    run.done = {e.name: run.done[e.name] for e in run.cases if e.name in run.done}


def _failed_marker(job: CaseJob, reason: str) -> dict[str, Any]:
    """An error row written by the client when no worker could finish the task."""
    from .task import DONE_FILE

    marker = {
        "case": job.name,
        "case_dir": None if job.deidentify else job.case_dir,
        "input_hash": job.input_hash,
        "status": "error",
        "error": redact(reason),  # no header value a library's error quotes (pseudoprog.privacy)
        "seconds": None,
        "peak_rss_bytes": None,
        "finished": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }
    folder = Path(job.out_root) / job.name
    tmp = Path(job.out_root) / f".partial-{job.name}-client-{time.time_ns()}"
    tmp.mkdir(parents=True)
    write_json(tmp / DONE_FILE, marker)
    from .task import publish

    publish(tmp, folder)
    return marker
