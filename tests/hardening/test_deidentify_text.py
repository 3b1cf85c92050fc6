"""Deidentifier.text and .json: dates in free text shifted (or counted from 1900-01-01), UIDs in text remapped
consistently, identifiers replaced; numbers that are not dates and DICOM-defined UIDs left alone."""

from __future__ import annotations

import datetime as dt

import pytest
from pydicom.dataset import Dataset

from pseudoprog.report.deidentify import PSEUDONYM_PREFIX, Deidentifier

UID = "1.2.826.0.1.3680043.10.1507.721726853789228176075626702278151521"


def test_text_shifts_iso_and_dicom_dates_by_the_same_days() -> None:
    deid = Deidentifier(dates="shift", secret="s", shift_days=-400)
    assert deid.text("scan 2025-04-20, seen 20250420.") == "scan 2024-03-16, seen 20240316."
    assert deid.text("dicom/2025-04-20/sr.dcm") == "dicom/2024-03-16/sr.dcm"
    # Not dates: an impossible month, a year out of range, a longer number, a probability.
    for text in (
        "2025-13-40",
        "12345678",
        "202504201",
        "0.83",
        "version 1.26.4",
        "127.0.0.1",
        "0.20250420",
        "20250420.5",
        "rcbv,1.20250420,2",
    ):
        assert deid.text(text) == text


def test_remove_counts_text_dates_from_the_first_scan_as_1900_01_01() -> None:
    deid = Deidentifier(dates="remove", secret="s")
    deid.anchor(dt.date(2025, 4, 20))
    assert deid.text("2025-04-20 then 2025-06-01") == "1900-01-01 then 1900-02-12"
    assert deid.date(dt.date(2025, 4, 20)) == dt.date(1900, 1, 1)


def test_uids_in_text_are_remapped_like_uid_elements_and_identifiers_replaced() -> None:
    deid = Deidentifier(secret="s")
    deid.forget("P-0042")
    deid.forget("DOE^JANE")
    out = deid.text(f"cases/P-0042/{UID}/00001.dcm for Jane DOE^JANE")
    assert UID not in out and deid.uid(UID) in out and "P-0042" not in out and "DOE^JANE" not in out
    assert deid.pseudonym("P-0042") in out
    assert deid.text("1.2.840.10008.5.1.4.1.1.88.34") == "1.2.840.10008.5.1.4.1.1.88.34"  # a SOP class
    # A malformed UID (a component with a leading zero), as a scanner wrote it: still remapped (it was kept as it
    # was in a de-identified assessment.json's study_instance_uid).
    bad = "1.2.826.0.1.3680043.2.1125.0991"
    assert deid.text(f'"study_instance_uid": "{bad}"') == f'"study_instance_uid": "{deid.uid(bad)}"'
    ds = Dataset()
    ds.SOPInstanceUID = UID
    assert deid.apply(ds).SOPInstanceUID == deid.uid(UID)  # the same mapping as in text: references hold


def test_json_keys_and_values_and_pseudonyms_have_no_digit_runs() -> None:
    deid = Deidentifier(secret="s", shift_days=-10)
    doc = deid.json({"2025-04-20": ["2025-04-21", 3, None, {"k": "x 20250422"}]})
    assert doc == {"2025-04-10": ["2025-04-11", 3, None, {"k": "x 20250412"}]}
    for value in ("a", "P-1", "SYN-PSP-001"):
        p = deid.pseudonym(value)
        assert p.startswith(PSEUDONYM_PREFIX) and not any(c.isdigit() for c in p[len(PSEUDONYM_PREFIX) :])
        assert deid.text(p) == p


def test_dicom_text_values_are_deidentified_but_the_patient_id_is_pseudonymised_once() -> None:
    deid = Deidentifier(secret="s", shift_days=-1)
    ds = Dataset()
    ds.PatientID = "P-0042"
    ds.PatientName = "DOE^JANE"
    ds.SeriesDescription = "follow-up 2025-04-20 of P-0042"
    ds.StudyDate = "20250420"
    deid.apply(ds)
    assert ds.PatientID == deid.pseudonym("P-0042") and ds.PatientName == "ANONYMOUS"
    assert ds.SeriesDescription == f"follow-up 2025-04-19 of {deid.pseudonym('P-0042')}"
    assert ds.StudyDate == "20250419"


def test_a_bad_date_option_is_refused() -> None:
    with pytest.raises(ValueError, match="shift, remove"):
        Deidentifier(dates="blur")
