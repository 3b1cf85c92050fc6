"""The brain mask's plausibility warnings (volume outside the adult range, mask cut by the field of view) reach the
lesions stage's warnings (hence the report) and lesions.json (issue 13)."""

from __future__ import annotations

from pseudoprog.ingest import ingest_case
from pseudoprog.lesions.analysis import analyse_case
from pseudoprog.lesions.output import lesions_document
from pseudoprog.lesions.stage import run_lesions
from pseudoprog.phantoms.anatomy import Grid


def test_a_field_of_view_that_cuts_the_brain_is_a_warning_of_the_lesions_stage(phantom_cases):
    # 9 slices of 7 mm (63 mm) through a brain 116 mm high: the top and the bottom of the brain are cut off.
    folder = phantom_cases(
        "pseudoprogression",
        "nifti",
        sequences=("structural",),
        grid=Grid(shape=(48, 56, 9), spacing_mm=(4.0, 4.0, 7.0)),
    )
    case = ingest_case(folder).case
    stage = run_lesions(case, {})
    for tp in case.timepoints:
        said = [w for w in stage.at(tp.date).warnings if w.startswith("brain mask")]
        assert said, stage.at(tp.date).warnings
        assert "field of view cuts the brain" in said[0] and "axis 2" in said[0]
    doc = lesions_document(analyse_case(case, within_session="header", bias_correction=False))
    for tp in doc["timepoints"]:
        assert tp["brain_mask"]["cut_by_field_of_view"] == ["first plane of image axis 2", "last plane of image axis 2"]
        assert any("field of view cuts the brain" in w for w in tp["brain_mask"]["warnings"])


def test_a_whole_brain_in_the_field_of_view_gives_no_brain_mask_warning(phantom_cases):
    folder = phantom_cases(
        "pseudoprogression", "nifti", sequences=("structural",), grid=Grid((48, 56, 20), (4.0, 4.0, 7.0))
    )
    doc = lesions_document(analyse_case(ingest_case(folder).case, within_session="header", bias_correction=False))
    for tp in doc["timepoints"]:
        assert tp["brain_mask"]["warnings"] == [] and tp["brain_mask"]["cut_by_field_of_view"] == []
        assert 800 <= tp["brain_mask"]["volume_ml"] <= 1800
        assert not any(n.startswith("brain mask") for n in tp["notes"])
