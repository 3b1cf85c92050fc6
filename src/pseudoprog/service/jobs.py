"""Persistent jobs: queued in the store, claimed by worker processes under a lease, re-run after a crash.

A job goes ``assess`` → ``push`` → done. Everything a job will store into PACS is written to its folder before
the first push, and each stored object is recorded; a job re-run after a crash in the push phase reuses the same
files (same SOP Instance UIDs) and skips what is recorded, so PACS never receives a result twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from ..errors import PseudoprogError
from ..files import write_atomic, write_json
from ..flow import assess
from ..privacy import redact
from ..report.dicom_pdf import encapsulated_pdf
from ..store import AssessmentRecord, Job, Patient, PushedObject, Setting, Store, Study, utcnow
from .context import parse_context, write_case_yaml
from .pacs import OrthancClient, PacsUnavailable, read_header
from .settings import ServiceSettings

log = logging.getLogger(__name__)

# Fault injection for the crash test only: exit hard after this many objects were stored into PACS.
_CRASH_AFTER_PUSHES = "PSEUDOPROG_TEST_CRASH_AFTER_PUSHES"


def enqueue(session: Session, patient: Patient, *, trigger: str) -> Job | None:
    """Queue an assessment unless one is already waiting for this patient (it will see the newest studies)."""
    waiting = session.scalar(select(Job).where(Job.patient_pk == patient.id, Job.status == "queued"))
    if waiting is not None:
        return None
    job = Job(patient_pk=patient.id, status="queued", trigger=trigger, attempts=0, phase="assess")
    session.add(job)
    session.flush()
    return job


def claim(store: Store, *, worker: str, lease_s: float) -> int | None:
    """Atomically take the oldest runnable job: queued and due, or running with an expired lease."""
    now = utcnow()
    other = aliased(Job)
    busy = exists().where(
        other.patient_pk == Job.patient_pk, other.status == "running", other.lease_until > now, other.id != Job.id
    )
    runnable = and_(
        or_(
            and_(Job.status == "queued", or_(Job.not_before.is_(None), Job.not_before <= now)),
            and_(Job.status == "running", Job.lease_until <= now),
        ),
        ~busy,
    )
    for _ in range(5):
        with store.session() as s:
            job_id = s.scalar(select(Job.id).where(runnable).order_by(Job.id).limit(1))
            if job_id is None:
                return None
            # The compare-and-set: only one worker's UPDATE matches the row in its runnable state.
            result = s.execute(
                update(Job)
                .where(Job.id == job_id, runnable)
                .values(
                    status="running",
                    worker=worker,
                    lease_until=now + dt.timedelta(seconds=lease_s),
                    attempts=Job.attempts + 1,
                    started_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return job_id
    return None


class _Heartbeat:
    """Extends the job's lease while the worker is alive."""

    def __init__(self, store: Store, job_id: int, lease_s: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(store, job_id, lease_s), daemon=True)

    def _run(self, store: Store, job_id: int, lease_s: float) -> None:
        while not self._stop.wait(lease_s / 4):
            with store.session() as s:
                s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == "running")
                    .values(lease_until=utcnow() + dt.timedelta(seconds=lease_s))
                )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _finish(store: Store, job_id: int, **values: object) -> None:
    if isinstance(values.get("reason"), str):  # shown on the web page: no header value a library quoted
        values["reason"] = redact(str(values["reason"]))
    with store.session() as s:
        s.execute(update(Job).where(Job.id == job_id).values(lease_until=None, **values))


def _summary(assessment_json: dict[str, Any]) -> dict[str, Any]:
    prob = assessment_json.get("probability_true_progression") or {}
    interval = prob.get("interval") or [None, None]
    response = assessment_json.get("response") or {}
    call = None
    if response.get("criteria"):
        call = f"{response.get('criteria')}: {response.get('category')}"
    dates = [t.get("date") for t in assessment_json.get("timepoints") or [] if t.get("date")]
    return {
        "probability": prob.get("value"),
        "interval_low": interval[0],
        "interval_high": interval[1],
        "criteria_call": call[:128] if call else None,
        "latest_date": dt.date.fromisoformat(max(dates)) if dates else None,
    }


def record_assessment(store: Store, *, patient_pk: int, job_id: int | None, out_dir: Path) -> int:
    """Store an assessment.json (and where its files are) as the patient's latest assessment."""
    data = json.loads((out_dir / "assessment.json").read_text(encoding="utf-8"))
    with store.session() as s:
        row = AssessmentRecord(
            patient_pk=patient_pk,
            job_id=job_id,
            assessment_json=json.dumps(data),
            result_dir=str(out_dir),
            **_summary(data),
        )
        s.add(row)
        if job_id is not None:  # same transaction: a crash leaves either both or neither
            s.execute(update(Job).where(Job.id == job_id).values(phase="push", result_dir=str(out_dir)))
        s.flush()
        return row.id


def _assess_phase(store: Store, settings: ServiceSettings, job: Job, patient: Patient, pacs: OrthancClient) -> Path:
    from .viewer import prepare_viewer_files

    job_dir = settings.jobs_dir / str(job.id)
    if job_dir.exists():
        shutil.rmtree(job_dir)  # a half-done earlier attempt: start clean
    case_dir, out_dir = job_dir / "case", job_dir / "out"
    t0 = time.monotonic()
    studies = [s for s in pacs.patient_studies(patient.patient_id) if s.study_date is not None]
    if not studies:
        raise PseudoprogError("PACS holds no dated study for this patient")
    by_date: dict[dt.date, list[str]] = {}
    for st in studies:
        assert st.study_date is not None
        by_date.setdefault(st.study_date, []).append(st.study_uid)
    for day, uids in by_date.items():
        for uid in uids:  # two studies on one day are one timepoint
            pacs.fetch_study(uid, case_dir / day.isoformat(), cache=settings.data_dir / "series-cache")
    context = parse_context(patient.context_yaml or "")
    write_case_yaml(context, sorted(by_date), case_dir)
    t1 = time.monotonic()
    assess(case_dir, out_dir)
    t2 = time.monotonic()
    prepare_viewer_files(case_dir, out_dir)
    latest = max(by_date)
    _prepare_pushes(out_dir, latest)
    timings = {"fetch_s": t1 - t0, "assess_s": t2 - t1, "viewer_and_pdf_s": time.monotonic() - t2}
    write_json(job_dir / "timings.json", {k: round(v, 1) for k, v in timings.items()})
    log.info("job %s: fetch %.1f s, assessment %.1f s, viewer files %.1f s", job.id, *timings.values())
    return out_dir


def _prepare_pushes(out_dir: Path, latest: dt.date) -> None:
    """Write the Encapsulated PDF beside the SEG/SR/Parametric Maps of the latest date (before any push)."""
    folder = out_dir / "dicom" / latest.isoformat()
    pdf = out_dir / "report.pdf"
    objects = sorted(folder.glob("*.dcm")) if folder.exists() else []
    if pdf.exists() and objects:
        like = read_header(objects[0])
        ds = encapsulated_pdf(pdf.read_bytes(), like=like, title="pseudoprog assessment report")
        ds.save_as(folder / "report-pdf.dcm", enforce_file_format=True)
    write_atomic(out_dir / "push-date.txt", latest.isoformat())


def _push_phase(store: Store, job_id: int, out_dir: Path, pacs: OrthancClient) -> int:
    import pydicom

    latest = (out_dir / "push-date.txt").read_text(encoding="utf-8").strip()
    folder = out_dir / "dicom" / latest
    with store.session() as s:
        done = set(s.scalars(select(PushedObject.sop_instance_uid).where(PushedObject.job_id == job_id)))
    crash_after = int(os.environ.get(_CRASH_AFTER_PUSHES, "0") or 0)
    pushed = 0
    for path in sorted(folder.glob("*.dcm")) if folder.exists() else []:
        ds = pydicom.dcmread(path)
        if ds.SOPInstanceUID in done:
            continue
        pacs.store(ds)
        with store.session() as s:
            s.add(
                PushedObject(
                    job_id=job_id,
                    sop_instance_uid=ds.SOPInstanceUID,
                    sop_class_uid=ds.SOPClassUID,
                    study_uid=ds.StudyInstanceUID,
                    file=str(path.relative_to(out_dir)),
                )
            )
        pushed += 1
        if crash_after and pushed >= crash_after:
            os._exit(17)  # simulated crash between two pushes (tests only)
    return pushed


def backoff_s(settings: ServiceSettings, attempts: int) -> float:
    """5, 10, 20 … s, capped: PACS that is down is asked less and less often."""
    return min(settings.backoff_max_s, settings.backoff_base_s * 2 ** max(0, attempts - 1))


def run_job(store: Store, settings: ServiceSettings, job_id: int) -> str:
    """Run one claimed job to its end state; returns the job's status afterwards."""
    with store.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        patient = s.get(Patient, job.patient_pk)
        assert patient is not None
        s.expunge_all()
    if not settings.orthanc_url:
        _finish(store, job_id, status="failed", reason="no PACS configured (serve --orthanc URL)", finished_at=utcnow())
        return "failed"
    pacs = OrthancClient(settings.orthanc_url)
    try:
        with _Heartbeat(store, job_id, settings.lease_s):
            if job.phase == "assess" or not job.result_dir:
                out_dir = _assess_phase(store, settings, job, patient, pacs)
                record_assessment(store, patient_pk=patient.id, job_id=job_id, out_dir=out_dir)
            else:
                out_dir = Path(job.result_dir)
            _push_phase(store, job_id, out_dir, pacs)
    except PacsUnavailable as exc:
        wait = backoff_s(settings, job.attempts)
        _finish(
            store,
            job_id,
            status="queued",
            not_before=utcnow() + dt.timedelta(seconds=wait),
            reason=f"waiting for PACS: {exc}; retry in {wait:.0f} s (attempt {job.attempts})",
        )
        return "queued"
    except PseudoprogError as exc:
        _finish(store, job_id, status="failed", reason=str(exc), finished_at=utcnow())
        return "failed"
    except Exception as exc:  # a bug must fail the job with its reason, never leave it 'running'
        log.exception("job %s failed", job_id)
        _finish(
            store, job_id, status="failed", reason=f"internal error: {type(exc).__name__}: {exc}", finished_at=utcnow()
        )
        return "failed"
    _finish(store, job_id, status="done", phase="done", reason=None, finished_at=utcnow())
    return "done"


def fail_exhausted(store: Store, settings: ServiceSettings) -> None:
    """A job whose worker died ``max_attempts`` times is failed with that reason instead of crashing workers forever."""
    now = utcnow()
    with store.session() as s:
        s.execute(
            update(Job)
            .where(Job.status == "running", Job.lease_until <= now, Job.attempts >= settings.max_attempts)
            .values(
                status="failed",
                reason=f"worker stopped {settings.max_attempts} times during this job",
                finished_at=now,
                lease_until=None,
            )
        )


def worker_loop(settings: ServiceSettings, *, stop: threading.Event | None = None, once: bool = False) -> None:
    """Claim and run jobs until stopped (``once``: until the queue has nothing runnable)."""
    from .logs import install as quiet_logs

    quiet_logs()  # also in spawned worker processes
    store = Store(settings.url, migrate=False)
    name = f"{socket.gethostname()}:{os.getpid()}"
    stop = stop or threading.Event()
    while not stop.is_set():
        fail_exhausted(store, settings)
        job_id = claim(store, worker=name, lease_s=settings.lease_s)
        if job_id is None:
            if once:
                break
            stop.wait(settings.poll_s)
            continue
        log.info("worker %s: job %s", os.getpid(), job_id)
        run_job(store, settings, job_id)
    store.dispose()


def get_setting(store: Store, key: str) -> str | None:
    with store.session() as s:
        row = s.get(Setting, key)
        return None if row is None else row.value


def set_setting(store: Store, key: str, value: str) -> None:
    with store.session() as s:
        row = s.get(Setting, key)
        if row is None:
            s.add(Setting(key=key, value=value))
        else:
            row.value = value


def note_study(store: Store, info_patient_id: str, study_uid: str, study_date: dt.date | None) -> None:
    """Record a stable study and queue an assessment when the patient's context is known."""
    with store.session() as s:
        patient = s.scalar(select(Patient).where(Patient.patient_id == info_patient_id))
        if patient is None:
            patient = Patient(patient_id=info_patient_id)
            s.add(patient)
            s.flush()
        if s.scalar(select(Study).where(Study.study_uid == study_uid)) is None:
            s.add(Study(patient_pk=patient.id, study_uid=study_uid, study_date=study_date))
            if patient.context_yaml:
                enqueue(s, patient, trigger="new study")


def release_dead_local_jobs(store: Store) -> int:
    """At start-up: jobs 'running' under a worker of this host whose process is gone are runnable at once."""
    host = socket.gethostname()
    released = 0
    with store.session() as s:
        for job in s.scalars(select(Job).where(Job.status == "running")):
            name = job.worker or ""
            if not name.startswith(host + ":"):
                continue
            try:
                os.kill(int(name.rsplit(":", 1)[1]), 0)
                continue  # still alive
            except (ProcessLookupError, ValueError):
                pass
            except PermissionError:
                continue
            job.lease_until = utcnow()
            released += 1
    return released
