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


def test_aligned_series_of_a_session_are_not_moved_and_their_metric_is_kept(phantom_cases):
    """Issue 13: T1/T2/FLAIR of one session on the T1c's grid are left where the scanner put them."""
    from pseudoprog.lesions.analysis import analyse_timepoint

    case = ingest_case(phantom_cases("radiation_necrosis_after_srs", "nifti")).case
    tp = case.timepoints[0]
    tl = analyse_timepoint(case, tp, within_session="rigid", bias_correction=False)
    assert set(tl.registrations) == {"T1", "T2", "FLAIR"}
    for reg in tl.registrations.values():
        assert reg.kind == "identity" and not reg.optimised
        assert reg.fixed_to_moving.tolist() == [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]]
        record = reg.to_dict()
        assert record["metric_before"] is not None and record["metric_before"] == record["metric_after"]
    assert not any("onto the T1c" in n for n in tl.notes)  # the normal case is not a warning


def test_the_classical_segmentation_reads_the_t1c_as_acquired_not_the_n4_corrected_one(phantom_cases, monkeypatch):
    """Its bars were set and validated on uncorrected real scans; fed the N4-corrected T1c, automatic detection put
    targets outside the tumour on five of 26 (benchmarks/RESULTS.md, "N4 before the classical segmentation")."""
    import numpy as np

    import pseudoprog.lesions.analysis as analysis
    from pseudoprog.ingest.series import load_series

    case = ingest_case(phantom_cases("radiation_necrosis_after_srs", "nifti")).case
    tp = case.timepoints[0]
    seen: dict[str, object] = {}
    segment = analysis.segment_lesions

    def spy(t1c, brain, affine, **kw):
        seen["t1c"], seen["t1"] = t1c, kw.get("t1")
        return segment(t1c, brain, affine, **kw)

    monkeypatch.setattr(analysis, "segment_lesions", spy)
    tl = analysis.analyse_timepoint(case, tp, within_session="header", bias_correction=True)
    acquired = load_series(tp.reference_t1c())[0].data
    assert not np.allclose(tl.reference.data, acquired)  # N4 ran: the reference (registrations, models) is corrected
    np.testing.assert_array_equal(seen["t1c"], acquired)
    t1 = load_series(tp.best_series(analysis.SeriesKind.T1))[0].data  # on the T1c's grid: only the header's identity
    np.testing.assert_allclose(seen["t1"], t1, rtol=1e-5, atol=1e-3)
