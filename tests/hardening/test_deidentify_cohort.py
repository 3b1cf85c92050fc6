"""`pseudoprog cohort --deidentify`: every case's outputs and the cohort's tables and page carry pseudonyms and
shifted dates only — folder names included — one pseudonym per case across reruns, and the logs of the run carry
no identity."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from .deid_check import assert_dciodvfy_clean, assert_no_identity, source_identity

pytestmark = pytest.mark.slow


def test_a_deidentified_cohort_keeps_no_identity_and_one_pseudonym_per_case(light_dicom_case, tmp_path):
    pytest.importorskip("distributed")
    pytest.importorskip("pyarrow")
    source = source_identity(light_dicom_case)
    patient_id = next(v for v in source["identity"] if "^" not in v)
    cases = tmp_path / "cases"
    shutil.copytree(light_dicom_case, cases / patient_id)  # a folder named after the patient, as sites do
    broken = cases / f"{patient_id}-broken"
    broken.mkdir()
    (broken / "case.yaml").write_text("patient: [never closed\n")
    out = tmp_path / "cohort"
    cmd = [sys.executable, "-m", "pseudoprog.cli", "-v", "cohort", str(cases), "--out", str(out), "--workers", "1",
           "--deidentify", "--timeout", "600"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert first.returncode == 1, first.stdout + first.stderr  # the broken case is an error row
    logs = first.stdout + first.stderr + "".join(p.read_text() for p in out.rglob("cohort-log.txt"))
    for value in source["identity"]:
        assert value not in logs, f"the run's logs carry {value!r}"
    frame = pd.read_csv(out / "cohort.csv")
    assert len(set(frame["case"])) == 2 and all(str(c).startswith("ANON-") for c in frame["case"])
    ok = frame[frame["status"] == "ok"]
    assert len(ok) >= 2 and all(str(c).startswith("ANON-") for c in ok["case_id"])
    errors = frame[frame["status"] == "error"]
    assert len(errors) == 1 and "case.yaml" in errors["error"].iloc[0]
    # Every file under the cohort folder (tables, page, each case's JSON/HTML/PDF/DICOM, markers, logs) and every
    # file name: no patient id or name, no original date, no source UID.
    assert assert_no_identity(out, source) > 10
    assert assert_dciodvfy_clean(out) in (0, len(list(out.rglob("*.dcm"))))
    assert oct((out / ".deidentify-secret").stat().st_mode & 0o777) == "0o600"
    # A rerun reuses both cases: the same pseudonyms, the same hashes.
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    run = json.loads((out / "cohort-run.json").read_text())
    assert second.returncode == 1 and run["computed"] == [] and sorted(run["skipped"]) == sorted(set(frame["case"]))
    assert pd.read_csv(out / "cohort.csv")["case"].tolist() == frame["case"].tolist()
