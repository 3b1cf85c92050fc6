"""Whole-case lesion analysis: a timepoint without T1c is reported, not fatal; RANO-BM for metastases."""

from __future__ import annotations

import shutil

from pseudoprog.ingest import ingest_case
from pseudoprog.lesions.analysis import analyse_case


def test_timepoint_without_t1c_is_skipped_with_its_reason(phantom_cases, tmp_path):
    case_dir = tmp_path / "case"
    shutil.copytree(phantom_cases("radiation_necrosis_after_srs", "nifti"), case_dir)
    first = sorted(p for p in case_dir.iterdir() if p.is_dir())[0]
    for f in first.glob("T1c.*"):
        f.unlink()
    case = ingest_case(case_dir).case
    result = analyse_case(case, within_session="header", bias_correction=False)
    assert [d for d, _ in result.skipped] == [case.timepoints[0].date]
    assert "no post-contrast T1" in result.skipped[0][1]
    # The remaining timepoints are measured with RANO-BM (metastasis): LD ≥ 10 mm and perpendicular ≥ 5 mm.
    second = result.timepoints[case.timepoints[1].date]
    (m,) = [second.measurements[les.lesion_id] for les in second.lesions]
    assert m.longest_diameter_mm is not None and 10.0 <= m.longest_diameter_mm <= 13.5
    assert m.measurable and "RANO-BM" in m.measurability_reason
    # The first measured timepoint is the tracking baseline: its lesion is not "new".
    assert not second.new[second.lesions[0].lesion_id]
