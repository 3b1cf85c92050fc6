"""pseudoprog.question: the question 'true progression or treatment effect' exists only for a new or enlarging
enhancing lesion after treatment, decided with the heading criterion's own numbers (issue 12 items 1 and 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pseudoprog.criteria import assess_all, to_response_call
from pseudoprog.ingest import load_case
from pseudoprog.question import age_scope, decide_question


def _case(
    tmp_path: Path,
    sizes: list[tuple[float, float] | None],
    *,
    age: float = 60,
    new: bool = False,
    volumes_ml: list[float] | None = None,
    **tp,
):
    """A glioblastoma 10 months after chemoradiation with one lesion measured at each scan (None: no lesion), with
    its enhancing volume when ``volumes_ml`` gives one per scan."""
    timepoints = []
    for i, size in enumerate(sizes):
        lesions = [] if size is None else [{"id": "L1", "long_mm": size[0], "perp_mm": size[1]}]
        if volumes_ml is not None and lesions:
            lesions[0]["enhancing_volume_ml"] = volumes_ml[i]
        if new and i == len(sizes) - 1:
            lesions.append({"id": "L2", "long_mm": 12, "perp_mm": 11, "new": True})
        timepoints.append({"date": f"2025-{3 + 3 * i:02d}-02", "clinical_status": "stable", "lesions": lesions})
    timepoints[-1].update(tp)
    data = {
        "patient": {"id": "Q", "age": age},
        "diagnosis": {"type": "glioblastoma", "idh": "wildtype"},
        "treatments": [
            {"type": "surgery", "date": "2024-10-01"},
            {"type": "chemoradiation", "start": "2024-11-04", "end": "2024-12-13", "dose_gy": 60, "fractions": 30},
        ],
        "timepoints": timepoints,
    }
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_case(tmp_path)


def _question(case):
    chosen, why, results = assess_all(case, None)
    return decide_question(case, response=to_response_call(results[chosen], selection_reason=why))


@pytest.mark.parametrize(
    ("sizes", "asked", "finding"),
    [
        ([(20, 18), (20, 18), (20, 18)], False, "stable"),
        ([(20, 18), (21, 18), (22, 18)], False, "stable"),  # +10 % vs the nadir 360 mm2: below +25 %
        ([(20, 18), (12, 10), (10, 9)], False, "shrinking"),
        ([(20, 18), (12, 10), None], False, "resolved"),
        ([None, None, None], False, "no lesion"),
        ([(20, 18), (16, 15), (22, 20)], True, "enlarging"),  # +83 % vs the nadir 240 mm²
    ],
)
def test_the_question_follows_the_criteria_numbers(tmp_path, sizes, asked, finding):
    q = _question(_case(tmp_path, sizes))
    assert (q.asked, q.finding) == (asked, finding), q.reason


@pytest.mark.parametrize("sizes", [[(20, 18), (12, 10), None], [None, None, None]])
def test_a_latest_scan_not_searched_with_nothing_measured_is_neither_resolved_nor_no_lesion(tmp_path, sizes):
    # Before: a latest scan the lesions stage did not assess (automatic detection refused it or judged itself not
    # reliable, or a brain mask left brain out) had no lesion, so the question said "resolved" or "no lesion" and
    # the advice was routine surveillance for a scan nobody had searched.
    from dataclasses import replace

    case = _case(tmp_path, sizes)
    why = "the lesions stage did not assess this scan (the brain mask holds 524 mL …)"
    case = replace(case, timepoints=(*case.timepoints[:-1], replace(case.latest, new_lesions_not_searched=why)))
    q = _question(case)
    assert (q.asked, q.finding) == (False, "not searched"), q.reason
    assert why in q.reason and q.reason.endswith("read it")


@pytest.mark.parametrize(
    ("volumes_ml", "asked"),
    [
        ([13.5, 23.3], True),  # TCIA Brain-Tumor-Progression 08 at clinical progression: product +8 %, volume +73 %
        ([13.5, 18.0], False),  # +33 %: below the +40 % volumetric threshold
        ([0.5, 0.9], False),  # +80 %, but below the 1 cm³ a volume is measurable at
    ],
)
def test_an_enhancing_volume_grown_past_its_threshold_asks_the_question_when_the_product_is_stable(
    tmp_path, volumes_ml, asked
):
    # Before: the question read only the heading criterion's bidimensional product (+8 %: "stable"), and the advice
    # was routine surveillance while the volume shown alongside it had grown by 73 %.
    q = _question(_case(tmp_path, [(52.8, 47.8), (59.2, 46.0)], volumes_ml=volumes_ml))
    assert q.asked is asked, q.reason
    if asked:
        assert q.finding == "enlarging" and "enhancing volume grew +73 %" in q.reason and "+8 %" in q.reason
    else:
        assert q.finding == "stable", q.reason


@pytest.mark.parametrize("sizes", [[(20, 18), (12, 10), None], [None, None, None]])
def test_nothing_measured_where_only_automatic_detection_looked_is_neither_resolved_nor_no_lesion(tmp_path, sizes):
    # A latest scan with images and no lesion, seed or mask from a reader: its "no lesion" is automatic detection's
    # "none found" (TCIA 10 at clinical progression). Before: "resolved" / "no lesion", and routine surveillance.
    from dataclasses import replace

    case = _case(tmp_path, sizes)  # (case.yaml's empty list at the last scan is a reader's "gone": taken out here)
    case = replace(case, timepoints=(*case.timepoints[:-1], replace(case.latest, series=(object(),), lesions=())))
    q = _question(case)
    assert (q.asked, q.finding) == (False, "none found"), q.reason
    assert q.reason.endswith("read it")


def test_a_lesion_a_reader_reports_gone_is_resolved_even_with_images(tmp_path):
    from dataclasses import replace

    case = _case(tmp_path, [(20, 18), (12, 10), None])  # case.yaml's empty list: L1 reported gone
    case = replace(case, timepoints=(*case.timepoints[:-1], replace(case.latest, series=(object(),))))
    q = _question(case)
    assert q.finding == "resolved", q.reason


def test_a_new_lesion_asks_the_question_even_when_the_target_is_stable(tmp_path):
    q = _question(_case(tmp_path, [(20, 18), (20, 18)], new=True))
    assert q.asked and q.finding == "new lesion" and "L2" in q.reason


def test_clinical_worsening_and_steroids_with_stable_imaging_do_not_ask_it_but_are_said(tmp_path):
    case = _case(tmp_path, [(20, 18), (20, 18)], clinical_status="worse", steroids_mg_dexamethasone=8)
    q = _question(case)
    assert not q.asked and q.finding == "stable"
    assert any("clinically worse" in n for n in q.notes)


@pytest.mark.parametrize(("age", "out"), [(9, True), (17.9, True), (18, False), (70, False)])
def test_patients_under_18_are_out_of_scope_with_the_reason(tmp_path, age, out):
    scope = age_scope(_case(tmp_path, [(20, 18), (30, 25)], age=age))
    assert (scope is not None) == out
    if scope is not None:
        assert not scope.in_scope and "RAPNO" in scope.reason and "under 18" in scope.reason
