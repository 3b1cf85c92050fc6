"""Unit tests of the criteria primitives, the data table, selection, and the new case.yaml keys."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest
import yaml

from pseudoprog.case import HistologyResult, Lesion, LesionMeasurement, TreatmentType
from pseudoprog.criteria import (
    Category,
    assess_all,
    assess_rano2,
    assess_rano_bm,
    choose_criterion,
    criteria_table,
    criterion_name,
    current_line,
    pct_change,
    to_response_call,
)
from pseudoprog.criteria.rules import CriteriaTableError, parse_table
from pseudoprog.criteria.timeline import burden, measurability
from pseudoprog.errors import InputError
from pseudoprog.ingest.caseyaml import parse_case

from .criteria_helpers import build_case, scenario_doc

GBM = {
    "diagnosis": {"type": "glioblastoma", "idh": "wildtype"},
    "treatments": [
        {"type": "surgery", "date": "2025-01-06"},
        {"type": "chemoradiation", "start": "2025-02-03", "end": "2025-03-14", "dose_gy": 60, "fractions": 30},
        {"type": "chemotherapy", "start": "2025-04-14", "agent": "temozolomide"},
    ],
}


def _case(scans, tpl=GBM):
    return build_case(
        scenario_doc({"id": "u", "scans": scans}, {"t": tpl})
        | {"diagnosis": tpl["diagnosis"], "treatments": tpl["treatments"]}
    )


def test_pct_change_zero_reference_and_inclusive_thresholds() -> None:
    assert pct_change(125.0, 100.0) == 25.0
    assert pct_change(50.0, 100.0) == -50.0
    assert math.isinf(pct_change(1.0, 0.0))
    assert pct_change(0.0, 0.0) == 0.0


def test_volumetric_thresholds_are_the_sphere_equivalents_of_the_2d_ones() -> None:
    """clinical_rules §1.8: V = P^1.5 → +25 % → +39.8 %, −50 % → −64.6 %; V = LD^3 → +20 % → +72.8 %."""
    tab = criteria_table()
    rano_2d, rano_3d = tab["RANO 2.0"].threshold("bidimensional"), tab["RANO 2.0"].threshold("volumetric")
    assert abs(100 * ((1 + rano_2d.pd_pct / 100) ** 1.5 - 1) - rano_3d.pd_pct) < 0.5
    assert abs(100 * ((1 + rano_2d.pr_pct / 100) ** 1.5 - 1) - rano_3d.pr_pct) < 0.5
    bm_1d, bm_3d = tab["RANO-BM"].threshold("unidimensional"), tab["RANO-BM"].threshold("volumetric")
    assert abs(100 * ((1 + bm_1d.pd_pct / 100) ** 3 - 1) - bm_3d.pd_pct) < 0.5
    assert abs(100 * ((1 + bm_1d.pr_pct / 100) ** 3 - 1) - bm_3d.pr_pct) < 0.5


def test_every_table_value_names_a_known_source_and_status() -> None:
    tab = criteria_table()
    for crit in tab.criteria.values():
        assert crit.source in tab.sources
        for v in crit.values.values():
            assert v.source in tab.sources and v.status in ("V", "V2", "UNVERIFIED", "DERIVED")
        for t in crit.thresholds.values():
            assert t.source in tab.sources and t.pr_pct < 0 < t.pd_pct


def test_malformed_table_is_rejected() -> None:
    raw = yaml.safe_load(
        (Path(__file__).parents[2] / "src/pseudoprog/criteria/data/criteria.yaml").read_text(encoding="utf-8")
    )
    raw["criteria"]["RANO"]["max_targets"]["source"] = "nobody2099"
    with pytest.raises(CriteriaTableError, match="unknown source"):
        parse_table(raw)
    raw2 = yaml.safe_load(yaml.safe_dump(raw))
    del raw2["criteria"]["RANO-BM"]
    raw2["criteria"]["RANO"]["max_targets"]["source"] = "wen2010"
    with pytest.raises(CriteriaTableError, match="lacks"):
        parse_table(raw2)


def test_measurability_rules() -> None:
    def les(long_mm, perp_mm, **kw):
        return Lesion(id="L", measurement=LesionMeasurement(long_mm=long_mm, perp_mm=perp_mm), **kw)

    assert measurability(les(10, 10), "bidimensional", min_diameter_mm=10)[0]
    assert not measurability(les(12, 9), "bidimensional", min_diameter_mm=10)[0]
    assert not measurability(les(30, 20, component="cystic"), "bidimensional", min_diameter_mm=10)[0]
    assert measurability(les(12, 5), "unidimensional", min_diameter_mm=10, min_perpendicular_mm=5)[0]
    assert not measurability(les(12, 4), "unidimensional", min_diameter_mm=10, min_perpendicular_mm=5)[0]
    assert not measurability(les(12, 12, enhancing=False), "bidimensional", min_diameter_mm=10)[0]


def test_burden_lists_missing_targets_instead_of_guessing() -> None:
    a = Lesion(id="L1", measurement=LesionMeasurement(long_mm=20, perp_mm=10))
    b = burden([a], ["L1", "L2"], "bidimensional")
    assert b.value is None and b.missing == ("L2",)
    assert burden([a], ["L1"], "bidimensional").value == 200.0


def test_adjuvant_chemotherapy_continues_the_radiotherapy_line_and_bevacizumab_starts_a_new_one() -> None:
    case = _case([{"date": "2025-04-11", "lesions": {"L1": [20, 20]}}])
    line = current_line(case, dt.date(2025, 6, 1))
    assert line is not None and line.first.type is TreatmentType.CHEMORADIATION and line.radiation is not None
    tpl = {**GBM, "treatments": [*GBM["treatments"], {"type": "bevacizumab", "start": "2025-09-01"}]}
    case2 = _case([{"date": "2025-04-11", "lesions": {"L1": [20, 20]}}, {"date": "2025-10-01"}], tpl)
    line2 = current_line(case2, dt.date(2025, 10, 1))
    assert line2 is not None and line2.first.type is TreatmentType.BEVACIZUMAB and line2.radiation is None


def test_selection_follows_the_case() -> None:
    glioma = _case([{"date": "2025-04-11", "lesions": {"L1": [20, 20]}}])
    assert choose_criterion(glioma)[0] == "RANO 2.0"
    met = {
        "diagnosis": {"type": "metastasis", "primary": "lung"},
        "treatments": [{"type": "srs", "date": "2025-02-03"}],
    }
    assert choose_criterion(_case([{"date": "2025-04-11"}], met))[0] == "RANO-BM"
    immuno = {**met, "treatments": [*met["treatments"], {"type": "immunotherapy", "start": "2025-03-01"}]}
    assert choose_criterion(_case([{"date": "2025-04-11"}], immuno))[0] == "iRANO"


def test_criterion_names() -> None:
    assert criterion_name("rano2") == "RANO 2.0"
    assert criterion_name("RANO-BM") == "RANO-BM"
    with pytest.raises(ValueError, match="unknown criterion"):
        criterion_name("recist")


def test_volumetric_method_drives_the_call_when_asked() -> None:
    scans = [
        {"date": "2025-04-11", "lesions": {"L1": {"long_mm": 20, "perp_mm": 20, "volume_ml": 4.0}}},
        {"date": "2025-06-13", "lesions": {"L1": {"long_mm": 22, "perp_mm": 22, "volume_ml": 6.0}}},
    ]
    case = _case(scans)
    assert assess_rano2(case).category is Category.SD
    assert assess_rano2(case, method="volumetric").category is Category.PD
    with pytest.raises(ValueError, match="method"):
        assess_rano2(case, method="area")
    with pytest.raises(ValueError, match="no bidimensional thresholds"):
        assess_rano_bm(case, method="bidimensional")


def test_rano2_confirmation_after_window_is_an_option() -> None:
    scans = [{"date": "2025-04-11", "lesions": {"L1": [20, 20]}}, {"date": "2025-06-13", "lesions": {"L1": [30, 28]}}]
    case = _case(scans)
    assert assess_rano2(case).category is Category.PD
    assert assess_rano2(case, confirm_after_window=True).category is Category.PD_PRELIMINARY


def test_response_call_carries_window_confirmation_and_percentages() -> None:
    scans = [
        {"date": "2025-04-11", "lesions": {"L1": [20, 20, "in_field"]}},
        {"date": "2025-05-09", "lesions": {"L1": [30, 25, "in_field"]}},
    ]
    chosen, why, results = assess_all(_case(scans))
    call = to_response_call(results[chosen], selection_reason=why)
    assert call.criteria == "RANO 2.0" and call.category == "PD (preliminary)"
    assert call.reference["within_pseudoprogression_window"] is True
    assert call.reference["confirmation"] == "preliminary"
    assert call.reference["pct_change_vs_nadir"] == 87.5
    assert call.reference["baseline"]["date"] == "2025-04-11"
    assert [p["category"] for p in call.per_timepoint] == ["baseline", "PD (preliminary)"]
    assert any("[UNVERIFIED]" in line for line in call.explanation)


def test_metastasis_unidimensional_falls_back_to_long_axis_and_says_it() -> None:
    met = {
        "diagnosis": {"type": "metastasis", "primary": "lung"},
        "treatments": [{"type": "srs", "date": "2025-02-03"}],
    }
    case = _case(
        [{"date": "2025-01-27", "lesions": {"L1": [12, 10]}}, {"date": "2025-04-28", "lesions": {"L1": [15, 12]}}], met
    )
    res = assess_rano_bm(case)
    assert res.latest is not None and res.latest.burden["unidimensional"] == 15.0


def _doc(**tp_extra):
    return {
        "patient": {"id": "P"},
        "diagnosis": {"type": "glioblastoma"},
        "treatments": [],
        "timepoints": [{"date": "2025-04-11", **tp_extra}],
    }


def test_caseyaml_new_keys_are_read_and_validated() -> None:
    doc = _doc(
        histology_result="tumour",
        lesions=[{"id": "L1", "long_mm": 5, "perp_mm": 4, "equivocal": True, "unequivocal_progression": False}],
    )
    case, _ = parse_case(doc, file=Path("case.yaml"), root=Path("."))
    assert case.timepoints[0].histology_result is HistologyResult.TUMOUR
    assert case.timepoints[0].lesions[0].equivocal is True
    with pytest.raises(InputError, match=r"timepoints\[0\]\.histology_result"):
        parse_case(_doc(histology_result="maybe"), file=Path("case.yaml"), root=Path("."))
    with pytest.raises(InputError, match=r"lesions\[0\]\.equivocal"):
        parse_case(_doc(lesions=[{"id": "L1", "equivocal": "yes please"}]), file=Path("case.yaml"), root=Path("."))


def test_measured_lesions_from_the_lesions_stage_are_used_and_a_source_change_is_flagged() -> None:
    case = _case([{"date": "2025-04-11", "lesions": {"L1": [20, 20]}}, {"date": "2025-06-13"}])
    measured = Lesion(
        id="L1",
        measurement=LesionMeasurement(long_mm=21, perp_mm=20, measurable=True, source="lesions.rano_bidimensional"),
    )
    lesions = {dt.date(2025, 6, 13): (measured,)}
    res = assess_rano2(case, lesions)
    assert res.latest is not None and res.latest.category is Category.SD
    assert "measurement_source_changed" in res.latest.flags
    # the lesions stage's bidimensional measurability verdict (slice-thickness rule) is honoured
    thick = Lesion(
        id="L1",
        measurement=LesionMeasurement(
            long_mm=12,
            perp_mm=11,
            measurable=False,
            measurability_reason="slices 6 mm: needs ≥ 12 mm",
            source="lesions.rano_bidimensional",
        ),
    )
    ok, why = measurability(thick, "bidimensional", min_diameter_mm=10)
    assert not ok and "slices 6 mm" in why
    assert measurability(thick, "unidimensional", min_diameter_mm=10, min_perpendicular_mm=5)[0]


def test_only_volumes_reported_are_called_with_the_volumetric_thresholds() -> None:
    """Issue 12 review (vignette 93): 4.0 -> 6.0 mL (+50 %) is RANO 2.0 volumetric PD (>= +40 %)."""
    scans = [
        {"date": "2025-04-18", "lesions": {"L1": {"volume_ml": 4.0, "location_vs_rt": "in_field"}}},
        {"date": "2025-10-17", "lesions": {"L1": {"volume_ml": 6.0, "location_vs_rt": "in_field"}}},
    ]
    result = assess_rano2(_case(scans))
    assert result.method == "volumetric"
    assert result.calls[-1].category is Category.PD
    assert any("only enhancing volumes" in n for n in result.notes)
    # +30 % volume is below the +40 % threshold: not PD
    scans[1]["lesions"]["L1"]["volume_ml"] = 5.2
    assert assess_rano2(_case(scans)).calls[-1].category is not Category.PD
    # with a bidimensional size the criterion's own method still drives the call
    scans[0]["lesions"]["L1"] |= {"long_mm": 20, "perp_mm": 18}
    scans[1]["lesions"]["L1"] |= {"long_mm": 21, "perp_mm": 18}
    assert assess_rano2(_case(scans)).method == "bidimensional"
