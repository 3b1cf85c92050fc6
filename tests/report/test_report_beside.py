"""The report rendered beside the DICOM objects (issue 19): a child draws the panels and renders the HTML and PDF
from the DICOM objects' plan while the run writes them; the run keeps that report only if what it wrote is the
plan, and renders it again itself otherwise, so the report always lists what was written."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from pseudoprog import flow
from pseudoprog.report import stage

from .conftest import install_truth_stages


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every report rendering appends the id of the process that made it to the returned file."""
    log = tmp_path / "renders.txt"
    real = stage.render_report_files

    def recorded(*args, **kwargs):
        with log.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(stage, "render_report_files", recorded)
    return log


def _forkable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSEUDOPROG_CASE_THREADS", "2")
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # whatever else this test process runs


def _pids(log: Path) -> list[int]:
    return [int(line) for line in log.read_text().split()]


def test_the_report_is_rendered_once_in_the_child_and_lists_what_was_written(
    small_case, monkeypatch, tmp_path, renders
):
    install_truth_stages(monkeypatch, "pseudoprogression")
    _forkable(monkeypatch)
    result = flow.assess(small_case("pseudoprogression", "dicom"), tmp_path / "beside")
    pids = _pids(renders)
    assert len(pids) == 1 and pids[0] != os.getpid()  # rendered once, by the child; the run kept it
    keys = [k for k in result.outputs if k.startswith(("dicom_seg", "dicom_pm", "dicom_sr", "figure_panel"))]
    assert len(keys) == 8
    html = (tmp_path / "beside" / "report.html").read_text()
    assert "DICOM SEG of the lesions" in html and "DICOM Parametric Maps" in html and "DICOM SR" in html

    renders.unlink()
    monkeypatch.setenv("PSEUDOPROG_CASE_THREADS", "1")  # the same case, everything in this process
    alone = flow.assess(small_case("pseudoprogression", "dicom"), tmp_path / "alone")
    assert _pids(renders) == [os.getpid()]
    assert alone.outputs == result.outputs and alone.not_assessed == result.not_assessed
    written = json.loads((tmp_path / "beside" / "assessment.json").read_text())
    assert written["outputs"] == result.outputs


def test_an_object_that_fails_to_write_is_not_listed_by_a_report_from_the_plan(
    small_case, monkeypatch, tmp_path, renders
):
    install_truth_stages(monkeypatch, "pseudoprogression")
    _forkable(monkeypatch)

    def refused(*_a, **_k):
        raise ValueError("the parametric map writer refused it")

    monkeypatch.setattr(stage, "write_parametric_map", refused)  # only the writing calls it, not the plan
    result = flow.assess(small_case("pseudoprogression", "dicom"), tmp_path / "out")
    pids = _pids(renders)
    assert pids[-1] == os.getpid() and len(pids) == 2  # the child's report (from the plan) was rendered again here
    assert not [k for k in result.outputs if k.startswith("dicom_pm")]
    reasons = [n.reason for n in result.not_assessed if n.stage == "report.dicom.pm"]
    assert len(reasons) == 2 and all("refused it" in r for r in reasons)
    html = (tmp_path / "out" / "report.html").read_text()
    assert "refused it" in html and "DICOM Parametric Maps" not in html and "DICOM SEG of the lesions" in html


def test_the_report_libraries_are_loaded_beside_the_stages_and_never_past_them(small_case, monkeypatch, tmp_path):
    from pseudoprog.report import warm

    install_truth_stages(monkeypatch, "pseudoprogression")
    monkeypatch.setenv("PSEUDOPROG_CASE_THREADS", "2")
    started: list[str] = []
    real_start, real_stage = warm.start_warming, stage.run_report_stage

    def start():
        started.append("warming")
        return real_start()

    def report_stage(*args, **kwargs):
        # the warming thread has been joined: the report stage may fork
        assert not [t for t in threading.enumerate() if t.name == "warm-report"]
        return real_stage(*args, **kwargs)

    monkeypatch.setattr("pseudoprog.flow.run.start_warming", start)
    monkeypatch.setattr(stage, "run_report_stage", report_stage)
    result = flow.assess(small_case("pseudoprogression", "dicom"), tmp_path / "out")
    assert started == ["warming"] and "report_pdf" in result.outputs


def test_warming_without_weasyprint_is_silent(monkeypatch):
    import sys

    from pseudoprog.report.warm import warm_report_libraries

    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import fails as if it were not installed
    warm_report_libraries()  # no error: the report stage meets and reports it
