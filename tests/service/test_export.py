"""The service's export endpoint: the latest assessment as a ZIP, de-identified by default (PS3.15 Basic Profile on
the DICOM objects, pseudonyms, dates shifted; one pseudonym per patient across exports), identified only when the
deployment says so, and audited."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pydicom
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("argon2")

from fastapi.testclient import TestClient
from sqlalchemy import select

from pseudoprog.service.app import create_app
from pseudoprog.service.auth import add_user
from pseudoprog.service.jobs import record_assessment
from pseudoprog.service.settings import ServiceSettings
from pseudoprog.store import AuditEvent, Patient, Store

from ..hardening.deid_check import assert_dciodvfy_clean, assert_no_identity, source_identity
from .helpers import assessed_case

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def assessed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return assessed_case(tmp_path_factory)


def _service(tmp_path: Path, out: Path, patient_id: str, **kw) -> tuple[TestClient, Store, dict]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    settings = ServiceSettings(data_dir=tmp_path, **kw)
    store = Store(settings.url)
    add_user(store, "rob", role="reader", password=PASSWORD)
    with store.session() as s:
        s.add(Patient(patient_id=patient_id))
    with store.session() as s:
        pk = s.scalar(select(Patient.id).where(Patient.patient_id == patient_id))
    record_assessment(store, patient_pk=pk, job_id=None, out_dir=out)
    client = TestClient(create_app(settings, store=store))
    token = client.post("/api/token", data={"username": "rob", "password": PASSWORD}).json()["access_token"]
    return client, store, {"Authorization": f"Bearer {token}"}


def _unzip(body: bytes, dest: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        zf.extractall(dest)
    return dest


def test_the_export_is_deidentified_consistently_and_audited(assessed, tmp_path: Path) -> None:
    case, out = assessed
    source = source_identity(case)
    patient_id = next(v for v in source["identity"] if "^" not in v)
    client, store, auth = _service(tmp_path / "svc", out, patient_id)
    r = client.get(f"/api/patients/{patient_id}/export", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    export = _unzip(r.content, tmp_path / "one")
    assert (export / "assessment.json").is_file() and (export / "report.html").is_file()
    assert assert_no_identity(export, source) > 10
    objects = sorted(export.rglob("*.dcm"))
    assert {pydicom.dcmread(p).Modality for p in objects} >= {"SEG", "SR"}
    assert assert_dciodvfy_clean(export) in (0, len(objects))
    # The deployment's secret gives the patient the same pseudonym and UIDs in the next export.
    again = _unzip(client.get(f"/api/patients/{patient_id}/export", headers=auth).content, tmp_path / "two")
    assert sorted(p.relative_to(again) for p in again.rglob("*.dcm")) == [p.relative_to(export) for p in objects]
    for path in objects:
        a, b = pydicom.dcmread(path), pydicom.dcmread(again / path.relative_to(export))
        assert (a.PatientID, a.SOPInstanceUID, a.StudyDate) == (b.PatientID, b.SOPInstanceUID, b.StudyDate)
    with store.session() as s:
        actions = [(e.action, e.detail) for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "export"))]
    assert actions == [("export", "de-identified, dates shift")] * 2
    assert client.get(f"/api/patients/{patient_id}/export").status_code == 401
    store.dispose()


def test_an_identified_export_only_when_the_deployment_says_so(assessed, tmp_path: Path) -> None:
    case, out = assessed
    source = source_identity(case)
    patient_id = next(v for v in source["identity"] if "^" not in v)
    client, store, auth = _service(tmp_path / "svc", out, patient_id, export_deidentified=False)
    export = _unzip(client.get(f"/api/patients/{patient_id}/export", headers=auth).content, tmp_path / "raw")
    seg = next(export.rglob("seg-lesions.dcm"))
    assert pydicom.dcmread(seg).PatientID == patient_id  # the setting is what de-identifies
    store.dispose()
