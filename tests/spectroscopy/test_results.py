"""LCModel and TARQUIN result readers on small hand-written files (formats as the programs write them)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pseudoprog.errors import InputError
from pseudoprog.spectroscopy.results import read_fit_result, read_lcmodel_csv, read_tarquin, sniff_fit_result

TABLE = """ LCModel (Version 6.3-1B)
 TEST

$$CONC 6 lines in following concentration table = NCONC+1
    Conc.  %SD /Cr+PCr  Metabolite
    0.200   4%   0.800 GPC+PCh
    0.100  12%   0.400 NAA+NAAG
    0.250   3%   1.000 Cr+PCr
    0.000 999%   0.000 Lac
 1.06E-02 177% 4.2E-02 Glc

$$MISC  1 lines in following misc. output table
  FWHM = 0.051 ppm    S/N =  21
"""

TARQUIN = """Signal     Conc (au)       %SD   SD (au)
----------------------------------------
Lac            0.000       inf 5.263e-05
TNAA        0.003000     3.000 0.0001196
TCho        0.001500     4.000 1.647e-05
TCr         0.002000     2.000 7.857e-05

Fit quality
-----------
Metab FWHM (PPM) : 0.05
SNR residual     : 30.5
"""

CSV = (
    "Row, Col, GPC+PCh, GPC+PCh %SD, GPC+PCh/Cr+PCr, Cr+PCr, Cr+PCr %SD, Cr+PCr/Cr+PCr\n"
    "  1,   1, 0.2, 4, 0.8, 0.25, 3, 1.0\n"
    "  1,   2, 0.3, 25, 1.2, 0.25, 3, 1.0\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="latin-1")
    return p


def test_lcmodel_table_values_sd_and_fit_quality(tmp_path: Path) -> None:
    fit = read_fit_result(_write(tmp_path, "a.TABLE", TABLE))[0]
    assert fit.fitter == "LCModel"
    assert fit.metabolites["GPC+PCh"].concentration == pytest.approx(0.2)
    assert fit.metabolites["NAA+NAAG"].sd_percent == 12
    assert math.isinf(fit.metabolites["Lac"].sd_percent)  # 999 % means undefined
    assert fit.metabolites["Glc"].sd_percent == 177  # three digits touching the next column
    assert fit.quality == {"fwhm_ppm": 0.051, "snr": 21.0}


def test_truncated_table_names_file_and_line(tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.TABLE", TABLE.replace("    0.250   3%   1.000 Cr+PCr\n", "    oops\n"))
    with pytest.raises(InputError, match=r"bad\.TABLE.*line 8"):
        read_fit_result(bad)


def test_tarquin_inf_sd_and_quality(tmp_path: Path) -> None:
    fit = read_tarquin(_write(tmp_path, "r.txt", TARQUIN))
    assert fit.fitter == "TARQUIN"
    assert fit.metabolites["TCho"].sd_percent == 4.0
    assert math.isinf(fit.metabolites["Lac"].sd_percent)
    assert fit.quality["snr"] == 30.5


def test_lcmodel_csv_one_result_per_voxel(tmp_path: Path) -> None:
    fits = read_lcmodel_csv(_write(tmp_path, "grid.csv", CSV))
    assert [f.voxel for f in fits] == [(1, 1, 1), (1, 2, 1)]
    assert fits[1].metabolites["GPC+PCh"].sd_percent == 25


def test_sniffing_by_content_not_name(tmp_path: Path) -> None:
    assert sniff_fit_result(_write(tmp_path, "x.txt", TARQUIN)) == "tarquin"
    assert sniff_fit_result(_write(tmp_path, "y.txt", CSV)) == "lcmodel_csv"
    assert sniff_fit_result(_write(tmp_path, "notes.txt", "Signal to noise was fine.\n")) is None
    assert sniff_fit_result(_write(tmp_path, "table.csv", "a,b\n1,2\n")) is None
    with pytest.raises(InputError, match="not a recognised spectroscopy fit result"):
        read_fit_result(tmp_path / "notes.txt")
