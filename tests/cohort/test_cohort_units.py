"""The cohort's pieces without a cluster: hashing, skipping, publishing, table, labels, agreement, ROC."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pseudoprog.cohort.agreement import broad_class, cohen_kappa, kappa_with_interval, roc_curve
from pseudoprog.cohort.cases import case_hash, find_cases
from pseudoprog.cohort.table import calibration_csv, join_labels, read_labels, rows_for_case
from pseudoprog.cohort.task import DONE_FILE, publish, read_done
from pseudoprog.errors import InputError


def _case(folder: Path, text: str = "patient: {id: X}\n") -> Path:
    folder.mkdir(parents=True)
    (folder / "case.yaml").write_text(text)
    (folder / "2026-01-01").mkdir()
    (folder / "2026-01-01" / "T1c.nii.gz").write_bytes(b"\x00" * 100)
    return folder


def test_hash_changes_with_content_version_and_profile_only(tmp_path):
    case = _case(tmp_path / "a")
    h = case_hash(case, software_version="1")
    assert h == case_hash(case, software_version="1")
    assert h != case_hash(case, software_version="2")
    assert h != case_hash(case, software_version="1", extra=b"profile")
    (case / "2026-01-01" / "T1c.nii.gz").write_bytes(b"\x00" * 99 + b"\x01")  # same size, one byte differs
    assert h != case_hash(case, software_version="1")


def test_hash_does_not_read_special_files(tmp_path):
    import os

    case = _case(tmp_path / "a")
    os.mkfifo(case / "2026-01-01" / "T1c.json")  # reading it would block
    assert len(case_hash(case, software_version="1")) == 64


def test_find_cases_folder_and_csv(tmp_path):
    _case(tmp_path / "cases" / "p 1")
    _case(tmp_path / "cases" / "p2")
    (tmp_path / "cases" / "notes").mkdir()
    names = [e.name for e in find_cases(tmp_path / "cases")]
    assert names == ["p_1", "p2"]
    listing = tmp_path / "list.csv"
    listing.write_text("case,case_dir\nA,cases/p2\nA,cases/p 1\n")
    assert [e.name for e in find_cases(listing)] == ["A", "A-2"]
    with pytest.raises(InputError, match="no case folder"):
        find_cases(tmp_path / "cases" / "notes")


def test_an_unfinished_folder_is_never_taken_for_finished(tmp_path):
    root = tmp_path / "cases"
    tmp = root / ".partial-x-1"
    tmp.mkdir(parents=True)
    (tmp / "assessment.json").write_text("{}")
    assert read_done(tmp) is None  # outputs without a marker are not a result
    (tmp / DONE_FILE).write_text(json.dumps({"status": "ok", "input_hash": "h"}))
    (root / "x").mkdir()
    (root / "x" / "stale.txt").write_text("old run")
    publish(tmp, root / "x")
    assert read_done(root / "x")["input_hash"] == "h"
    assert not (root / "x" / "stale.txt").exists() and not tmp.exists()
    assert [p.name for p in root.iterdir()] == ["x"]


def _assessment() -> dict:
    def lesion(lid, long, perp, vol):
        return {"id": lid, "enhancing": True,
                "measurement": {"long_mm": long, "perp_mm": perp, "measurable": True, "enhancing_volume_mm3": vol}}

    call = {"criteria": "RANO", "category": "PD", "per_timepoint": [
        {"date": "2026-01-01", "category": "baseline", "pct_change_vs_baseline": None, "pct_change_vs_nadir": None},
        {"date": "2026-02-01", "category": "PR", "pct_change_vs_baseline": -60.0, "pct_change_vs_nadir": -60.0},
        {"date": "2026-03-01", "category": "PD", "pct_change_vs_baseline": 0.0, "pct_change_vs_nadir": 150.0}]}
    return {
        "case_id": "P1", "scope": {"in_scope": True, "reason": "r"}, "response": call, "other_responses": [],
        "probability_true_progression": {"value": 0.7, "interval": [0.5, 0.85], "label": "progression favoured"},
        "recommendation": {"next_step": "perfusion MRI", "management": "tumour board"},
        "not_assessed": [{"stage": "maps", "reason": "x", "timepoint": "2026-02-01"}],
        "timepoints": [
            {"date": "2026-01-01", "lesions": [lesion("L1", 20, 10, 1000.0)],
             "markers": [{"name": "rcbv_max", "value": 2.0, "lesion_id": "L1"}]},
            {"date": "2026-02-01", "lesions": [lesion("L1", 10, 8, 400.0), lesion("L2", 5, 4, 50.0)],
             "markers": [{"name": "rcbv_max", "value": 9.0, "lesion_id": "L2"},
                         {"name": "rcbv_max", "value": 1.5, "lesion_id": "L1"}]},
            {"date": "2026-03-01", "lesions": [lesion("L1", 20, 10, 1100.0)], "markers": []},
        ],
    }


def test_rows_per_timepoint_with_burden_changes_markers_and_latest_only_fields():
    rows = rows_for_case("p1", {"status": "ok"}, _assessment())
    assert [r["date"] for r in rows] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert [r["days_on_study"] for r in rows] == [0, 31, 59]
    assert [r["spd_mm2"] for r in rows] == [200.0, 100.0, 200.0]
    assert rows[1]["spd_mm2_pct_vs_baseline"] == -50.0
    assert rows[2]["spd_mm2_pct_vs_baseline"] == 0.0 and rows[2]["spd_mm2_pct_vs_nadir"] == 100.0
    assert rows[2]["volume_mm3_pct_vs_nadir"] == pytest.approx(100 * (1100 - 450) / 450, abs=0.01)
    assert rows[1]["rcbv_max"] == 1.5  # the index lesion (largest product), not the largest value
    assert [r["rano_call"] for r in rows] == ["baseline", "PR", "PD"]
    assert rows[2]["rano_pct_vs_nadir"] == 150.0
    assert rows[0]["probability"] is None and rows[2]["probability"] == 0.7
    assert rows[2]["probability_low"] == 0.5 and rows[2]["next_step"] == "perfusion MRI"
    assert [r["not_assessed"] for r in rows] == [0, 1, 0]
    err = rows_for_case("bad", {"status": "error", "error": "timed out"}, None)
    assert err == [{"case": "bad", "status": "error", "error": "timed out"}]


def test_labels_join_by_case_and_date_and_report_unmatched(tmp_path):
    rows = rows_for_case("p1", {"status": "ok"}, _assessment())
    path = tmp_path / "labels.csv"
    path.write_text("case_id,date,outcome\nP1,2026-02-01,pseudoprogression\np1,,true_progression\nZ,,tp\n")
    unmatched = join_labels(rows, read_labels(path))
    assert [r.get("label") for r in rows] == [None, 0, 1]
    assert unmatched == ["Z (latest)"]
    path.write_text("case_id,date,outcome\nP1,,maybe\n")
    with pytest.raises(InputError, match="outcome"):
        read_labels(path)


def test_the_calibrate_csv_is_read_by_pseudoprog_calibrate(tmp_path):
    from pseudoprog.evidence.calibration import calibrate

    rng = np.random.default_rng(3)
    rows = []
    for i in range(30):
        label = i % 2
        rows.append({"case": f"c{i}", "date": "2026-01-01", "label": label, "status": "ok",
                     "rcbv_max": float(rng.normal(2.5 if label else 1.2, 0.4)), "spd_mm2": 10.0})
    path = tmp_path / "cal.csv"
    path.write_text(calibration_csv(rows))
    assert path.read_text().splitlines()[0] == "case_id,label,rcbv_max"
    report = calibrate(path, tmp_path / "profile.yaml", folds=3)
    assert report.n_cases == 30 and report.cv_auc > 0.8


def test_kappa_known_values_and_interval():
    assert cohen_kappa(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])) == pytest.approx(0.5)
    same = np.array([0, 1, 2, 3, 1, 2])
    assert cohen_kappa(same, same) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 200)
    b = np.where(rng.random(200) < 0.7, a, rng.integers(0, 4, 200))
    kappa, (lo, hi) = kappa_with_interval(a, b, np.arange(200) // 2)
    assert lo < kappa < hi and 0.5 < kappa < 0.9
    assert broad_class("PD (preliminary)") == "PD" and broad_class("PD not allowed: within window") is None
    assert broad_class("baseline") is None and broad_class("CR (unconfirmed)") == "CR"


def test_roc_area_equals_the_mann_whitney_auc():
    from pseudoprog.evidence.stats import auc

    rng = np.random.default_rng(1)
    y = rng.random(80) < 0.4
    s = np.round(rng.normal(y * 1.0, 1.0), 1)  # rounded: ties
    fpr, tpr = roc_curve(s, y)
    assert fpr[0] == 0 and tpr[-1] == 1 and np.all(np.diff(fpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc(s, y), abs=1e-12)


def test_the_command_is_registered():
    from typer.testing import CliRunner

    from pseudoprog.cli import app

    result = CliRunner().invoke(app, ["cohort", "--help"])
    assert result.exit_code == 0
    assert "--scheduler" in result.output and "--memory-limit" in result.output


def test_a_bad_labels_file_stops_the_run_before_any_case(tmp_path):
    from pseudoprog.cohort import run_cohort

    _case(tmp_path / "cases" / "p1")
    labels = tmp_path / "labels.csv"
    labels.write_text("case_id,date\np1,2026-01-01\n")
    with pytest.raises(InputError, match="outcome"):
        run_cohort(tmp_path / "cases", tmp_path / "out", labels=labels)
    assert not (tmp_path / "out" / "cases" / "p1").exists()


def test_finished_cases_with_the_same_hash_start_no_cluster(tmp_path, monkeypatch):
    from pseudoprog.cohort import run, run_cohort
    from pseudoprog.cohort.cases import software_fingerprint

    case = _case(tmp_path / "cases" / "p1")
    digest = case_hash(case, software_version=software_fingerprint())
    done = tmp_path / "out" / "cases" / "p1"
    done.mkdir(parents=True)
    (done / DONE_FILE).write_text(json.dumps({"status": "ok", "input_hash": digest}))
    (tmp_path / "out" / "cases" / ".partial-p1-dead").mkdir()  # an interrupted attempt

    def no_cluster(*_a, **_k):
        raise AssertionError("a cluster was started for unchanged cases")

    monkeypatch.setattr(run, "_run_jobs", no_cluster)
    result = run_cohort(tmp_path / "cases", tmp_path / "out", write_report=False)
    assert result.skipped == ["p1"] and result.computed == []
    assert not (tmp_path / "out" / "cases" / ".partial-p1-dead").exists()
    (case / "case.yaml").write_text("patient: {id: Y}\n")  # changed input: it must run again
    with pytest.raises(AssertionError, match="cluster was started"):
        run_cohort(tmp_path / "cases", tmp_path / "out", write_report=False)
