"""Logs of a full run never carry the patient's identity; assessment.json stores paths relative to the case."""

from __future__ import annotations

import json
import logging

import pydicom
import pytest

from pseudoprog.flow import assess


@pytest.mark.e2e
def test_logs_of_a_full_run_hold_no_patient_identity_and_paths_are_relative(light_dicom_case, tmp_path):
    ds = pydicom.dcmread(sorted(light_dicom_case.rglob("*.dcm"))[0])
    identity = [str(ds.PatientID), str(ds.PatientName), str(ds.PatientBirthDate)]
    assert all(identity)
    log_file = tmp_path / "run.log"
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    messages: list[str] = []
    try:
        assess(light_dicom_case, tmp_path / "out", progress=messages.append)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    text = log_file.read_text(errors="replace") + "\n".join(messages)
    assert text.strip(), "the run logged nothing: the test would prove nothing"
    for value in identity:
        assert value not in text, f"the logs carry the patient's {value!r}"
    doc = (tmp_path / "out" / "assessment.json").read_text()
    assert str(light_dicom_case.resolve()) not in doc
    files = json.loads(doc)["timepoints"][0]["series"][0]["files"]
    assert files and not files[0].startswith("/")
