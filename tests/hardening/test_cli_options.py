"""Options do what they say; filesystem and unexpected errors are one line (with a log file for a bug)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pseudoprog import flow
from pseudoprog.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [("--brain-mask", "anything", "brain_method"), ("--within-session", "bogus", "within_session")],
)
def test_unknown_option_values_are_errors(light_dicom_case, tmp_path, option, value, words):
    result = runner.invoke(app, ["lesions", str(light_dicom_case), "--out", str(tmp_path / "o"), option, value])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_phantom_refuses_to_overwrite_without_force(tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "truth.json").write_text("{}")  # a phantom folder of an earlier run
    result = runner.invoke(app, ["phantom", str(folder)])
    assert result.exit_code == 2 and "exists already" in result.output and "--force" in result.output
    assert (folder / "truth.json").read_text() == "{}"


def test_assess_into_a_file_is_one_line_naming_it(light_dicom_case, tmp_path):
    target = tmp_path / "out"
    target.write_text("a file")
    result = runner.invoke(app, ["assess", str(light_dicom_case), "--out", str(target)])
    assert result.exit_code == 2, result.output
    assert "is a file, not a folder" in result.output and "Traceback" not in result.output


def test_unexpected_error_is_one_line_with_a_log_file_and_debug_prints_it(monkeypatch, tmp_path):
    def broken(*_a, **_k):
        raise KeyError("the bug")

    monkeypatch.setattr(flow, "assess", broken)
    monkeypatch.setenv("PSEUDOPROG_LOG_DIR", str(tmp_path / "logs"))
    result = runner.invoke(app, ["assess", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "unexpected error" in result.output
    logs = list((tmp_path / "logs").glob("pseudoprog-error-*.log"))
    assert len(logs) == 1 and "Traceback" in logs[0].read_text() and "the bug" in logs[0].read_text()
    assert str(logs[0]) in result.output.replace("\n", "")
    debug = runner.invoke(app, ["--debug", "assess", str(tmp_path)])
    assert debug.exit_code == 1 and "Traceback" in debug.output
