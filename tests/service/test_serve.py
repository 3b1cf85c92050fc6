"""`pseudoprog serve` as a process: it answers on loopback, its access log has no patient identifiers, and
stopping it stops its worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pseudoprog.service.tryout import free_port

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_serve_answers_redacts_and_stops_its_workers(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pseudoprog.cli",
                "serve",
                "--port",
                str(port),
                "--data",
                str(tmp_path / "d"),
                "--workers",
                "2",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(base + "/api/health").json()["status"] == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.5)
        assert httpx.get(base + "/api/patients/PATIENT-SECRET-42").status_code == 401
        workers = _children(proc.pid)
        assert len(workers) >= 2  # the --workers processes (plus possibly multiprocessing's tracker)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    time.sleep(0.5)
    assert all(
        not Path(f"/proc/{w}").exists() or "zombie" in Path(f"/proc/{w}/status").read_text().lower() for w in workers
    )
    text = log.read_text()
    assert "/api/patients/<id>" in text and "PATIENT-SECRET-42" not in text
