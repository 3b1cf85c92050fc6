"""A tracked lesion that a follow-up's automatic detection misses is looked for where it was (issue 13).

Automatic detection refuses rather than invents, so it misses tumours a click finds (TCIA Brain-Tumor-Progression
05 Post: "none found", seeded Dice 0.83). Before, the lesion was then called "disappeared" at the scan where it had
progressed. Now its last mask is carried to the follow-up and its centroid used as a reader's click.
"""

from __future__ import annotations

import shutil

import pseudoprog.lesions.analysis as analysis
from pseudoprog.ingest import ingest_case


def _missed_after_the_first_scan(monkeypatch, case):
    """Automatic detection finds nothing after the first scan (seeded segmentation is untouched)."""
    import numpy as np

    from pseudoprog.ingest.series import load_series

    baseline = load_series(case.timepoints[0].reference_t1c())[0].data
    segment = analysis.segment_lesions

    def spy(t1c, brain, affine, **kw):
        if kw.get("seeds") or np.array_equal(t1c, baseline):
            return segment(t1c, brain, affine, **kw)
        return [], ["automatic detection found no enhancing lesion it could take as one (a simulated miss)"]

    monkeypatch.setattr(analysis, "segment_lesions", spy)


def _two_scans(phantom_cases, tmp_path, scenario="radiation_necrosis_after_srs"):
    case_dir = tmp_path / "case"
    shutil.copytree(phantom_cases(scenario, "nifti"), case_dir)
    return case_dir


def test_a_lesion_automatic_detection_misses_at_a_follow_up_is_found_at_its_place(phantom_cases, tmp_path, monkeypatch):
    case = ingest_case(_two_scans(phantom_cases, tmp_path)).case
    _missed_after_the_first_scan(monkeypatch, case)
    result = analysis.analyse_case(case, within_session="header", bias_correction=False)
    dates = sorted(result.timepoints)
    assert [les.lesion_id for les in result.timepoints[dates[0]].lesions] == ["L1"]
    for d in dates[1:]:
        tl = result.timepoints[d]
        (les,) = tl.lesions
        assert les.lesion_id == "L1" and les.method == "followed"
        assert not tl.new["L1"]
        assert tl.measurements["L1"].long_mm and tl.measurements["L1"].long_mm >= 10.0
        assert any("found by a seed at its earlier place" in n for n in tl.notes)
    assert not [e for e in result.events if e.kind in ("disappeared", "new")]


def test_a_lesion_gone_from_a_follow_up_is_still_called_disappeared_with_what_was_seen(phantom_cases, tmp_path):
    case_dir = _two_scans(phantom_cases, tmp_path)
    last = sorted(p for p in case_dir.iterdir() if p.is_dir())[-1]
    (t1c,) = last.glob("T1c.nii*")
    (t1,) = last.glob("T1.nii*")
    shutil.copyfile(t1, t1c)  # no contrast at the last scan: nothing enhances, the lesion is gone from the T1c
    case = ingest_case(case_dir).case
    result = analysis.analyse_case(case, within_session="header", bias_correction=False)
    tl = result.timepoints[max(result.timepoints)]
    assert tl.lesions == []
    assert [e.kind for e in result.events if e.date == tl.date] == ["disappeared"]
    assert any("looked for at its earlier place" in n for n in tl.notes), tl.notes
