"""DICOM outputs print no patient data: a library warning that quotes the patient's name is kept quiet.

Found on ReMIND-022 (real DICOM, PatientName of one component): highdicom warned 'The string "<the name>" is
unlikely to represent the intended person name …' on the console while the report's SR was built.
"""

from __future__ import annotations

import dataclasses
import warnings

from pseudoprog.case import Lesion, LesionMeasurement
from pseudoprog.report.dicom_source import quiet_identifying_warnings
from pseudoprog.report.dicom_sr import write_measurement_sr

NAME = "Patient-0421"  # one component: highdicom's person-name check quotes it


def test_an_sr_for_a_one_component_patient_name_prints_no_warning_quoting_it(dicom_source, tmp_path):
    case, tp, source = dicom_source
    named = []
    for ds in source.datasets:
        ds = ds.copy()
        ds.PatientName = NAME
        named.append(ds)
    source = dataclasses.replace(source, datasets=tuple(named))
    lesion = Lesion("L1", measurement=LesionMeasurement(long_mm=40.0, perp_mm=32.0, enhancing_volume_mm3=9000.0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # what the check would print with no filter (pytest may hide some)
        quiet_identifying_warnings()
        write_measurement_sr(
            source,
            tmp_path / "sr.dcm",
            case_id=case.id,
            date=tp.date,
            time_point_order=1,
            lesions=[lesion],
            markers=[],
            software_version="test",
        )
    assert (tmp_path / "sr.dcm").exists()
    assert not [w for w in caught if NAME in str(w.message)]


def test_without_the_filter_the_check_would_quote_the_name():
    """The filter is what keeps it quiet (so the test above can fail)."""
    from highdicom.base import check_person_name

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_person_name(NAME)
    assert [w for w in caught if NAME in str(w.message)]


def test_the_filter_is_installed_when_the_dicom_outputs_are_imported():
    """In a fresh process (pytest discards the filters a module adds while tests are collected)."""
    import subprocess
    import sys

    code = (
        "import warnings, pseudoprog.report.dicom_sr\n"
        "print(any(a == 'ignore' and m is not None and 'intended person name' in m.pattern"
        " for a, m, *_ in warnings.filters))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert run.stdout.strip() == "True"
