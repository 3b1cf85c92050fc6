"""The runner's one error policy: a stage that raises ends in ``not_assessed``, never in a crash."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from pseudoprog.case import Case, Diagnosis, DiagnosisType, Patient, Timepoint
from pseudoprog.errors import CannotAssessError, InputError
from pseudoprog.flow import FlowContext, decide_scope, guarded
from pseudoprog.flow import run as flow_run
from pseudoprog.handoff import StageOutput

DATE = dt.date(2026, 3, 2)


def _context(tmp_path) -> FlowContext:
    case = Case(Patient("P"), Diagnosis(DiagnosisType.GLIOBLASTOMA), (), (Timepoint(date=DATE),))
    return FlowContext(case, tmp_path, decide_scope(case))


def _raise(exc: Exception):
    def stage(*_args) -> StageOutput:
        raise exc

    return stage


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (InputError("FlipAngle is not recorded", file="dce/", field="FlipAngle"), "FlipAngle"),
        (CannotAssessError("no VFA series"), "no VFA series"),
        (ValueError("operands could not be broadcast"), "ValueError: operands could not be broadcast"),
    ],
)
def test_a_failing_stage_becomes_not_assessed(tmp_path, caplog, exc, reason) -> None:
    ctx = _context(tmp_path)
    with caplog.at_level(logging.ERROR, logger="pseudoprog.flow.run"):
        guarded(ctx, "dce", _raise(exc), when=DATE)
    [item] = ctx.not_assessed
    assert item.stage == "dce" and reason in item.reason and item.timepoint == DATE
    # Only an unexpected error is logged (with its traceback); expected ones are the case's data.
    assert bool(caplog.records) is (type(exc) is ValueError)


def test_an_output_is_merged_when_the_stage_succeeds(tmp_path) -> None:
    ctx = _context(tmp_path)
    out = StageOutput()
    out.at(DATE).warnings.append("a note")
    out.warnings.append("a case warning")
    guarded(ctx, "x", lambda: out)
    assert ctx.at(DATE).warnings == ["a note"] and ctx.warnings == ["a case warning"] and not ctx.not_assessed


@pytest.mark.e2e
def test_assess_goes_on_to_a_report_when_stages_raise(phantom_cases, tmp_path, monkeypatch) -> None:
    case_dir = phantom_cases("pseudoprogression", "nifti", sequences=("structural",))
    stages = dict(flow_run.STAGES)
    stages["lesions"] = _raise(ValueError("a bug in the lesions stage"))
    stages["criteria"] = _raise(InputError("bad lesion record", file="case.yaml", field="timepoints[1]"))
    monkeypatch.setattr(flow_run, "STAGES", list(stages.items()))
    result = flow_run.assess(case_dir, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "assessment.json").read_text())
    reasons = {n["stage"]: n["reason"] for n in doc["not_assessed"]}
    assert "a bug in the lesions stage" in reasons["lesions"]
    assert "bad lesion record" in reasons["criteria"]
    assert (tmp_path / "out" / "report.html").exists()
    assert result.response is None  # the criteria stage did not run: no invented call
