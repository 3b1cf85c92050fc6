"""The API on SQLite without PACS: tokens (401), roles (403), context, patient JSON, sign-off, outcome, audit,
the CLI's ``users add`` and ``export-labels``, and a job that waits with backoff while PACS is down."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("argon2")

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from pseudoprog.cli import app as cli_app
from pseudoprog.service.app import create_app
from pseudoprog.service.auth import add_user
from pseudoprog.service.jobs import claim, note_study, record_assessment, run_job
from pseudoprog.service.settings import ServiceSettings
from pseudoprog.service.tryout import free_port
from pseudoprog.store import ApiToken, AuditEvent, Job, Patient, SignOff, Store, User, utcnow

CONTEXT = """\
patient: {id: P-1, age: 60, sex: M}
diagnosis: {type: glioblastoma, idh: wildtype, mgmt: unmethylated, who_grade: 4, date: 2025-01-10}
treatments:
- {type: chemoradiation, start: 2025-02-01, end: 2025-03-15, dose_gy: 60, fractions: 30, agent: temozolomide}
timepoints:
- date: 2025-04-20
  clinical_status: stable
  images: 2025-04-20/
"""
PASSWORD = "correct horse"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[TestClient, Store, ServiceSettings]]:
    settings = ServiceSettings(data_dir=tmp_path)
    store = Store(settings.url)
    add_user(store, "ann", role="admin", password=PASSWORD)
    add_user(store, "rob", role="reader", password=PASSWORD)
    yield TestClient(create_app(settings, store=store)), store, settings
    store.dispose()


def _auth(client: TestClient, name: str) -> dict[str, str]:
    r = client.post("/api/token", data={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_health_is_open_and_everything_else_needs_a_valid_token(service) -> None:
    client, store, _ = service
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/api/worklist").status_code == 401
    assert client.get("/api/patients/P-1", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/api/token", data={"username": "ann", "password": "wrong password"}).status_code == 401
    h = _auth(client, "rob")
    assert client.get("/api/worklist", headers=h).status_code == 200
    with store.session() as s:  # the token expires
        for t in s.scalars(select(ApiToken)):
            t.expires_at = utcnow() - dt.timedelta(seconds=1)
    assert client.get("/api/worklist", headers=h).status_code == 401


def test_passwords_are_argon2_hashes(service) -> None:
    _, store, _ = service
    with store.session() as s:
        hashes = [u.password_hash for u in s.scalars(select(User))]
    assert hashes and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_reader_cannot_change_context_admin_can_and_images_are_dropped(service) -> None:
    client, store, _ = service
    yaml_ct = {"Content-Type": "application/yaml"}
    r = client.put("/api/patients/P-1/context", content=CONTEXT, headers={**_auth(client, "rob"), **yaml_ct})
    assert r.status_code == 403
    admin = _auth(client, "ann")
    r = client.put("/api/patients/P-1/context", content=CONTEXT, headers={**admin, **yaml_ct})
    assert r.status_code == 200, r.text
    with store.session() as s:
        p = s.scalar(select(Patient).where(Patient.patient_id == "P-1"))
        assert p is not None and p.context_yaml is not None
        assert "images" not in p.context_yaml and "glioblastoma" in p.context_yaml
        actions = [(a.user_name, a.action, a.patient_id) for a in s.scalars(select(AuditEvent))]
    assert ("ann", "context_set", "P-1") in actions
    # A bad context names the field; JSON is refused as the wrong media type.
    bad = client.put(
        "/api/patients/P-1/context",
        content=CONTEXT.replace("60, fractions", "-5, fractions"),
        headers={**admin, **yaml_ct},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "treatments[0].dose_gy"
    assert client.put("/api/patients/P-1/context", json={}, headers=admin).status_code == 415


def test_patient_json_signoff_outcome_audit_and_export_labels(service, tmp_path: Path) -> None:
    client, store, settings = service
    admin, reader = _auth(client, "ann"), _auth(client, "rob")
    client.put("/api/patients/P-1/context", content=CONTEXT, headers={**admin, "Content-Type": "application/yaml"})
    assert client.post("/api/patients/P-1/signoff", json={"agree": True}, headers=reader).status_code == 409
    out = tmp_path / "result"
    out.mkdir()
    (out / "assessment.json").write_text(
        '{"timepoints": [{"date": "2025-04-20"}], "probability_true_progression": {"value": 0.8, '
        '"interval": [0.6, 0.9]}, "response": {"criteria": "RANO 2.0", "category": "PD"}, "evidence": ['
        '{"name": "rcbv_max", "value": 2.4, "unit": "ratio"}, {"name": "mgmt_methylated", "value": "yes"}]}'
    )
    with store.session() as s:
        pk = s.scalar(select(Patient.id).where(Patient.patient_id == "P-1"))
    record_assessment(store, patient_pk=pk, job_id=None, out_dir=out)
    body = client.get("/api/patients/P-1", headers=reader).json()
    assert set(body) >= {"timepoints", "jobs", "assessment"}
    assert body["assessment"]["probability_true_progression"]["value"] == 0.8
    wl = client.get("/api/worklist", headers=reader).json()["patients"][0]
    assert (wl["probability"], wl["interval"], wl["criteria_call"]) == (0.8, [0.6, 0.9], "RANO 2.0: PD")
    r = client.post("/api/patients/P-1/signoff", json={"agree": False, "comment": "necrosis on MRS"}, headers=reader)
    assert r.status_code == 201
    r = client.post(
        "/api/patients/P-1/outcome",
        headers=reader,
        json={"source": "histology", "result": "progression", "date": "2025-06-01"},
    )
    assert r.status_code == 201
    with store.session() as s:
        so = s.scalar(select(SignOff))
        assert so is not None and so.agree is False and so.comment == "necrosis on MRS"
        actions = {(a.user_name, a.action) for a in s.scalars(select(AuditEvent).where(AuditEvent.patient_id == "P-1"))}
    assert {("rob", "view_patient"), ("rob", "signoff"), ("rob", "outcome")} <= actions
    csv_path = tmp_path / "labels.csv"
    res = CliRunner().invoke(cli_app, ["export-labels", "--db", settings.url, "--out", str(csv_path)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(csv_path.open()))
    assert rows == [{"case_id": "P-1", "label": "1", "rcbv_max": "2.4"}]  # non-numeric evidence is not a marker
    # De-identified: the patient's pseudonym of the deployment's exports, not the PatientID.
    res = CliRunner().invoke(cli_app, ["export-labels", "--db", settings.url, "--out", str(csv_path), "--deidentify"])
    assert res.exit_code == 0, res.output
    from pseudoprog.service.export import deployment_deidentifier

    pseudonym = deployment_deidentifier(store, "shift").pseudonym("P-1")
    assert list(csv.DictReader(csv_path.open())) == [{"case_id": pseudonym, "label": "1", "rcbv_max": "2.4"}]
    assert "P-1" not in csv_path.read_text()


def test_users_add_reads_the_password_from_stdin(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli_app, ["users", "add", "carla", "--role", "reader", "--data", str(tmp_path)], input="long enough pw\n"
    )
    assert res.exit_code == 0, res.output
    settings = ServiceSettings(data_dir=tmp_path)
    client = TestClient(create_app(settings))
    assert client.post("/api/token", data={"username": "carla", "password": "long enough pw"}).status_code == 200
    bad = CliRunner().invoke(cli_app, ["users", "add", "x", "--role", "owner", "--data", str(tmp_path)], input="pw\n")
    assert bad.exit_code == 2


def test_job_waits_with_backoff_while_pacs_is_down_and_the_page_says_so(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = ServiceSettings(data_dir=tmp_path, orthanc_url=down, backoff_base_s=5)
    store = Store(settings.url)
    add_user(store, "rob", role="reader", password=PASSWORD)
    with store.session() as s:
        s.add(Patient(patient_id="P-1", context_yaml=CONTEXT))
    note_study(store, "P-1", "1.2.3", dt.date(2025, 4, 20))  # a stable study with context known → a job
    waits = []
    for _ in range(2):
        job_id = claim(store, worker="w", lease_s=60)
        assert job_id is not None
        assert run_job(store, settings, job_id) == "queued"
        with store.session() as s:
            job = s.get(Job, job_id)
            assert job.status == "queued" and "waiting for PACS" in (job.reason or "")
            waits.append((job.not_before - utcnow()).total_seconds())
            job.not_before = utcnow()  # let the test retry now
    assert 3 < waits[0] <= 5 and 8 < waits[1] <= 10  # 5 s, then 10 s
    client = TestClient(create_app(settings, store=store))
    body = client.get("/api/patients/P-1", headers=_auth(client, "rob")).json()
    assert body["jobs"][0]["status"] == "queued" and "waiting for PACS" in body["jobs"][0]["reason"]


def test_access_log_lines_carry_no_patient_id() -> None:
    import logging

    from pseudoprog.service.logs import RedactPatientIds

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/api/patients/SYN-PSP-001/files/x.nii.gz", "1.1", 200),
        None,
    )
    assert RedactPatientIds().filter(record)
    assert "SYN-PSP-001" not in record.getMessage() and "/api/patients/<id>/files/x.nii.gz" in record.getMessage()
