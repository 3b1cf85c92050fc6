"""The report's libraries loaded beside the stages (issue 19), and the PDF never laid out in a forked child.

WeasyPrint lays out through pango and GLib, which are not fork-safe: a child forked from a process that has used
them (a thread loading them ahead of the report, an earlier case in the same process) can inherit a GLib lock held
at the fork and wait on it for ever (met in CI: a child stuck in ``g_slice_alloc`` under
``pango_fc_font_map_set_config``). So the report's forked children only draw panels (matplotlib) and write the DICOM
objects (highdicom); the HTML and PDF are rendered by the run itself, from the DICOM objects' plan while a child writes
them, and again if what was written differs from the plan.
"""

from __future__ import annotations

import os
import threading

from pseudoprog import flow
from pseudoprog.report import render, stage

from .conftest import install_truth_stages


def _pids_of(monkeypatch, module, name: str, log):
    """Replace ``module.name`` by a call that appends the calling process's pid to ``log``, then does the same."""
    real = getattr(module, name)

    def recorded(*args, **kwargs):
        with log.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, recorded)
    return lambda: [int(x) for x in log.read_text().split()]


def test_the_pdf_is_laid_out_by_the_run_never_in_a_forked_child(small_case, monkeypatch, tmp_path):
    install_truth_stages(monkeypatch, "pseudoprogression")
    monkeypatch.setenv("PSEUDOPROG_CASE_THREADS", "2")
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # the panels' child is forked whatever this runs
    pdf_pids = _pids_of(monkeypatch, render, "html_to_pdf", tmp_path / "pdf-pids.txt")
    result = flow.assess(small_case("pseudoprogression", "dicom"), tmp_path / "out")
    assert pdf_pids() == [os.getpid()]
    assert (tmp_path / "out" / result.outputs["report_pdf"]).read_bytes().startswith(b"%PDF")


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

    from highdicom._standard_utils import get_module_attribute_map

    from pseudoprog.report.warm import warm_report_libraries

    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import fails as if it were not installed
    get_module_attribute_map.cache_clear()
    warm_report_libraries()  # no error: the report stage meets and reports it
    assert get_module_attribute_map.cache_info().currsize == 1  # and what could be loaded was


def test_dicom_objects_are_written_beside_and_the_report_lists_what_was_written(small_case, monkeypatch, tmp_path):
    """The DICOM objects are written by a child while the run lays the report out from their plan; when writing
    refuses one (here every SEG), the report is laid out again, so it lists what was written and says why not."""
    install_truth_stages(monkeypatch, "pseudoprogression")
    monkeypatch.setenv("PSEUDOPROG_CASE_THREADS", "2")
    monkeypatch.setattr(threading, "active_count", lambda: 1)

    def refused(*args, **kwargs):
        raise ValueError("refused for this test")

    monkeypatch.setattr(stage, "write_lesion_seg", refused)
    seg_pids = _pids_of(monkeypatch, stage, "write_lesion_seg", tmp_path / "seg-pids.txt")
    pdf_pids = _pids_of(monkeypatch, render, "html_to_pdf", tmp_path / "pdf-pids.txt")
    result = flow.assess(small_case("pseudoprogression", "dicom"), tmp_path / "out")
    writers = set(seg_pids())
    assert writers and os.getpid() not in writers  # written in a child
    assert pdf_pids() == [os.getpid()] * 2  # laid out from the plan, then again
    assert not any(k.startswith("dicom_seg_") for k in result.outputs)
    assert any(k.startswith("dicom_sr_") for k in result.outputs)
    reasons = [n.reason for n in result.not_assessed if n.stage == "report.dicom.seg"]
    assert reasons and all("refused for this test" in r for r in reasons)
    html = (tmp_path / "out" / result.outputs["report_html"]).read_text()
    assert "refused for this test" in html and "DICOM SEG of the lesions" not in html


def test_when_the_plan_holds_the_report_is_laid_out_once(small_case, monkeypatch, tmp_path):
    install_truth_stages(monkeypatch, "pseudoprogression")
    monkeypatch.setenv("PSEUDOPROG_CASE_THREADS", "2")
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    pdf_pids = _pids_of(monkeypatch, render, "html_to_pdf", tmp_path / "pdf-pids.txt")
    result = flow.assess(small_case("pseudoprogression", "dicom"), tmp_path / "out")
    assert len(pdf_pids()) == 1
    assert any(k.startswith("dicom_seg_") for k in result.outputs)
    html = (tmp_path / "out" / result.outputs["report_html"]).read_text()
    assert "DICOM SEG of the lesions" in html


def test_without_a_fork_the_report_is_laid_out_once_from_what_was_written(small_case, monkeypatch, tmp_path):
    """Inline (one thread allowed, or the reading-room service's threads) the DICOM objects are written first, so
    the report is laid out once from them, not from a plan that writing then contradicts."""
    install_truth_stages(monkeypatch, "pseudoprogression")
    monkeypatch.setenv("PSEUDOPROG_CASE_THREADS", "1")

    def refused(*args, **kwargs):
        raise ValueError("refused for this test")

    monkeypatch.setattr(stage, "write_lesion_seg", refused)
    pdf_pids = _pids_of(monkeypatch, render, "html_to_pdf", tmp_path / "pdf-pids.txt")
    result = flow.assess(small_case("pseudoprogression", "dicom"), tmp_path / "out")
    assert pdf_pids() == [os.getpid()]
    assert not any(k.startswith("dicom_seg_") for k in result.outputs)
    assert any(n.stage == "report.dicom.seg" and "refused for this test" in n.reason for n in result.not_assessed)
