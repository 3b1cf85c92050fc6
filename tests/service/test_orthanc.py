"""End to end against a real Orthanc (Debian 'orthanc' + 'orthanc-dicomweb') on a free loopback port.

The synthetic patient's first study is uploaded, its context PUT, and a worker process assesses it; the worker is
killed by fault injection after its third STOW-RS. A restarted worker finishes the job once: Orthanc then holds
exactly one copy of each result (SEG, TID 1500 SR, Parametric Maps, Encapsulated PDF), which read back with
highdicom. Uploading the second study triggers a re-assessment with both timepoints, stored in the later study.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pseudoprog.service.app import create_app
from pseudoprog.service.auth import add_user
from pseudoprog.service.follower import follow_once
from pseudoprog.service.jobs import worker_loop
from pseudoprog.service.pacs import OrthancClient
from pseudoprog.service.settings import ServiceSettings
from pseudoprog.service.tryout import context_without_images, orthanc_available, start_orthanc, upload_folder
from pseudoprog.store import Job, PushedObject, Store, Study

from .helpers import need, synthetic_dicom_case

PID = "SYN-PSP-001"
pytestmark = pytest.mark.slow


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[str]:
    need(orthanc_available())
    proc, url = start_orthanc(tmp_path / "orthanc", stable_age_s=1)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def _until(check, timeout_s: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def _studies(store: Store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count(Study.id))) or 0)


def _follow(store: Store, pacs: OrthancClient) -> int:
    follow_once(store, pacs)
    return _studies(store)


def _worker(settings: ServiceSettings, **env: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "pseudoprog.cli",
        "worker",
        "--db",
        settings.url,
        "--data",
        str(settings.data_dir),
        "--orthanc",
        str(settings.orthanc_url),
        "--lease",
        "600",
        "--once",
    ]
    return subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=900)


def test_orthanc_round_trip_crash_once_and_reassess_with_priors(
    orthanc: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    case = synthetic_dicom_case(tmp_path_factory)
    first, second = sorted(p for p in case.iterdir() if p.is_dir())
    settings = ServiceSettings(data_dir=tmp_path / "svc", orthanc_url=orthanc, poll_s=0.5)
    settings.data_dir.mkdir()
    store = Store(settings.url)
    add_user(store, "ann", role="admin", password="admin password")
    client = TestClient(create_app(settings, store=store))
    token = client.post("/api/token", data={"username": "ann", "password": "admin password"}).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    pacs = OrthancClient(orthanc)

    upload_folder(orthanc, first)
    _until(lambda: _follow(store, pacs) == 1)  # the change feed's StableStudy
    r = client.put(
        f"/api/patients/{PID}/context",
        content=context_without_images(case / "case.yaml"),
        headers={**auth, "Content-Type": "application/yaml"},
    )
    assert r.status_code == 200 and r.json()["job"]["status"] == "queued"
    job_id = r.json()["job"]["id"]

    crashed = _worker(settings, PSEUDOPROG_TEST_CRASH_AFTER_PUSHES="3")
    assert crashed.returncode == 17, crashed.stderr[-2000:]
    with store.session() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.phase) == ("running", "push")
        assert s.scalar(select(func.count(PushedObject.id))) == 3

    restarted = _worker(settings)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    with store.session() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.attempts) == ("done", 2)
        pushed = s.scalars(select(PushedObject).where(PushedObject.job_id == job_id)).all()
    out = Path(job.result_dir or "")
    files = sorted((out / "dicom" / first.name).glob("*.dcm"))
    assert len(pushed) == len(files) == len({p.sop_instance_uid for p in pushed})
    source_study = pydicom.dcmread(next(first.rglob("*.dcm")), stop_before_pixels=True).StudyInstanceUID
    assert {p.study_uid for p in pushed} == {source_study}

    # One copy of each result in Orthanc, and each reads back.
    n_pm = sum(1 for f in files if f.name.startswith("pm-"))
    counts = {m: len(pacs.find_instances(PID, m)) for m in ("SEG", "SR", "OT", "DOC")}
    assert counts == {"SEG": 1, "SR": 1, "OT": n_pm, "DOC": 1} and n_pm >= 3
    seg = hd.seg.segread(pydicom.filebase.DicomBytesIO(pacs.instance_file(pacs.find_instances(PID, "SEG")[0])))
    assert seg.number_of_segments >= 1
    assert {s.SeriesInstanceUID for s in seg.ReferencedSeriesSequence} <= {
        pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID for f in first.rglob("*.dcm")
    }
    sr = hd.sr.srread(pydicom.filebase.DicomBytesIO(pacs.instance_file(pacs.find_instances(PID, "SR")[0])))
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert [t.TemplateIdentifier for t in sr.ContentTemplateSequence] == ["1500"]
    pm = pydicom.dcmread(pydicom.filebase.DicomBytesIO(pacs.instance_file(pacs.find_instances(PID, "OT")[0])))
    assert pm.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"  # Parametric Map Storage
    pdf = pydicom.dcmread(pydicom.filebase.DicomBytesIO(pacs.instance_file(pacs.find_instances(PID, "DOC")[0])))
    assert pdf.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1" and bytes(pdf.EncapsulatedDocument)[:5] == b"%PDF-"
    assert pdf.StudyInstanceUID == source_study

    # A later study re-assesses with both timepoints and stores into the later study.
    upload_folder(orthanc, second)
    # (Our own results made the first study change and settle again: that is not a new study, no job for it.)
    _until(lambda: _follow(store, pacs) == 2)
    worker_loop(settings, once=True)
    body = client.get(f"/api/patients/{PID}", headers=auth).json()
    assert [j["status"] for j in body["jobs"]] == ["done", "done"] and body["jobs"][0]["trigger"] == "new study"
    assert [t["date"] for t in body["assessment"]["timepoints"]] == [first.name, second.name]
    assert len(body["timepoints"]) == 2
    later_study = pydicom.dcmread(next(second.rglob("*.dcm")), stop_before_pixels=True).StudyInstanceUID
    with store.session() as s:
        second_push = {p.study_uid for p in s.scalars(select(PushedObject).where(PushedObject.job_id != job_id))}
    assert second_push == {later_study}
    assert len(pacs.find_instances(PID, "SEG")) == 2 and len(pacs.find_instances(PID, "DOC")) == 2
