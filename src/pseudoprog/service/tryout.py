"""Local Orthanc for the try-out and the tests: a temporary configuration on loopback, and uploading a case.

``python -m pseudoprog.service.tryout --data DIR`` (``make reading-room``) starts Orthanc and the service on
loopback, creates an admin user, uploads the synthetic patient's first study, PUTs its context, and later the
second study, so the whole flow can be watched in the browser.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def orthanc_available() -> str | None:
    """None when Orthanc and its DICOMweb plugin are installed, else why not."""
    if shutil.which("Orthanc") is None:
        return "Orthanc is not installed (Debian package 'orthanc')"
    if not DICOMWEB_PLUGIN.exists():
        return "the Orthanc DICOMweb plugin is not installed (Debian package 'orthanc-dicomweb')"
    return None


def start_orthanc(folder: Path, *, http_port: int | None = None, stable_age_s: int = 2) -> tuple[subprocess.Popen, str]:
    """Start Orthanc with its storage under ``folder``; HTTP on loopback only, no DICOM listener."""
    folder.mkdir(parents=True, exist_ok=True)
    port = http_port or free_port()
    config = {
        "Name": "pseudoprog-tryout",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": port,
        "RemoteAccessAllowed": False,  # loopback clients only
        "AuthenticationEnabled": False,
        "DicomServerEnabled": False,  # no DIMSE listener: nothing bound beyond loopback HTTP
        "StableAge": stable_age_s,
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True},
        "HttpTimeout": 60,
    }
    cfg = folder / "orthanc.json"
    cfg.write_text(json.dumps(config, indent=1), encoding="utf-8")
    log = (folder / "orthanc.log").open("ab")
    proc = subprocess.Popen(["Orthanc", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Orthanc exited with {proc.returncode}; see {folder / 'orthanc.log'}")
        try:
            if requests.get(url + "/system", timeout=1).ok:
                return proc, url
        except requests.RequestException:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("Orthanc did not answer within 30 s")


def upload_folder(url: str, folder: Path) -> int:
    """POST every DICOM file under ``folder`` to Orthanc (what a modality or PACS router would send)."""
    n = 0
    with requests.Session() as s:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".dcm"):
            r = s.post(url + "/instances", data=path.read_bytes(), timeout=60)
            r.raise_for_status()
            n += 1
    return n


def context_without_images(case_yaml: Path) -> str:
    """The case.yaml text as a context body (the service ignores ``images:`` anyway; dropping it shows intent)."""
    return "\n".join(line for line in case_yaml.read_text(encoding="utf-8").splitlines() if "images:" not in line)


def _wait_for_jobs(base: str, token: str, *, patient_id: str = "SYN-PSP-001", timeout_s: float = 1800) -> None:
    """Wait until the patient has a job and none is queued or running (the first assessment is on the page)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = requests.get(f"{base}/api/patients/{patient_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        jobs = r.json().get("jobs") or [] if r.ok else []
        if jobs and all(j["status"] in ("done", "failed") for j in jobs):
            print(f"first assessment: job {jobs[0]['status']}", flush=True)
            return
        time.sleep(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("reading-room-data"))
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--orthanc-port", type=int, default=8042)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="reading-room")
    args = parser.parse_args(argv)
    data: Path = args.data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    orthanc, url = start_orthanc(data / "orthanc", http_port=args.orthanc_port)
    py = [sys.executable, "-m", "pseudoprog.cli"]
    case = data / "synthetic"
    procs: list[subprocess.Popen] = [orthanc]
    try:
        if not (case / "case.yaml").exists():
            print("writing the synthetic patient (DICOM) …", flush=True)
            subprocess.run(
                [*py, "phantom", str(case), "--scenario", "pseudoprogression", "--format", "dicom"], check=True
            )
        subprocess.run(
            [*py, "users", "add", args.user, "--role", "admin", "--data", str(data / "service")],
            input=args.password + "\n",
            text=True,
            check=True,
        )
        service = subprocess.Popen(
            [
                *py,
                "serve",
                "--port",
                str(args.port),
                "--orthanc",
                url,
                "--data",
                str(data / "service"),
                "--workers",
                "1",
            ]
        )
        procs.append(service)
        base = f"http://127.0.0.1:{args.port}"
        for _ in range(100):
            try:
                if requests.get(base + "/api/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        tok = requests.post(
            base + "/api/token", data={"username": args.user, "password": args.password}, timeout=30
        ).json()["access_token"]
        dates = sorted(p for p in case.iterdir() if p.is_dir())
        print(f"uploading the first study ({dates[0].name}) to Orthanc …", flush=True)
        upload_folder(url, dates[0])
        requests.put(
            f"{base}/api/patients/SYN-PSP-001/context",
            data=context_without_images(case / "case.yaml"),
            headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/yaml"},
            timeout=30,
        ).raise_for_status()
        print(f"\nReading room: {base}/  (user '{args.user}', password '{args.password}')", flush=True)
        for later in dates[1:]:
            _wait_for_jobs(base, tok)
            print(f"uploading the later study ({later.name}): a re-assessment with all priors follows …", flush=True)
            upload_folder(url, later)
        print(f"Orthanc: {url}/app/explorer.html   — Ctrl-C stops both.", flush=True)
        service.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
