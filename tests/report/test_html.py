"""The page for a fully assessed case: every section the later stages fill renders, answer first."""

from __future__ import annotations

import datetime as dt

import pytest

from pseudoprog.assessment import (
    Assessment,
    EvidenceItem,
    MapOutput,
    NotAssessed,
    ProbabilityEstimate,
    Recommendation,
    ResponseCall,
    Scope,
    TimepointResult,
)
from pseudoprog.case import Lesion, LesionMeasurement, Marker
from pseudoprog.report.html import load_assets, render_html


def _full() -> Assessment:
    lesion = Lesion("L1", measurement=LesionMeasurement(long_mm=40.0, perp_mm=32.0, enhancing_volume_mm3=9100.0,
                                                        source="lesions.rano_bidimensional"))
    return Assessment(
        case_id="CASE-7",
        software_version="1.2.3",
        scope=Scope(True, "treated glioma with an enlarging enhancing lesion"),
        timepoints=(
            TimepointResult(dt.date(2026, 3, 16), lesions=(lesion,)),
            TimepointResult(
                dt.date(2026, 4, 27),
                lesions=(lesion,),
                markers=(Marker("rcbv_max", 1.1, "ratio", "perfusion.dsc"),),
                maps=(MapOutput("rcbv", "maps/rcbv.nii.gz", "ratio", parameters={"leakage": "BSW"}),),
                warnings=("DSC bolus arrived late",),
            ),
        ),
        response=ResponseCall(
            "RANO", "PD (unconfirmed)", explanation=("SPD rose 56 % from nadir", "within 12 weeks of chemoradiation"),
            reference={"nadir_spd_mm2": 572.0, "baseline": {"date": "2026-03-16", "value": 572.0, "unit": "mm²"}},
            per_timepoint=(
                {"date": "2026-03-16", "role": "baseline", "category": "baseline", "burden": {"bidimensional": 572.0}},
                {"date": "2026-04-27", "role": "follow-up", "category": "PD (unconfirmed)",
                 "burden": {"bidimensional": 1280.0}, "pct_change_vs_baseline": 123.8, "flags": ["in_window"]},
            ),
        ),
        probability_true_progression=ProbabilityEstimate(0.42, (0.3, 0.55), "indeterminate", prior=0.5,
                                                         method="Bayes with likelihood ratios"),
        evidence=(EvidenceItem("rCBV max", 1.1, "ratio", 0.4, "treatment_effect", "Patel P et al. 2017",
                               note="leakage corrected"),),
        recommendation=Recommendation("repeat MRI with perfusion in 4-6 weeks", "usually appropriate",
                                      "continue temozolomide", warnings=("steroid dose changed",)),
        not_assessed=(NotAssessed("perfusion.dce", "no DCE series"),),
        other_responses=(ResponseCall("mRANO", "preliminary PD"),),
        diagnosis={"type": "glioblastoma", "idh": "wildtype", "mgmt": "methylated", "primary": None},
        treatments=({"type": "chemoradiation", "start": "2026-01-05", "end": "2026-02-13", "dose_gy": 60,
                     "fractions": 30, "agent": "temozolomide"},),
        outputs={"assessment_json": "assessment.json"},
    )


def test_answer_comes_first_with_probability_interval_call_and_next_step():
    html = render_html(_full())
    answer = html[html.index('id="answer"'):html.index("<h2>Timeline")]
    assert "42 %" in answer and "interval 30–55 %" in answer and "indeterminate" in answer
    assert "PD (unconfirmed)" in answer and "RANO" in answer
    assert "repeat MRI with perfusion in 4-6 weeks" in answer and "usually appropriate" in answer
    assert "continue temozolomide" in answer and "Prior" in answer
    assert html.index('id="answer"') < html.index('id="timeline-figure"') < html.index('id="evidence"')


def test_every_section_the_later_stages_fill_is_shown():
    html = render_html(_full())
    assert "data:image/png;base64," in html  # the timeline
    assert "rCBV max" in html and "Patel P et al. 2017" in html and "leakage corrected" in html
    assert "SPD rose 56 % from nadir" in html and "nadir spd mm2 572" in html
    assert "baseline 572 mm² (2026-03-16)" in html
    table = html[html.index('id="criteria-timeline"'):]
    table = table[:table.index("</table>")]
    assert "<th>SPD (mm²)</th>" in table and "<td>1280</td>" in table and "<td>124</td>" in table
    assert "<td>in window</td>" in table and "{" not in table  # no raw nested structure
    assert "mRANO: preliminary PD" in html
    for warning in ("DSC bolus arrived late", "steroid dose changed"):
        assert warning in html
    assert "no DCE series" in html and "leakage: BSW" in html  # parameters in words (Methods)
    assert "9.1 cm³" in html and "Decision support, not a diagnosis" in html


def test_page_without_output_folder_says_there_are_no_panels():
    html = render_html(_full())
    assert "No image panels were drawn" in html


def test_a_broken_assets_file_is_a_clear_error(tmp_path):
    (tmp_path / "report-assets.json").write_text("[1, 2")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_assets(tmp_path)
    (tmp_path / "report-assets.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        load_assets(tmp_path)
    assert load_assets(tmp_path / "nowhere") == {}


def test_percent_never_claims_certainty():
    from pseudoprog.report.html import percent

    assert percent(0.9996) == ">99" and percent(0.0004) == "<1"
    assert percent(0.5475) == "55" and percent(None) == "—"
