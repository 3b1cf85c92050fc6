"""End to end: ``flow.assess`` on the synthetic patients gives the expected calls (coarse grid for speed)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pseudoprog.cli import app
from pseudoprog.flow import assess
from pseudoprog.phantoms.anatomy import Grid

COARSE = Grid((64, 72, 16), (3.0, 3.0, 9.0))


@pytest.mark.parametrize(
    ("scenario", "criterion", "category", "others"),
    [
        ("true_progression", "RANO 2.0", "PD", {"RANO": "PD", "mRANO": "PD", "iRANO": "not applicable"}),
        (
            "pseudoprogression",
            "RANO 2.0",
            "PD (preliminary)",
            {"RANO": "PD not allowed: within pseudoprogression window", "mRANO": "PD (preliminary)"},
        ),
        ("radiation_necrosis_after_srs", "RANO-BM", "PD", {"iRANO": "not applicable"}),
    ],
)
@pytest.mark.e2e
def test_pipeline_response_on_phantoms(phantom_cases, tmp_path, scenario, criterion, category, others) -> None:
    case_dir = phantom_cases(scenario, "nifti", grid=COARSE, sequences=("structural",))
    result = assess(case_dir, tmp_path / "out")
    assert result.response is not None
    assert (result.response.criteria, result.response.category) == (criterion, category)
    got = {r.criteria: r.category for r in result.other_responses}
    for name, want in others.items():
        assert got[name] == want, name
    data = json.loads((tmp_path / "out" / "assessment.json").read_text())
    assert data["response"]["category"] == category
    assert len(data["response"]["per_timepoint"]) == len(data["timepoints"])
    assert {r["criteria"] for r in data["other_responses"]} | {criterion} == {
        "RANO",
        "mRANO",
        "RANO 2.0",
        "iRANO",
        "RANO-BM",
    }
    if scenario == "pseudoprogression":
        assert data["response"]["reference"]["within_pseudoprogression_window"] is True
        assert any("pseudoprogression" in w for w in data["warnings"])
    if scenario == "radiation_necrosis_after_srs":
        assert "treatment_effect_possible_after_srs" in data["response"]["reference"]["flags"]
    if scenario == "true_progression":
        mrano = next(r for r in data["other_responses"] if r["criteria"] == "mRANO")
        assert mrano["per_timepoint"][1]["in_retrospect"].startswith("PD confirmed")


@pytest.mark.e2e
def test_out_of_scope_case_has_no_response(phantom_cases, tmp_path) -> None:
    result = assess(phantom_cases("stable", "nifti", grid=COARSE, sequences=("structural",)), tmp_path / "out")
    assert result.response is None


def test_cli_criteria_prints_per_scan_calls(phantom_cases) -> None:
    case_dir = phantom_cases("pseudoprogression", "nifti", grid=COARSE, sequences=("structural",))
    res = CliRunner().invoke(app, ["criteria", str(case_dir), "--criteria", "rano", "--explain"])
    assert res.exit_code == 0, res.output
    assert "within pseudoprogression window" in res.output
    bad = CliRunner().invoke(app, ["criteria", str(case_dir), "--criteria", "recist"])
    assert bad.exit_code == 2
