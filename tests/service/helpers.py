"""Helpers shared by the service and store tests: external programs, a cached synthetic patient, PostgreSQL."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def need(reason: str | None) -> None:
    """Skip with the reason when an external program is missing; in CI (CI=true) that is a failure instead."""
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # xdist workers share one copy
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder shared by all xdist workers of this run (the parent of each worker's base temp)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return root / "service-shared"


def synthetic_dicom_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic pseudoprogression patient in DICOM, written once per run."""
    from pseudoprog.phantoms.patient import write_synthetic_case

    root = shared_dir(tmp_path_factory)
    case = root / "case"
    with _locked(root / "case.lock"):
        if not (case / "case.yaml").exists():
            tmp = root / "case.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            write_synthetic_case(tmp, scenario="pseudoprogression", fmt="dicom")
            tmp.rename(case)
    return case


def assessed_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(case folder, assessment output with viewer files) of the synthetic patient, computed once per run."""
    from pseudoprog.service import jobs  # its `assess` is the one import of the assessment entry point
    from pseudoprog.service.viewer import prepare_viewer_files

    case = synthetic_dicom_case(tmp_path_factory)
    root = shared_dir(tmp_path_factory)
    out = root / "out"
    with _locked(root / "out.lock"):
        if not (out / "viewer" / "index.json").exists():
            tmp = root / "out.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            jobs.assess(case, tmp)
            prepare_viewer_files(case, tmp)
            tmp.rename(out)
    return case, out


def postgres_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL on a free loopback port (trust auth, data in a temporary folder); yields its URL."""
    from pseudoprog.service.tryout import free_port

    bindir = postgres_binaries()
    need(None if bindir else "PostgreSQL is not installed (Debian package 'postgresql')")
    assert bindir is not None
    folder = Path(tempfile.mkdtemp(prefix="pseudoprog-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as the 'postgres' system user
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    try:
        subprocess.run(
            [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *as_user,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "pg.log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-c listen_addresses=127.0.0.1 -p {port} -k {folder}",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        time.sleep(0.2)
        shutil.rmtree(folder, ignore_errors=True)
