"""The command line: errors are one clear line with exit code 2; demo and assess write their outputs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pseudoprog import flow
from pseudoprog.cli import app
from pseudoprog.errors import CannotAssessError, InputError, OutOfScopeError

runner = CliRunner()


def test_assess_missing_folder_is_a_clear_error_not_a_traceback(tmp_path):
    result = runner.invoke(app, ["assess", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "error:" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output


@pytest.mark.e2e
def test_demo_builds_a_case_and_writes_report(tmp_path):
    result = runner.invoke(
        app, ["demo", "--out", str(tmp_path), "--scenario", "pseudoprogression", "--format", "nifti"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "output-pseudoprogression" / "assessment.json").read_text())
    assert doc["case_id"] == "SYN-PSP-001"
    assert (tmp_path / "output-pseudoprogression" / "report.html").exists()


def test_demo_rejects_unknown_scenario(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--scenario", "nonsense"])
    assert result.exit_code == 2 and "unknown scenario" in result.output


def test_inspect_lists_series_with_reasons(phantom_cases):
    result = runner.invoke(
        app, ["inspect", str(phantom_cases("pseudoprogression", "nifti", sequences=("structural",)))]
    )
    assert result.exit_code == 0
    assert "FLAIR" in result.output and "T1c" in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("pseudoprog ")


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (InputError("bad date", file="case.yaml", field="timepoints[0].date"), 2, "error: case.yaml"),
        (CannotAssessError("no T1c at any timepoint"), 3, "cannot assess: no T1c at any timepoint"),
        (OutOfScopeError("initial diagnosis"), 4, "out of scope: initial diagnosis"),
        (ValueError("--leakage must be bsw"), 2, "error: --leakage must be bsw"),
        (KeyError("rcbv"), 1, "unexpected error: KeyError"),
    ],
)
def test_one_exit_code_table_for_every_command(monkeypatch, tmp_path, exc, code, line):
    def boom(*_args, **_kw):
        raise exc

    monkeypatch.setattr(flow, "assess", boom)
    result = runner.invoke(app, ["assess", str(tmp_path)])
    assert result.exit_code == code
    assert line in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_maps_commands_share_the_table(tmp_path):
    from pseudoprog.errors import exit_code

    missing = tmp_path / "missing.nii.gz"
    for command in ("dsc", "dce", "asl", "adc", "tram"):
        result = runner.invoke(app, ["maps", command, str(missing), "--out", str(tmp_path / "o")])
        assert result.exit_code == exit_code(InputError("x"))[0] == 2, command
