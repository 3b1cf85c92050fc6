"""The command line: errors are one clear line with exit code 2; demo and assess write their outputs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pseudoprog.cli import app

runner = CliRunner()


def test_assess_missing_folder_is_a_clear_error_not_a_traceback(tmp_path):
    result = runner.invoke(app, ["assess", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "error:" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output


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
    result = runner.invoke(app, ["inspect", str(phantom_cases("pseudoprogression", "nifti"))])
    assert result.exit_code == 0
    assert "FLAIR" in result.output and "T1c" in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("pseudoprog ")
