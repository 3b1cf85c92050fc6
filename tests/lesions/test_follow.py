"""A tracked lesion that a follow-up's automatic detection misses is looked for where it was (issue 13).

Automatic detection refuses rather than invents, so it misses tumours a click finds (TCIA Brain-Tumor-Progression
05 Post: "none found", seeded Dice 0.83). Before, the lesion was then called "disappeared" at the scan where it had
progressed. Now its last mask is carried to the follow-up and its centroid used as a reader's click.
"""

from __future__ import annotations

import shutil

import pytest

import pseudoprog.lesions.analysis as analysis
from pseudoprog.ingest import ingest_case
from pseudoprog.lesions.output import lesions_document

MISSED = "automatic detection found no enhancing lesion it could take as one (a simulated miss)"
REFUSED = "automatic detection found 15 separate enhancing candidates (a simulated refusal)"
NOT_RELIABLE_WHY = "an automatic target was not taken: it lies on the brain's surface (a simulated judgement)"


def automatic_detection_fails(
    monkeypatch, case, *, on_first: bool, refuse: bool = False, but_last: bool = False, not_reliable: bool = False
) -> None:
    """Automatic detection finds nothing (or refuses the scan as a whole, the noise guard, or judges itself not
    reliable there: ``not_reliable``) on the case's first scan only (``on_first``) or on every later scan, or on every
    scan but the last (``but_last``); seeded segmentation, the follow-up searches' clicks, is untouched."""
    import numpy as np

    from pseudoprog.errors import CannotAssessError
    from pseudoprog.ingest.series import load_series
    from pseudoprog.lesions.segment import NOT_RELIABLE

    with_images = [tp for tp in case.timepoints if tp.series]
    first = load_series(with_images[0].reference_t1c())[0].data
    last = load_series(with_images[-1].reference_t1c())[0].data
    segment = analysis.segment_lesions

    def fails(t1c) -> bool:
        return not np.array_equal(t1c, last) if but_last else np.array_equal(t1c, first) == on_first

    def spy(t1c, brain, affine, **kw):
        if kw.get("seeds") or not fails(t1c):
            return segment(t1c, brain, affine, **kw)
        if refuse:
            raise CannotAssessError(REFUSED)
        if not_reliable:
            return [], [NOT_RELIABLE, NOT_RELIABLE_WHY]
        return [], [MISSED]

    monkeypatch.setattr(analysis, "segment_lesions", spy)


def _missed_after_the_first_scan(monkeypatch, case):
    automatic_detection_fails(monkeypatch, case, on_first=False)


def _nothing_enhances_at_the_last_scan(case_dir):
    """The last scan's T1c replaced by its T1 (no contrast: a click at the lesion's place finds nothing); its path."""
    last = sorted(p for p in case_dir.iterdir() if p.is_dir())[-1]
    (t1c,) = last.glob("T1c.nii*")
    (t1,) = last.glob("T1.nii*")
    shutil.copyfile(t1, t1c)
    return t1c


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
    _nothing_enhances_at_the_last_scan(case_dir)
    case = ingest_case(case_dir).case
    result = analysis.analyse_case(case, within_session="header", bias_correction=False)
    tl = result.timepoints[max(result.timepoints)]
    assert tl.lesions == []
    assert [e.kind for e in result.events if e.date == tl.date] == ["disappeared"]
    assert any("looked for at its place and not found" in n for n in tl.notes), tl.notes


# --- Looking back: a lesion automatic detection calls new is looked for on the scans before it ---------------------


def test_a_lesion_missed_on_the_first_scan_is_found_there_and_not_called_new(phantom_cases, tmp_path, monkeypatch):
    # Before: the first scan had no lesion, so the lesion of the second scan (smaller than at the first) was new to
    # the criteria and RANO-BM called progression at the scan where it had shrunk.
    case = ingest_case(_two_scans(phantom_cases, tmp_path)).case
    automatic_detection_fails(monkeypatch, case, on_first=True)
    result = analysis.analyse_case(case, within_session="header", bias_correction=False)
    dates = sorted(result.timepoints)
    first = result.timepoints[dates[0]]
    (les,) = first.lesions
    assert les.lesion_id == "L1" and les.method == "followed"
    assert first.measurements["L1"].long_mm and first.measurements["L1"].long_mm >= 10.0
    assert any("found at its place on this scan by a seed" in n for n in first.notes), first.notes
    for d in dates[1:]:
        tl = result.timepoints[d]
        assert [les.lesion_id for les in tl.lesions] == ["L1"] and not tl.new["L1"]
    assert not [e for e in result.events if e.kind in ("new", "disappeared")]
    # The first scan's lesion is as large as the criteria's own measurement of it, and the second scan's smaller.
    assert result.timepoints[dates[1]].measurements["L1"].long_mm < first.measurements["L1"].long_mm


def test_a_lesion_found_only_on_the_last_scan_is_looked_for_back_to_the_first(phantom_cases, tmp_path, monkeypatch):
    # Three scans, automatic detection finds the lesion only on the last: looked for on the second, found, then on
    # the first, found; one track from the first scan, nothing new.
    case = ingest_case(_two_scans(phantom_cases, tmp_path)).case
    automatic_detection_fails(monkeypatch, case, on_first=False, but_last=True)
    result = analysis.analyse_case(case, within_session="header", bias_correction=False)
    dates = sorted(result.timepoints)
    assert len(dates) == 3
    methods = [[(les.lesion_id, les.method) for les in result.timepoints[d].lesions] for d in dates]
    assert methods == [[("L1", "followed")], [("L1", "followed")], [("L1", "automatic")]]
    assert not [e for e in result.events if e.kind in ("new", "disappeared")]


def test_a_lesion_with_nothing_at_its_place_before_stays_new_and_says_where_it_was_looked_for(phantom_cases, tmp_path):
    case_dir = _two_scans(phantom_cases, tmp_path)
    first_dir = sorted(p for p in case_dir.iterdir() if p.is_dir())[0]
    (t1c,) = first_dir.glob("T1c.nii*")
    (t1,) = first_dir.glob("T1.nii*")
    shutil.copyfile(t1, t1c)  # no contrast on the first scan: nothing enhances there
    case = ingest_case(case_dir).case
    result = analysis.analyse_case(case, within_session="header", bias_correction=False)
    dates = sorted(result.timepoints)
    assert result.timepoints[dates[0]].lesions == []
    second = result.timepoints[dates[1]]
    assert [les.method for les in second.lesions] == ["automatic"]
    lid = second.lesions[0].lesion_id
    # New to the tracker too, as to the criteria (before: a first scan with no lesion made the next the baseline).
    assert second.new[lid] and [e.kind for e in result.events] == ["new"]
    assert any(f"lesion {lid}: looked for at its place on the {dates[0]} scan: not there" in n for n in second.notes)
    assert any("looked for at its place and not found" in n for n in result.timepoints[dates[0]].notes)


def test_a_known_lesion_is_looked_for_on_a_scan_automatic_detection_refused(phantom_cases, tmp_path, monkeypatch):
    # Before: the whole follow-up was "not assessed" although the lesion it was asked about is there to click on.
    case = ingest_case(_two_scans(phantom_cases, tmp_path)).case
    automatic_detection_fails(monkeypatch, case, on_first=False, refuse=True)
    result = analysis.analyse_case(case, within_session="header", bias_correction=False)
    _searched_only_for_known_lesions(case, result, "automatic detection found 15")
    assert not [e for e in result.events if e.kind in ("new", "disappeared")]


def _searched_only_for_known_lesions(case, result, why: str) -> None:
    """Every follow-up of the case kept, with L1 found at its place and the refusal (starting ``why``) said first."""
    dates = sorted(result.timepoints)
    assert len(dates) == len([tp for tp in case.timepoints if tp.series]) and not result.skipped
    for d in dates[1:]:
        tl = result.timepoints[d]
        assert [(les.lesion_id, les.method) for les in tl.lesions] == [("L1", "followed")]
        assert tl.notes[0].startswith(f"automatic detection refused this scan ({why}")
        assert "new lesions elsewhere were not looked for" in tl.notes[0]


def test_the_lesions_command_says_a_refused_scan_was_searched_only_for_known_lesions(
    phantom_cases, tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    from pseudoprog.cli import app

    case_dir = _two_scans(phantom_cases, tmp_path)
    automatic_detection_fails(monkeypatch, ingest_case(case_dir).case, on_first=False, refuse=True)
    args = ["lesions", str(case_dir), "--out", str(tmp_path / "out"), "--within-session", "header"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "automatic detection refused this scan (automatic detection found 15" in text
    assert "new lesions elsewhere were not looked for" in text


@pytest.mark.parametrize("how", ["refused", "not reliable"])
def test_a_refused_scan_with_no_known_lesion_found_is_not_assessed(phantom_cases, tmp_path, monkeypatch, how):
    # "not reliable": before, the lesion was called "disappeared" at a scan automatic detection had called not
    # reliable (a scan searched and found empty).
    case_dir = _two_scans(phantom_cases, tmp_path)
    _nothing_enhances_at_the_last_scan(case_dir)
    case = ingest_case(case_dir).case
    automatic_detection_fails(monkeypatch, case, on_first=False, refuse=how == "refused", not_reliable=how != "refused")
    result = analysis.analyse_case(case, within_session="header", bias_correction=False)
    last_date = max(tp.date for tp in case.timepoints if tp.series)
    assert last_date not in result.timepoints
    ((_, why),) = [s for s in result.skipped if s[0] == last_date]
    if how == "refused":
        assert why == REFUSED
    else:
        assert why == f"automatic detection not reliable here — give a seed or a mask: {NOT_RELIABLE_WHY}"
    assert not [e for e in result.events if e.date == last_date]  # nothing there is called gone


def test_a_click_that_finds_tissue_elsewhere_is_not_the_lesion(phantom_cases, tmp_path, monkeypatch):
    # The seeded search reaches tens of mm for a peak; what it finds away from the lesion's place is not the lesion.
    import numpy as np

    case = ingest_case(_two_scans(phantom_cases, tmp_path)).case
    _missed_after_the_first_scan(monkeypatch, case)
    missed = analysis.segment_lesions

    def far(t1c, brain, affine, **kw):
        out, notes = missed(t1c, brain, affine, **kw)
        if not kw.get("seeds") or not out:
            return out, notes
        les = out[0]
        xs = np.argwhere(les.enhancing)[:, 0]
        gap = int(xs.max() - xs.min()) + 25  # the same blob moved clear of its place (25 voxels beyond it)
        shift = gap if xs.max() + gap < les.enhancing.shape[0] else -gap
        moved = [np.roll(m, shift, axis=0) if m is not None else None for m in (les.enhancing, les.core, les.flair)]
        return [analysis.SegmentedLesion(les.lesion_id, moved[0], moved[1], moved[2], les.method)], notes

    monkeypatch.setattr(analysis, "segment_lesions", far)
    result = analysis.analyse_case(case, within_session="header", bias_correction=False)
    later = [result.timepoints[d] for d in sorted(result.timepoints)[1:]]
    assert all(tl.lesions == [] for tl in later)
    assert any("finds enhancing tissue elsewhere, not this lesion" in n for n in later[0].notes), later[0].notes
    assert not [e for e in result.events if e.kind == "new"]


def test_tracking_again_with_swapped_ids_keeps_each_lesion_its_measurements():
    import datetime as dt

    import numpy as np

    from pseudoprog.case import LesionMeasurement, Volume

    def lesion(lid):
        return analysis.SegmentedLesion(lid, np.ones((2, 2, 2), bool), np.zeros((2, 2, 2), bool), None, "automatic")

    def measured(mm):
        return LesionMeasurement(long_mm=mm, perp_mm=mm, measurable=True, source="test")

    tl = analysis.TimepointLesions(
        date=dt.date(2024, 1, 1),
        reference=Volume(np.zeros((2, 2, 2), np.float32), np.eye(4)),
        brain=np.ones((2, 2, 2), bool),
        brain_method="classical",
        registrations={},
        lesions=[lesion("L1"), lesion("L2")],
        measurements={"L1": measured(10.0), "L2": measured(20.0)},
        bidimensional={"L1": None, "L2": None},
        components={"L1": "solid", "L2": "cystic"},
        new={"L1": False, "L2": True},
    )
    analysis._rename(tl, [("L2", False), ("L1", False)])
    assert [les.lesion_id for les in tl.lesions] == ["L2", "L1"]
    assert tl.measurements["L2"].long_mm == 10.0 and tl.measurements["L1"].long_mm == 20.0
    assert tl.components == {"L2": "solid", "L1": "cystic"} and tl.new == {"L2": False, "L1": False}


def test_what_found_a_lesion_is_stated_with_its_confidence_and_contrast():
    import numpy as np

    from pseudoprog.lesions.segment import SegmentedLesion

    mask = np.zeros((4, 4, 4), bool)
    auto = SegmentedLesion("A1", mask, mask, None, "automatic", "ring-backed pass", 3.26)
    assert auto.confidence == "low"
    assert auto.statement() == (
        "automatic detection's ring-backed pass (low confidence); 3.3 local SDs above the brain 3-15 mm around it"
    )
    seed = SegmentedLesion("L1", mask, mask, None, "seed", "seed", 5.0)
    assert seed.confidence is None and seed.statement().startswith("the reader's seed; 5.0 local SDs")
    assert SegmentedLesion("M1", mask, mask, None, "imported:nifti").statement() == "imported:nifti"


def _no_response_where_the_lesion_shrank(case_dir, out) -> str:
    """The case assessed: the follow-up where the lesion shrinks "cannot assess" (its reason returned), PD after it.

    Radiation necrosis after SRS: the lesion shrinks at the second scan, then grows by RANO-BM's size rule.
    """
    from pseudoprog.flow import assess

    response = assess(case_dir, out).response
    assert response is not None
    shrunk, grown = (p for p in response.per_timepoint if p["role"] == "follow-up")
    assert shrunk["category"] == "cannot assess", shrunk
    assert "new lesions were not looked for at this scan" in shrunk["reason"]
    assert grown["category"] == response.category == "PD"  # progression needs no absence of new lesions
    return str(shrunk["reason"])


def test_no_response_is_called_at_a_scan_searched_only_for_known_lesions(phantom_cases, tmp_path, monkeypatch):
    # The criteria saw the followed lesion shrink at a refused scan and called a response or stable disease, which
    # need "no new lesion"; new lesions were never looked for there.
    case_dir = _two_scans(phantom_cases, tmp_path)
    case = ingest_case(case_dir).case
    automatic_detection_fails(monkeypatch, case, on_first=False, refuse=True)
    assert "(automatic detection found 15" in _no_response_where_the_lesion_shrank(case_dir, tmp_path / "out")
    text = (tmp_path / "out" / "assessment.json").read_text(encoding="utf-8")
    assert "automatic detection refused this scan" in text


def test_a_place_searched_in_vain_is_not_searched_again_when_the_case_is_tracked_again(
    phantom_cases, tmp_path, monkeypatch
):
    # Automatic detection misses the first scan (the look-back finds the lesion there, and the case is tracked
    # again); nothing enhances at the last scan, whose search for the lesion fails: once, not once per tracking.
    import numpy as np

    from pseudoprog.ingest.series import load_series

    case_dir = _two_scans(phantom_cases, tmp_path)
    _nothing_enhances_at_the_last_scan(case_dir)
    case = ingest_case(case_dir).case
    automatic_detection_fails(monkeypatch, case, on_first=True)
    last = load_series([tp for tp in case.timepoints if tp.series][-1].reference_t1c())[0].data
    counting = analysis.segment_lesions
    clicks: list[int] = []

    def count(t1c, brain, affine, **kw):
        if kw.get("seeds") and np.array_equal(t1c, last):
            clicks.append(1)
        return counting(t1c, brain, affine, **kw)

    monkeypatch.setattr(analysis, "segment_lesions", count)
    result = analysis.analyse_case(case, within_session="header", bias_correction=False)
    dates = sorted(result.timepoints)
    assert [les.method for les in result.timepoints[dates[0]].lesions] == ["followed"]  # found by the look-back
    assert result.timepoints[dates[-1]].lesions == []
    assert [e.kind for e in result.events if e.date == dates[-1]] == ["disappeared"]
    assert len(clicks) == 1


# --- "Not reliable here": no negative finding ------------------------------------------------------------------------


def test_a_scan_automatic_detection_judged_not_reliable_is_searched_only_for_known_lesions(
    phantom_cases, tmp_path, monkeypatch
):
    # Before: automatic detection's "not reliable here — give a seed or a mask" came out as a scan searched and found
    # empty; the followed lesion shrank there and the criteria called stable disease (measured: "SD"), which needs "no
    # new lesion", on a scan whose search for new lesions the detection itself had disowned.

    case_dir = _two_scans(phantom_cases, tmp_path)
    case = ingest_case(case_dir).case
    automatic_detection_fails(monkeypatch, case, on_first=False, not_reliable=True)
    result = analysis.analyse_case(case, within_session="header", bias_correction=False)
    why = f"automatic detection not reliable here — give a seed or a mask: {NOT_RELIABLE_WHY}"
    _searched_only_for_known_lesions(case, result, why)
    said = [tp["new_lesions_not_searched"] for tp in lesions_document(result)["timepoints"]]
    assert said == [None] + [f"automatic detection refused this scan ({why})"] * (len(said) - 1)
    _no_response_where_the_lesion_shrank(case_dir, tmp_path / "out")



def test_targets_found_inside_a_brain_mask_that_left_brain_out_allow_no_response_there(
    phantom_cases, tmp_path, monkeypatch
):
    # A mask far below an adult brain with the whole head imaged (a 3-D MPRAGE's grey matter below the classical
    # band: 524 mL) was searched as if it were the brain: the lesion found there shrank and the criteria called stable
    # disease, which needs "no new lesion", on a scan most of whose brain was never looked at.
    from dataclasses import replace


    case_dir = _two_scans(phantom_cases, tmp_path)
    checked = analysis.brain_mask_checked
    missing = "the brain mask holds 520 mL, less than an adult brain (a simulated partial mask)"

    def partial(volume, **kw):
        mask, used, check = checked(volume, **kw)
        return mask, used, replace(check, missing_brain=missing)

    monkeypatch.setattr(analysis, "brain_mask_checked", partial)
    why = _no_response_where_the_lesion_shrank(case_dir, tmp_path / "out")
    assert "new lesions were not looked for at this scan (automatic detection searched only part of" in why
    assert missing in why


def test_a_lesion_whose_seed_was_refused_is_not_measured_not_called_disappeared(phantom_cases, tmp_path):
    # Before: the reader pointed at L1 on the last scan, the seed was refused (nothing enhances there: a barely
    # enhancing lesion, as ReMIND-022's), and the tracker called L1 "disappeared" — against the reader's own word.
    import nibabel as nib
    import yaml

    from pseudoprog.lesions.stage import run_lesions

    case_dir = _two_scans(phantom_cases, tmp_path)
    t1c = _nothing_enhances_at_the_last_scan(case_dir)
    spec = yaml.safe_load((case_dir / "case.yaml").read_text())
    centre = [int(n // 2) for n in nib.load(str(t1c)).shape[:3]]
    spec["timepoints"][-1]["lesions"] = [{"id": "L1", "seed": {"point_voxel": centre}}]
    (case_dir / "case.yaml").write_text(yaml.safe_dump(spec))
    case = ingest_case(case_dir).case
    result = analysis.analyse_case(case, within_session="header", bias_correction=False)
    last_date = max(result.timepoints)
    assert result.timepoints[last_date].lesions == []
    assert any(n.startswith("seed of lesion L1: no enhancing tissue found") for n in result.timepoints[last_date].notes)
    assert not [e for e in result.events if e.kind == "disappeared"], result.events
    out = run_lesions(case, {})
    said = out.at(last_date).warnings
    assert any("the seed(s) given for L1 found no enhancing lesion there" in n and "not gone" in n for n in said), said
    assert "no enhancing lesion found in the images" not in said
