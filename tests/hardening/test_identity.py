"""One patient per case: another patient's image, a case.yaml id that is not the images', a misfiled study date."""

from __future__ import annotations

import datetime as dt

import pydicom
import pytest
import yaml

from pseudoprog.errors import InputError
from pseudoprog.ingest import ingest_case
from pseudoprog.ingest.identity import STUDY_DATE_TOLERANCE_DAYS


def _one_file(case, n: int = 0):
    return sorted(p for p in case.rglob("*.dcm"))[n]


def _change(path, **values):
    ds = pydicom.dcmread(path)
    for key, value in values.items():
        setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=False)


def _set_yaml(case, fn):
    data = yaml.safe_load((case / "case.yaml").read_text())
    fn(data)
    (case / "case.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def test_the_phantom_is_one_patient(light_dicom_case):
    ingest_case(light_dicom_case)


@pytest.mark.parametrize("keyword", ["PatientID", "PatientName", "PatientBirthDate"])
def test_an_image_of_another_patient_is_refused_naming_the_file(light_case_copy, keyword):
    target = _one_file(light_case_copy, 3)
    _change(target, **{keyword: "19700101" if keyword == "PatientBirthDate" else "OTHER^PATIENT"})
    with pytest.raises(InputError, match="another patient") as err:
        ingest_case(light_case_copy)
    assert keyword in (err.value.field or "")
    assert "OTHER" not in str(err.value)  # identifiers never go into messages (nor logs)


def test_case_yaml_id_must_match_the_images_unless_mapped(light_case_copy):
    real = str(pydicom.dcmread(_one_file(light_case_copy)).PatientID)
    _set_yaml(light_case_copy, lambda d: d["patient"].update(id="SITE-0042"))
    with pytest.raises(InputError, match=r"PatientID is not the patient id of case\.yaml"):
        ingest_case(light_case_copy)
    _set_yaml(light_case_copy, lambda d: d["patient"].update(dicom_id=real))
    ingest_case(light_case_copy)


def test_study_date_must_match_its_timepoint(light_case_copy):
    target = _one_file(light_case_copy)
    ds = pydicom.dcmread(target)
    when = dt.datetime.strptime(ds.StudyDate, "%Y%m%d").date()
    _change(target, StudyDate=(when + dt.timedelta(days=STUDY_DATE_TOLERANCE_DAYS)).strftime("%Y%m%d"))
    ingest_case(light_case_copy)  # within the tolerance (a session past midnight)
    _change(target, StudyDate=(when + dt.timedelta(days=STUDY_DATE_TOLERANCE_DAYS + 1)).strftime("%Y%m%d"))
    with pytest.raises(InputError, match="StudyDate") as err:
        ingest_case(light_case_copy)
    assert err.value.file == str(target)
