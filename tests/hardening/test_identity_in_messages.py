"""No header value in a message: malformed identifying headers are named (element, file) but never quoted.

pydicom says what is wrong with a value by quoting it ("Invalid value for VR UI: '1.2.…'", "Unable to convert
'1978-02-30' to 'DA' object"); highdicom's enumerations too ("'f' is not a valid PatientSexValues"). Found on the
synthetic case with identifying, malformed headers (and the same values in a copy of a ReMIND-022 slice):

- ingest: a StudyInstanceUID with a leading-zero component was quoted on stderr, once per file, by pydicom's
  warning and its logger; its length warnings named neither the element nor the file;
- DICOM outputs: a PatientBirthDate of 1978-02-30 stopped the SEG and the SR, and the reason, which quoted the
  date, went into assessment.json and the report, de-identified or not;
- the service's Encapsulated PDF copies the patient module: pydicom's warnings quoted the birth date and sex in
  the service's log;
- the CLI's error line and traceback log printed a library error's text as it was;
- PET: a PatientWeight of "72 kg" failed the SUV with Python's float() error, quoting the weight.

The DICOM objects themselves keep the values as given (they go back to PACS): this is about messages only.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom import config
from typer.testing import CliRunner

from pseudoprog import flow
from pseudoprog.assessment import NotAssessed
from pseudoprog.cli import app
from pseudoprog.errors import InputError

NAME = "Doe^Jane^Quinn^Dr^Jr"
PATIENT_ID = "JaneQuinnDoe"  # a patient id that is a name
ACCESSION = "ACC20260099887766"  # 17 characters: more than SH allows
BIRTH = "1978-02-30"  # not a DICOM date
IMPOSSIBLE_BIRTH = "19780230"  # a DICOM date that does not exist
SEX = "f"  # not a code string
UID_ROOT = "1.2.826.0.1.3680043.2.1125.0"  # + digits: a component with a leading zero


def _malform(case: Path, **values: str) -> list[str]:
    """Put identifying, malformed values into every DICOM header of ``case`` (as a scanner would have written
    them: no check on writing). Returns the values that must not appear in any message."""
    study_uids: dict[str, str] = {}
    with warnings.catch_warnings(), config.disable_value_validation():
        warnings.simplefilter("ignore")  # this test's own writing: pydicom would quote the values it is given
        for path in sorted(case.rglob("*.dcm")):
            ds = pydicom.dcmread(path)
            ds.PatientName, ds.PatientID, ds.AccessionNumber = NAME, PATIENT_ID, ACCESSION
            for key, value in values.items():
                if key == "StudyInstanceUID":  # one malformed study UID per study
                    value = study_uids.setdefault(str(ds.StudyInstanceUID), value + str(len(study_uids) + 1))
                setattr(ds, key, value)
            ds.save_as(path, enforce_file_format=False)
    yaml = case / "case.yaml"
    text = yaml.read_text()
    pid = next(line for line in text.splitlines() if line.startswith("  id: "))
    yaml.write_text(text.replace(pid + "\n", f"{pid}\n  dicom_id: {PATIENT_ID}\n", 1))
    return [NAME, "Doe^Jane", PATIENT_ID, ACCESSION, *study_uids.values(), *values.values()]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pseudoprog.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def _quoted(text: str, values: list[str]) -> list[str]:
    return [v for v in values if v and v in text]


def test_ingest_names_a_malformed_header_and_its_file_but_quotes_no_value(light_case_copy):
    values = _malform(light_case_copy, StudyInstanceUID=UID_ROOT)
    run = _cli("inspect", str(light_case_copy))
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout + run.stderr
    assert not _quoted(out, [v for v in values if v != UID_ROOT]), _quoted(out, values)
    # What is malformed and where: the element and a file of the case, for the UID and for the accession number.
    lines = run.stderr.splitlines()
    uid = [line for line in lines if "Invalid value for VR UI" in line]
    assert uid and all("StudyInstanceUID (0020,000D)" in line for line in uid), uid[:2]
    assert all(f"in {light_case_copy}" in line for line in uid), uid[:2]
    length = [line for line in lines if "allowed for VR SH" in line]
    assert length and all("AccessionNumber (0008,0050)" in line for line in length), length[:2]


@pytest.mark.parametrize(
    ("birth", "element"),
    [
        (BIRTH, "<value of PatientBirthDate (0010,0030) withheld>"),
        (IMPOSSIBLE_BIRTH, "(PatientBirthDate (0010,0030) of the source images)"),
    ],
)
def test_dicom_outputs_of_a_malformed_birth_date_quote_it_nowhere(light_case_copy, tmp_path, birth, element):
    values = _malform(light_case_copy, PatientBirthDate=birth)
    out = tmp_path / "out"
    run = _cli("assess", str(light_case_copy), "--out", str(out), "--deidentify")
    assert run.returncode == 0, run.stderr[-2000:]
    assert not _quoted(run.stdout + run.stderr, values)
    doc = (out / "assessment.json").read_text()
    assert not _quoted(doc, values), _quoted(doc, values)
    assert not _quoted((out / "report.html").read_text(), values)
    # The reason says which element stopped the SEG and the SR (they cannot carry a date that is not one).
    reasons = [n["reason"] for n in json.loads(doc)["not_assessed"] if n["stage"].startswith("report.dicom")]
    assert reasons and all(element in r for r in reasons), reasons


def test_the_services_pdf_object_logs_no_value_of_the_headers_it_copies(light_case_copy):
    _malform(light_case_copy, PatientBirthDate=BIRTH, PatientSex=SEX)
    source = sorted(light_case_copy.rglob("*.dcm"))[0]
    code = (
        "import logging, sys, pydicom\n"
        "from pseudoprog.service.logs import install\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "install()\n"
        "from pseudoprog.report.dicom_pdf import encapsulated_pdf\n"
        "encapsulated_pdf(b'%PDF-1.4', like=pydicom.dcmread(sys.argv[1]), title='report')\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(source)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert not _quoted(run.stderr, [BIRTH, f"'{SEX}'", ACCESSION, NAME, PATIENT_ID]), run.stderr[-2000:]
    assert "PatientBirthDate (0010,0030)" in run.stderr and "PatientSex (0010,0040)" in run.stderr


@pytest.mark.parametrize(
    "exc",
    [
        ValueError(f"Unable to convert '{IMPOSSIBLE_BIRTH}' to 'DA' object"),
        KeyError(f"Invalid value for VR DA: '{BIRTH}'."),
    ],
)
def test_the_cli_error_line_and_its_traceback_log_quote_no_value(monkeypatch, tmp_path, exc):
    def boom(*_args, **_kw):
        raise exc

    monkeypatch.setattr(flow, "assess", boom)
    monkeypatch.setenv("PSEUDOPROG_LOG_DIR", str(tmp_path / "logs"))
    result = CliRunner().invoke(app, ["assess", str(tmp_path)])
    assert result.exit_code in (1, 2)
    assert "withheld" in result.output
    assert IMPOSSIBLE_BIRTH not in result.output and BIRTH not in result.output
    for log in (tmp_path / "logs").glob("*.log"):
        text = log.read_text()
        assert "Traceback" in text and IMPOSSIBLE_BIRTH not in text and BIRTH not in text
    debug = CliRunner().invoke(app, ["--debug", "assess", str(tmp_path)])  # the traceback on the console
    assert debug.exit_code == result.exit_code
    assert IMPOSSIBLE_BIRTH not in debug.output and BIRTH not in debug.output


def test_the_cohort_and_service_commands_error_lines_quote_no_value(monkeypatch, tmp_path, capsys):
    import pseudoprog.cohort.run as cohort_run
    from pseudoprog.service.cli import _fail

    def boom(*_args, **_kw):
        raise ValueError(f"Unable to convert '{BIRTH}' to 'DA' object")

    monkeypatch.setattr(cohort_run, "run_cohort", boom)
    result = CliRunner().invoke(app, ["cohort", str(tmp_path), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 2 and "Unable to convert" in result.output
    assert BIRTH not in result.output and "withheld" in result.output
    _fail(ValueError(f"Unable to convert '{BIRTH}' to 'DA' object"))
    err = capsys.readouterr().err
    assert "Unable to convert" in err and BIRTH not in err


def test_the_services_job_log_quotes_no_value_of_a_failed_job():
    code = (
        "import logging\n"
        "from pseudoprog.service.logs import install\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "install()\n"
        "try:\n"
        f"    raise ValueError(\"Unable to convert '{BIRTH}' to 'DA' object\")\n"
        "except ValueError:\n"
        "    logging.getLogger('pseudoprog.service.jobs').exception('job %s failed', 7)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "job 7 failed" in run.stderr and "ValueError: Unable to convert" in run.stderr
    assert BIRTH not in run.stderr, run.stderr


def test_an_unreadable_patient_weight_is_named_not_quoted(tmp_path):
    from pseudoprog.ingest.pet import suv_parameters
    from pseudoprog.phantoms.pet import make_pet_phantom, write_pet_dicom

    files = sorted(Path(write_pet_dicom(make_pet_phantom(), tmp_path / "pet")).glob("*.dcm"))
    for path in files:
        ds = pydicom.dcmread(path)
        ds["PatientWeight"]._value = "72 kg"  # as a scanner console may store it; DS holds a number only
        ds.save_as(path)
    with pytest.raises(InputError, match=r"PatientWeight \(0010,1030\)") as caught:
        suv_parameters(files)
    assert "72 kg" not in str(caught.value)


def test_a_lesion_analysis_failure_keeps_no_quoted_value(light_dicom_case, monkeypatch):
    from pseudoprog.ingest import ingest_case
    from pseudoprog.lesions import analysis

    def boom(*_args, **_kw):
        raise ValueError(f"Unable to convert '{BIRTH}' to 'DA' object")

    monkeypatch.setattr(analysis, "analyse_timepoint", boom)
    result = analysis.analyse_case(ingest_case(light_dicom_case).case)
    reasons = [why for _, why in result.skipped]
    assert reasons and all("Unable to convert" in r and BIRTH not in r for r in reasons), reasons


def test_a_not_assessed_reason_keeps_no_quoted_value():
    reason = NotAssessed("report.dicom.sr", f"SR not written: Unable to convert '{BIRTH}' to 'DA' object").reason
    assert BIRTH not in reason and reason == "SR not written: Unable to convert <value withheld> to 'DA' object"


def test_a_warning_that_quotes_nothing_is_shown_unchanged():
    """Only what a library quotes is withheld: other warnings and log lines pass as they are."""
    from pseudoprog.privacy import redact

    for text in (
        "pixel spacing differs between slices",
        "The value length (18) exceeds the maximum length of 16 allowed for VR SH.",
        "job 3: fetch 1.0 s, assessment 9.5 s, viewer files 0.4 s",
    ):
        assert redact(text) == text
    assert logging.getLogger("pydicom").getEffectiveLevel() <= logging.WARNING  # pydicom's warnings still shown
