"""A cohort on a real distributed cluster (scheduler + 2 workers on loopback): see conftest.py."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pseudoprog.cohort.table import rows_for_case
from pseudoprog.phantoms.patient import SCENARIOS

from .conftest import KILLED, TIMEOUT_S

pytestmark = pytest.mark.slow


def test_the_table_has_every_case_and_faults_are_error_rows(cohort_runs):
    out = Path(cohort_runs["out"])
    frame = pd.read_parquet(out / "cohort.parquet")
    assert set(frame["case"]) == {*SCENARIOS, "broken", "hung"}
    errors = frame[frame["status"] == "error"]
    assert sorted(errors["case"]) == ["broken", "hung"]
    assert len(errors) == 2  # one row each
    reasons = dict(zip(errors["case"], errors["error"], strict=True))
    assert "case.yaml" in reasons["broken"] and "InputError" in reasons["broken"]
    assert reasons["hung"].startswith(f"timed out after {TIMEOUT_S:g} s")
    ok = frame[frame["status"] == "ok"]
    for name in SCENARIOS:
        n_scans = len(cohort_runs["single"][name]["timepoints"])
        assert (ok["case"] == name).sum() == n_scans
    csv = pd.read_csv(out / "cohort.csv")
    assert len(csv) == len(frame) and list(csv.columns) == list(frame.columns)
    # the hung case left no outputs but its marker and log (no partial report taken for a result)
    assert sorted(p.name for p in (out / "cases" / "hung").iterdir()) == ["cohort-done.json", "cohort-log.txt"]


def test_assessed_cases_match_single_case_assess_exactly(cohort_runs):
    out = Path(cohort_runs["out"])
    frame = pd.read_parquet(out / "cohort.parquet")
    for name in SCENARIOS:
        assert cohort_runs["first_assessments"][name] == cohort_runs["single"][name], name
        expected = rows_for_case(name, {"status": "ok"}, cohort_runs["single"][name])
        got = frame[frame["case"] == name].to_dict("records")
        for want, have in zip(expected, got, strict=True):
            for key, value in want.items():
                cell = have[key]
                if value is None:
                    assert cell is None or pd.isna(cell), (name, key, cell)
                else:
                    assert cell == value, (name, key, cell, value)


def test_the_case_outputs_sit_beside_the_table(cohort_runs):
    out = Path(cohort_runs["out"])
    for name in SCENARIOS:
        folder = out / "cases" / name
        assert (folder / "report.html").is_file()
        done = json.loads((folder / "cohort-done.json").read_text())
        assert done["status"] == "ok" and len(done["input_hash"]) == 64
    page = (out / "cohort.html").read_text()
    for heading in ("Response distribution", "Waterfall", "Swimmer", "Agreement", "ROC"):
        assert heading in page
    assert "src=\"http" not in page and "<script src" not in page  # self-contained


def test_labels_are_joined_and_feed_calibrate(cohort_runs):
    from pseudoprog.evidence.calibration import _LABELS_TE, _LABELS_TP

    out = Path(cohort_runs["out"])
    frame = pd.read_parquet(out / "cohort.parquet")
    latest = frame[(frame["status"] == "ok") & frame["latest"].fillna(False).astype(bool)]
    truth = {n: json.loads((Path(cohort_runs["cases"][n]) / "truth.json").read_text())["truth"] for n in SCENARIOS}
    for _, row in latest.iterrows():
        assert row["outcome"] == truth[row["case"]]
        assert row["label"] == (1 if truth[row["case"]] == "true_progression" else 0)
    assert frame[~frame["latest"].fillna(False).astype(bool)]["label"].isna().all()
    cal = pd.read_csv(out / "cohort-calibrate.csv")
    assert list(cal.columns[:2]) == ["case_id", "label"] and len(cal) == len(SCENARIOS)
    assert {str(v) for v in cal["label"]} <= _LABELS_TP | _LABELS_TE


def test_a_rerun_does_no_work(cohort_runs):
    assert cohort_runs["rerun"]["computed"] == []
    assert sorted(cohort_runs["rerun"]["skipped"]) == sorted([*SCENARIOS, "broken", "hung"])


def test_killing_a_worker_mid_run_still_completes_the_cohort(cohort_runs):
    killed = cohort_runs["killed"]
    assert killed["worker_killed"] and not killed["worker_alive_after"]
    assert sorted(killed["computed"]) == sorted(KILLED)
    for name in KILLED:
        assert killed["done"][name]["status"] == "ok", killed["done"][name]
        assert killed["assessments"][name] == cohort_runs["single"][name]


def test_every_process_the_fixture_started_is_stopped(cohort_runs):
    assert cohort_runs["cluster_stopped"]
