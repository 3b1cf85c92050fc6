"""Local calibration: labelled CSV → site profile (cut-offs, CV AUC with bootstrap interval, reliability
diagram, operating point) → `assess --profile`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from pseudoprog.cli import app
from pseudoprog.errors import InputError
from pseudoprog.evidence.calibration import calibrate, read_labelled_csv, read_profile, youden_row
from pseudoprog.evidence.stats import auc

runner = CliRunner()


def _write_csv(path: Path, n: int = 240, *, signal: float = 1.0, seed: int = 3) -> Path:
    """A site whose rCBV separates with d' = 2*signal and whose ADC separates with d' = signal."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.6
    rcbv = np.exp(rng.normal(np.where(y, np.log(2.6), np.log(2.6) - 0.8 * signal), 0.4))
    adc = np.exp(rng.normal(np.where(y, np.log(1.15e-3), np.log(1.15e-3) + 0.2 * signal), 0.2))
    with path.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["case_id", "label", "rcbv_max", "adc_mean"])
        for i in range(n):
            w.writerow([f"c{i}", "tp" if y[i] else "te", f"{rcbv[i]:.3f}", "" if i % 10 == 0 else f"{adc[i]:.6f}"])
    return path


def test_calibrate_writes_a_profile_a_diagram_and_honest_numbers(tmp_path):
    csv_path = _write_csv(tmp_path / "site.csv")
    report = calibrate(csv_path, tmp_path / "site.yaml", n_boot=200)
    doc = yaml.safe_load((tmp_path / "site.yaml").read_text())
    assert doc["format"] == "pseudoprog-site-profile" and doc["n_cases"] == 240
    assert set(doc["markers"]) == {"rcbv_max", "adc_mean"}
    lo, hi = report.cv_auc_interval
    assert 0.8 < report.cv_auc < 0.99 and lo < report.cv_auc < hi
    assert report.calibration_error < 0.12
    assert 0 < report.operating_point["sensitivity"] <= 1
    assert report.diagram_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The site cut-off for rCBV sits between the class medians (2.6 vs ~1.17).
    assert 1.2 < doc["markers"]["rcbv_max"]["cutoff"] < 2.6
    assert doc["markers"]["adc_mean"]["higher_suggests"] == "treatment_effect"


def test_a_site_without_signal_gets_an_auc_interval_around_one_half(tmp_path):
    csv_path = _write_csv(tmp_path / "noise.csv", signal=0.0, seed=5)
    report = calibrate(csv_path, tmp_path / "noise.yaml", n_boot=200)
    assert report.cv_auc_interval[0] < 0.55 and report.cv_auc < 0.65


def test_youden_row_counts_match_its_cutoff():
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.5
    x = rng.normal(np.where(y, 2.0, 1.0), 0.5)
    row = youden_row(x, y, marker="rcbv_max", higher_suggests="tumour", source="t")
    assert row is not None and row.cutoff is not None
    cut = row.cutoff[0]
    assert row.tp_pos == int((x[y] >= cut).sum()) and row.te_neg == int((x[~y] < cut).sum())
    assert auc(x, y) > 0.8


def test_assess_with_the_profile_uses_the_site_cutoff(tmp_path):
    from tests.test_advice import S1, _with_markers

    calibrate(_write_csv(tmp_path / "site.csv"), tmp_path / "site.yaml", n_boot=100)
    case = tmp_path / "case"
    case.mkdir()
    (case / "case.yaml").write_text(yaml.safe_dump(_with_markers(S1, {"rcbv_max": 2.2}), sort_keys=False))
    result = runner.invoke(
        app, ["assess", str(case), "--out", str(tmp_path / "o"), "--profile", str(tmp_path / "site.yaml")]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "o" / "assessment.json").read_text())
    rcbv = next(e for e in doc["evidence"] if e["name"] == "rcbv_max")
    assert rcbv["source"].startswith("site profile site.yaml")
    assert not any("rcbv_max: literature cut-offs" in w for w in doc["warnings"])
    assert "site-calibrated cut-offs for rcbv_max" in doc["probability_true_progression"]["method"]
    plain = runner.invoke(app, ["assess", str(case), "--out", str(tmp_path / "p")])
    assert plain.exit_code == 0
    doc_plain = json.loads((tmp_path / "p" / "assessment.json").read_text())
    assert any("rcbv_max: literature cut-offs" in w for w in doc_plain["warnings"])


def test_calibrate_command_prints_the_auc_and_writes_files(tmp_path):
    csv_path = _write_csv(tmp_path / "site.csv", n=120)
    result = runner.invoke(app, ["calibrate", str(csv_path), "--out", str(tmp_path / "prof.yaml")])
    assert result.exit_code == 0, result.output
    assert "cross-validated AUC" in result.output
    assert (tmp_path / "prof.yaml").exists() and (tmp_path / "prof.reliability.png").exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("label,rcbv\n1,2\n", "unknown column"),
        ("rcbv_max\n2\n", "no 'label' column"),
        ("label,rcbv_max\nmaybe,2\n", "not recognised"),
        ("label,rcbv_max\n1,abc\n", "not a number"),
        ("label,rcbv_max\n" + "1,2\n0,1\n" * 5, "only 10 labelled cases"),
        ("label,rcbv_max\n" + "1,2\n" * 30 + "0,1\n" * 2, "fewer than 5"),
    ],
)
def test_bad_labelled_files_are_clear_input_errors(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=match):
        read_labelled_csv(path)


def test_bad_profiles_are_refused_before_any_work(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("format: something-else\n")
    with pytest.raises(InputError, match="not a site profile"):
        read_profile(bad)
    bad.write_text("format: pseudoprog-site-profile\nversion: 1\nmarkers: {rcbv_max: {cutoff: 2}}\n")
    with pytest.raises(InputError, match="incomplete row"):
        read_profile(bad)
    result = runner.invoke(app, ["assess", str(tmp_path), "--profile", str(bad)])
    assert result.exit_code == 2


def test_calibrate_options_are_validated(tmp_path):
    csv_path = _write_csv(tmp_path / "s.csv", n=60)
    with pytest.raises(ValueError, match="folds"):
        calibrate(csv_path, tmp_path / "x.yaml", folds=1)
    with pytest.raises(ValueError, match="n_boot"):
        calibrate(csv_path, tmp_path / "x.yaml", n_boot=10)
