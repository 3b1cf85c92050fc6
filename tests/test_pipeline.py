"""`assess` end to end: stable JSON keys, scope, honest 'not assessed', whole-or-nothing outputs."""

from __future__ import annotations

import json

import pytest

from pseudoprog.errors import InputError
from pseudoprog.flow import assess

pytestmark = pytest.mark.e2e

REQUIRED_KEYS = {
    "case_id",
    "software_version",
    "scope",
    "timepoints",
    "response",
    "probability_true_progression",
    "evidence",
    "recommendation",
    "not_assessed",
}


def test_assess_writes_json_with_the_stable_keys_and_a_report(phantom_cases, tmp_path):
    case = phantom_cases("pseudoprogression", "nifti")
    out = tmp_path / "out"
    result = assess(case, out)
    doc = json.loads((out / "assessment.json").read_text())
    assert REQUIRED_KEYS <= set(doc)
    assert doc["case_id"] == "SYN-PSP-001"
    assert doc["scope"]["in_scope"] is True
    assert [tp["date"] for tp in doc["timepoints"]] == ["2026-03-16", "2026-04-27"]
    assert set(doc["recommendation"]) >= {"next_step", "rating", "management", "warnings"}
    assert set(doc["probability_true_progression"]) >= {"value", "interval"}
    assert set(doc["response"]) >= {"criteria", "category", "explanation"}
    # A probability is either absent with a reason, or present with an interval: never a bare number.
    p = doc["probability_true_progression"]
    if p["value"] is None:
        assert any(n["stage"] == "evidence" for n in doc["not_assessed"])
    else:
        assert p["interval"][0] <= p["value"] <= p["interval"][1]
    html = (out / "report.html").read_text()
    assert "SYN-PSP-001" in html and 'id="answer"' in html
    assert result.outputs["report_html"] == "report.html"


def test_series_found_in_images_are_listed_per_timepoint(phantom_cases, tmp_path):
    doc_case = phantom_cases("true_progression", "nifti", sequences=("structural",))
    result = assess(doc_case, tmp_path / "o")
    kinds = {s.kind.value for s in result.timepoints[-1].series}
    assert {"T1", "T1c", "T2", "FLAIR"} <= kinds


def test_stable_surveillance_is_refused_as_out_of_scope(phantom_cases, tmp_path):
    result = assess(phantom_cases("stable", "nifti", sequences=("structural",)), tmp_path / "o")
    assert result.scope.in_scope is False
    assert "surveillance" in result.scope.reason
    assert result.probability_true_progression.value is None
    assert any(n.stage == "assessment" for n in result.not_assessed)


def test_untreated_patient_is_out_of_scope(tmp_path):
    case = tmp_path / "c"
    case.mkdir()
    (case / "case.yaml").write_text(
        "patient: {id: X}\ndiagnosis: {type: glioblastoma}\ntimepoints:\n  - date: 2026-01-01\n"
    )
    result = assess(case, tmp_path / "o")
    assert not result.scope.in_scope and "no treatment" in result.scope.reason


def test_bad_input_leaves_no_half_written_output(tmp_path):
    case = tmp_path / "c"
    case.mkdir()
    (case / "case.yaml").write_text("patient: {id: X}\ndiagnosis: {type: glioblastoma}\ntimepoints: []\n")
    out = tmp_path / "o"
    with pytest.raises(InputError):
        assess(case, out)
    assert not (out / "assessment.json").exists()
    assert not out.exists() or not any(out.iterdir())


def test_dicom_case_assesses_like_the_nifti_case(phantom_cases, tmp_path):
    light = ("structural",)  # the DICOM/NIfTI equivalence is about ingest; perfusion series only add files
    a = assess(phantom_cases("radiation_necrosis_after_srs", "nifti", sequences=light), tmp_path / "a")
    b = assess(phantom_cases("radiation_necrosis_after_srs", "dicom", sequences=light), tmp_path / "b")
    assert [tp.date for tp in a.timepoints] == [tp.date for tp in b.timepoints]
    assert [{s.kind for s in tp.series} for tp in a.timepoints] == [{s.kind for s in tp.series} for tp in b.timepoints]
    assert a.response == b.response
    assert a.probability_true_progression == b.probability_true_progression
