"""A full de-identified run: logs, JSON, HTML, PDF and DICOM outputs carry no identity of the patient; the DICOM
objects pass dciodvfy; assessment.json stores paths relative to the case."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess

import pydicom
import pytest

from pseudoprog.flow import assess

from .deid_check import assert_no_identity, source_identity


@pytest.mark.e2e
def test_a_deidentified_run_keeps_no_identity_anywhere(light_dicom_case, tmp_path):
    ds = pydicom.dcmread(sorted(light_dicom_case.rglob("*.dcm"))[0])
    identity = [str(ds.PatientID), str(ds.PatientName), str(ds.PatientBirthDate)]
    source_uids = [str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)]
    source_uids.append(str(ds.FrameOfReferenceUID))
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
        assess(light_dicom_case, tmp_path / "out", progress=messages.append, deidentify="shift")
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
    out = tmp_path / "out"
    texts = {p.name: p.read_text(errors="replace") for p in out.rglob("*") if p.suffix in (".json", ".html")}
    if shutil.which("pdftotext") and (out / "report.pdf").exists():
        texts["report.pdf"] = subprocess.run(
            ["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True, check=True
        ).stdout
    for name, text in texts.items():
        assert str(ds.PatientID) not in text, f"{name} carries the patient id"
    objects = sorted(out.rglob("*.dcm"))
    assert objects, "the run wrote no DICOM object: nothing was checked"
    for path in objects:
        raw = path.read_bytes()
        for value in [*identity, *source_uids]:
            if value:
                assert value.encode() not in raw, f"{path.name} keeps {value!r} of the source"
        obj = pydicom.dcmread(path)
        assert obj.PatientIdentityRemoved == "YES" and not obj.get("PatientBirthDate")
        assert not obj.get("AccessionNumber")  # (its phantom value is also a piece of a date in the SR's text)
        assert "InstitutionName" not in obj  # the phantom's institution is 'pseudoprog', also our manufacturer
        if shutil.which("dciodvfy"):
            check = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
            errors = [line for line in (check.stdout + check.stderr).splitlines() if line.startswith("Error")]
            assert not errors, f"{path.name}: {errors[:3]}"
    # Every file's bytes (and the PDF's text, and every file name): no identity, no original date, no source UID.
    assert assert_no_identity(out, source_identity(light_dicom_case)) >= len(objects) + 3
    check_dicom_references(out)


def check_dicom_references(out):
    """The SRs' references (SEG, source series) point at objects of the same de-identified run; the SR's time
    point text is the shifted date of the folder it sits in."""
    objects = {p: pydicom.dcmread(p) for p in sorted(out.rglob("*.dcm"))}
    segs = {str(ds.SOPInstanceUID) for ds in objects.values() if ds.Modality == "SEG"}
    seg_series = {
        str(ds.ReferencedSeriesSequence[0].SeriesInstanceUID) for ds in objects.values() if ds.Modality == "SEG"
    }
    srs = [(p, ds) for p, ds in objects.items() if ds.Modality == "SR"]
    assert srs and segs
    for path, sr in srs:
        refs = {str(item.ReferencedSOPInstanceUID) for item in _walk(sr, "ReferencedSOPSequence")}
        assert refs & segs, f"{path.name} references no SEG of this run"
        evidence_series = {str(s.SeriesInstanceUID) for s in sr.CurrentRequestedProcedureEvidenceSequence[0]
                           .ReferencedSeriesSequence}
        assert evidence_series & seg_series, f"{path.name}: its evidence is not the SEG's source series"
        time_points = {str(item.TextValue) for item in _walk(sr, "ContentSequence") if "TextValue" in item}
        assert path.parent.name in time_points, (path.parent.name, time_points)


def _walk(ds, keyword):
    for elem in ds.iterall():
        if elem.keyword == keyword:
            yield from elem.value
