"""`pseudoprog mrs FILE`: ratios with fit quality, refusals, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from pseudoprog.cli import app

runner = CliRunner()
TABLE = (
    " LCModel (Version 6.3-1B)\n\n$$CONC 4 lines in following concentration table = NCONC+1\n"
    "    Conc.  %SD /Cr+PCr  Metabolite\n    0.300   3%   1.500 GPC+PCh\n    0.100  25%   0.500 NAA+NAAG\n"
    "    0.200   3%   1.000 Cr+PCr\n"
)


def test_mrs_prints_ratios_and_refusals(tmp_path: Path) -> None:
    (tmp_path / "a.TABLE").write_text(TABLE)
    result = runner.invoke(app, ["mrs", str(tmp_path / "a.TABLE")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "cho_cr" in result.output and "1.500" in result.output
    assert "refused" in result.output and "tNAA" in result.output
    looser = runner.invoke(app, ["mrs", str(tmp_path / "a.TABLE"), "--max-sd", "30"], env={"COLUMNS": "200"})
    assert "3.000" in looser.output  # Cho/NAA accepted under a 30 % limit


def test_mrs_geometry_of_a_vendor_file(tmp_path: Path, write_rda) -> None:
    write_rda(tmp_path / "v.rda", np.zeros((1, 1, 1, 8), complex))
    result = runner.invoke(app, ["mrs", str(tmp_path / "v.rda")], env={"COLUMNS": "250"})
    assert result.exit_code == 0 and "no fit" in result.output


def test_mrs_bad_inputs_exit_2(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hello")
    assert runner.invoke(app, ["mrs", str(tmp_path / "x.txt")]).exit_code == 2
    (tmp_path / "a.TABLE").write_text(TABLE)
    assert runner.invoke(app, ["mrs", str(tmp_path / "a.TABLE"), "--max-sd", "-1"]).exit_code == 2
