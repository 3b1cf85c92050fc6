"""A short bounded load on loopback (20 clients × 5 s; the 60 s run is benchmarks/service_load_bench.py): no errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import uvicorn
from benchmarks.service_load_bench import run_load, summary
from fastapi.testclient import TestClient

from pseudoprog.service.app import create_app
from pseudoprog.service.auth import add_user
from pseudoprog.service.jobs import record_assessment
from pseudoprog.service.settings import ServiceSettings
from pseudoprog.service.tryout import free_port
from pseudoprog.store import Patient, Store

pytestmark = pytest.mark.slow


def test_twenty_clients_for_five_seconds_without_errors(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path)
    store = Store(settings.url)
    add_user(store, "rob", role="reader", password="reader password")
    with store.session() as s:
        p = Patient(patient_id="P-1", context_yaml="x: 1")
        s.add(p)
        s.flush()
        pk = p.id
    out = tmp_path / "result"
    out.mkdir()
    (out / "assessment.json").write_text('{"timepoints": [{"date": "2025-04-20"}], "evidence": []}')
    record_assessment(store, patient_pk=pk, job_id=None, out_dir=out)
    app = create_app(settings, store=store)
    token = TestClient(app).post("/api/token", data={"username": "rob", "password": "reader password"}).json()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        result = run_load(
            f"http://127.0.0.1:{port}",
            token["access_token"],
            ["/api/worklist", "/api/patients/P-1", "/api/health"],
            clients=20,
            duration_s=5,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    print(summary(result))
    assert not result.errors, result.errors[:5]
    assert result.requests > 100  # it really ran concurrently for the whole time
