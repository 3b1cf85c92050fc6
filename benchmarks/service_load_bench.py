"""Bounded load test of the reading-room API on loopback while an assessment job runs (issue 16).

``python -m benchmarks.service_load_bench [--clients 20] [--duration 60]``: starts Orthanc (temporary, loopback)
and ``pseudoprog serve --workers 1``, uploads the synthetic patient's first study, PUTs its context (the job then
runs in the worker process) and, while it runs, has N clients loop over the worklist, the patient JSON and the
health check for the given time. Reports requests, errors, p50/p95/max latency and whether the job was running
throughout; writes benchmarks/results/service_load.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).parent


@dataclass
class LoadResult:
    clients: int
    duration_s: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + len(self.errors)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def run_load(base: str, token: str, paths: list[str], *, clients: int, duration_s: float) -> LoadResult:
    """``clients`` threads, each with its own connection, cycling over ``paths`` until ``duration_s`` has passed."""
    result = LoadResult(clients=clients, duration_s=duration_s)
    lock = threading.Lock()
    stop_at = time.monotonic() + duration_s

    def client(offset: int) -> None:
        lat: list[float] = []
        err: list[str] = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            i = offset
            while time.monotonic() < stop_at:
                path = paths[i % len(paths)]
                i += 1
                t0 = time.perf_counter()
                try:
                    r = http.get(path)
                    if r.status_code != 200:
                        err.append(f"{path}: HTTP {r.status_code}")
                        continue
                except httpx.HTTPError as exc:
                    err.append(f"{path}: {type(exc).__name__}")
                    continue
                lat.append(1000 * (time.perf_counter() - t0))
        with lock:
            result.latencies_ms.extend(lat)
            result.errors.extend(err)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return result


def summary(r: LoadResult) -> str:
    return (
        f"{r.clients} clients × {r.duration_s:.0f} s: {r.requests} requests "
        f"({r.requests / r.duration_s:.0f}/s), {len(r.errors)} errors, p50 {r.percentile(50):.0f} ms, "
        f"p95 {r.percentile(95):.0f} ms, max {max(r.latencies_ms, default=float('nan')):.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    from pseudoprog.service.tryout import (
        context_without_images,
        free_port,
        orthanc_available,
        start_orthanc,
        upload_folder,
    )

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--case", type=Path, default=None, help="synthetic DICOM case (default: written afresh)")
    args = parser.parse_args(argv if argv is not None else [])
    reason = orthanc_available()
    if reason:
        print(f"skipped: {reason}")
        return 0
    py = [sys.executable, "-m", "pseudoprog.cli"]
    with tempfile.TemporaryDirectory(prefix="pseudoprog-load-") as tmp:
        root = Path(tmp)
        case = args.case
        if case is None:
            case = root / "case"
            subprocess.run([*py, "phantom", str(case), "--format", "dicom"], check=True, capture_output=True)
        orthanc, pacs_url = start_orthanc(root / "orthanc")
        procs: list[subprocess.Popen] = [orthanc]
        try:
            data = root / "svc"
            subprocess.run(
                [*py, "users", "add", "ann", "--role", "admin", "--data", str(data)],
                input="load test pw\n",
                text=True,
                check=True,
                capture_output=True,
            )
            port = free_port()
            log = (root / "serve.log").open("w")
            procs.append(
                subprocess.Popen(
                    [*py, "serve", "--port", str(port), "--data", str(data), "--orthanc", pacs_url, "--workers", "1"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ},
                )
            )
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if httpx.get(base + "/api/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            token = httpx.post(base + "/api/token", data={"username": "ann", "password": "load test pw"}).json()[
                "access_token"
            ]
            auth = {"Authorization": f"Bearer {token}"}
            first = sorted(p for p in case.iterdir() if p.is_dir())[0]
            upload_folder(pacs_url, first)
            pid = "SYN-PSP-001"
            httpx.put(
                f"{base}/api/patients/{pid}/context",
                content=context_without_images(case / "case.yaml"),
                headers={**auth, "Content-Type": "application/yaml"},
                timeout=30,
            )

            def job_status() -> str:
                jobs = httpx.get(f"{base}/api/patients/{pid}", headers=auth, timeout=30).json().get("jobs") or []
                return jobs[0]["status"] if jobs else "none"

            t0 = time.monotonic()
            while job_status() != "running" and time.monotonic() - t0 < 120:
                time.sleep(0.5)  # the change feed sees the stable study, the context queues the job
            before = job_status()
            result = run_load(
                base,
                token,
                ["/api/worklist", f"/api/patients/{pid}", "/api/health"],
                clients=args.clients,
                duration_s=args.duration,
            )
            after = job_status()
            t_job = time.monotonic()
            while job_status() not in ("done", "failed") and time.monotonic() - t_job < 900:
                time.sleep(2)
            job_total = time.monotonic() - t0
            final = job_status()
        finally:
            for p in reversed(procs):
                p.terminate()
                p.wait(timeout=30)
    line = summary(result)
    text = (
        "# Reading-room API under load (benchmarks/service_load_bench.py)\n\n"
        f"{line}.\n\nJob state: {before} when the load started, {after} when it ended; finished '{final}' "
        f"{job_total:.0f} s after it was queued (fetch over DICOMweb, assessment, STOW-RS of the results).\n"
        f"Paths cycled: /api/worklist, /api/patients/ID, /api/health. Server: `pseudoprog serve --workers 1` "
        f"(uvicorn, SQLite in WAL mode), loopback, shared 2-core machine.\n"
    )
    if result.errors:
        text += "\nErrors (first 10): " + "; ".join(result.errors[:10]) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "service_load.md").write_text(text, encoding="utf-8")
    print(text)
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
