"""`pseudoprog report --deidentify` (and the folder de-identification it shares with the cohort and the service):
a finished, identified output folder copied with no identity left, dates removed or shifted, DICOM valid."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from typer.testing import CliRunner

from pseudoprog.cli import app

from .deid_check import assert_dciodvfy_clean, assert_no_identity, source_identity
from .test_identity_in_outputs import check_dicom_references


def test_report_deidentify_removes_dates_and_identity_from_every_file(light_assessed, light_dicom_case, tmp_path):
    source = source_identity(light_dicom_case)
    out = tmp_path / "export"
    result = CliRunner().invoke(
        app,
        ["report", str(light_assessed / "assessment.json"), "--deidentify", "--deidentify-dates", "remove",
         "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    for value in source["identity"]:
        assert value not in result.output
    assert assert_no_identity(out, source) >= 8
    assert assert_dciodvfy_clean(out) in (0, len(list(out.rglob("*.dcm"))))
    doc = json.loads((out / "assessment.json").read_text())
    assert doc["case_id"].startswith("ANON-")
    assert doc["timepoints"][0]["date"] == "1900-01-01"  # removed: counted from a dummy first scan
    for path in out.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        assert ds.StudyDate == "19000101" and ds.PatientIdentityRemoved == "YES"
        assert ds.PatientID == doc["case_id"]  # one pseudonym in the JSON and the DICOM objects
    assert (out / "report.html").is_file() and doc["case_id"] in (out / "report.html").read_text()
    check_dicom_references(out)
    # The identified source folder is untouched.
    assert json.loads((light_assessed / "assessment.json").read_text())["case_id"] in source["identity"]


def test_report_deidentify_needs_a_folder_of_its_own(light_assessed):
    runner = CliRunner()
    for out in (None, light_assessed, light_assessed / "inside"):
        args = ["report", str(light_assessed / "assessment.json"), "--deidentify"]
        result = runner.invoke(app, args + (["--out", str(out)] if out else []))
        assert result.exit_code == 2 and "--out" in result.output, result.output
    result = runner.invoke(app, ["report", str(light_assessed / "assessment.json"), "--deidentify",
                                 "--deidentify-dates", "blur", "--out", "/tmp/never-written"])
    assert result.exit_code == 2 and "shift or remove" in result.output


def test_an_encapsulated_pdf_carries_the_deidentified_report(light_assessed, light_dicom_case, tmp_path):
    """The service's report-as-DICOM (Encapsulated PDF) holds the PDF: its copy carries the de-identified one."""
    import shutil

    from pseudoprog.report.deidentify import Deidentifier, deidentify_folder
    from pseudoprog.report.dicom_pdf import encapsulated_pdf

    folder = Path(shutil.copytree(light_assessed, tmp_path / "src"))
    if not (folder / "report.pdf").is_file():
        pytest.skip("no PDF renderer here: nothing to encapsulate")
    seg = next(folder.rglob("seg-lesions.dcm"))
    identified_pdf = (folder / "report.pdf").read_bytes()
    encapsulated_pdf(identified_pdf, like=pydicom.dcmread(seg), title="report").save_as(
        seg.parent / "report-pdf.dcm", enforce_file_format=True
    )
    out = tmp_path / "out"
    written = deidentify_folder(folder, out, Deidentifier(dates="shift"))
    doc = next(p for p in out.rglob("report-pdf.dcm"))
    assert doc.relative_to(out).as_posix() in written
    ds = pydicom.dcmread(doc)
    new_pdf = (out / "report.pdf").read_bytes()
    assert bytes(ds.EncapsulatedDocument).rstrip(b"\0") == new_pdf.rstrip(b"\0") != identified_pdf
    assert ds.EncapsulatedDocumentLength == len(new_pdf)
    assert assert_no_identity(out, source_identity(light_dicom_case)) >= 8
    assert assert_dciodvfy_clean(out) in (0, len(list(out.rglob("*.dcm"))))
