"""The report stage end to end: every output of a DICOM case, the page in a real browser, the PDF as pixels,
re-rendering from assessment.json, NIfTI input, and every demo scenario."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from pseudoprog import flow
from pseudoprog.cli import app
from pseudoprog.errors import InputError
from pseudoprog.report.render import rerender

from .conftest import install_truth_stages, need_binary

DATES = ("2026-03-16", "2026-04-27")


@pytest.mark.e2e
def test_dicom_case_writes_every_output_beside_assessment_json(dicom_assessed):
    result, out = dicom_assessed
    for day in DATES:
        for key in (f"dicom_seg_{day}", f"dicom_pm_dsc_rcbv_{day}", f"dicom_sr_{day}", f"figure_panel_{day}"):
            assert (out / result.outputs[key]).is_file(), key
    assert (out / result.outputs["report_pdf"]).read_bytes().startswith(b"%PDF")
    assert not [n for n in result.not_assessed if n.stage.startswith("report")]
    doc = json.loads((out / "assessment.json").read_text())
    assert doc["outputs"] == result.outputs
    html = (out / "report.html").read_text()
    assert "SYN-PSP-001" in html
    assert "PHANTOM" not in html  # the DICOM patient name never reaches the report
    assert "http://" not in html and "https://" not in html  # self-contained
    assets = json.loads((out / "report-assets.json").read_text())
    assert assets["software"]["highdicom"] and assets["software"]["pseudoprog"] == result.software_version


@pytest.mark.e2e
def test_report_opens_in_headless_chromium_with_the_answer_and_every_figure(dicom_assessed, tmp_path):
    exe = need_binary("chromium")
    _result, out = dicom_assessed
    page = tmp_path / "page.html"
    probe = (
        "<script>window.addEventListener('load', () => { const ok = [...document.images]"
        ".filter(i => i.complete && i.naturalWidth > 100); document.body.dataset.loadedImages = ok.length; });"
        "</script></body>"
    )
    page.write_text((out / "report.html").read_text().replace("</body>", probe))
    run = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=80,
    )
    dom = run.stdout
    assert 'id="answer"' in dom, run.stderr[-2000:]
    answer = re.search(r'id="answer".*?</div>\s*</div>|id="answer".*?</dl>', dom, re.S)
    assert answer and "Probability of true progression" in answer.group(0)
    assert "Response call" in answer.group(0) and "Next step" in answer.group(0)
    loaded = re.search(r'data-loaded-images="(\d+)"', dom)
    assert loaded, "the page's load event did not run"
    assert int(loaded.group(1)) == 1 + len(DATES)  # the timeline and one panel per scan, all decoded
    assert 'id="disclaimer"' in dom


@pytest.mark.e2e
def test_pdf_converts_to_png_with_pdftoppm(dicom_assessed, tmp_path):
    exe = need_binary("pdftoppm")
    from PIL import Image, ImageStat

    _, out = dicom_assessed
    run = subprocess.run([exe, "-r", "50", "-png", "-f", "1", "-l", "1", str(out / "report.pdf"), str(tmp_path / "p")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    (png,) = tmp_path.glob("p*.png")
    with Image.open(png) as img:
        assert img.width > 300 and img.height > img.width  # A4 portrait
        assert ImageStat.Stat(img.convert("L")).stddev[0] > 10  # text and figures, not a blank page


@pytest.mark.e2e
def test_pseudoprog_report_re_renders_the_same_page_from_the_output_folder(dicom_assessed, tmp_path):
    _, out = dicom_assessed
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("dicom", "maps", "report.*"))
    target = tmp_path / "rendered"
    run = CliRunner().invoke(app, ["report", str(copy / "assessment.json"), "--out", str(target), "--no-pdf"])
    assert run.exit_code == 0, run.output
    assert (target / "report.html").read_text() == (out / "report.html").read_text()


def test_re_rendering_refuses_what_is_not_an_assessment(tmp_path):
    bad = tmp_path / "assessment.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(InputError, match="not a pseudoprog assessment"):
        rerender(bad)
    with pytest.raises(InputError, match="does not exist"):
        rerender(tmp_path / "missing.json")
    run = CliRunner().invoke(app, ["report", str(bad)])
    assert run.exit_code == 2


@pytest.mark.e2e
def test_nifti_case_says_why_there_are_no_dicom_outputs(small_case, tmp_path):
    result = flow.assess(small_case("pseudoprogression", "nifti"), tmp_path / "out")
    reasons = [n.reason for n in result.not_assessed if n.stage == "report.dicom"]
    assert reasons and "only for DICOM input" in reasons[0]
    assert not (tmp_path / "out" / "dicom").exists()
    html = (tmp_path / "out" / "report.html").read_text()
    assert "only for DICOM input" in html
    # The lesions stage segments the phantom's lesion, so each scan gets its image panel at the lesion.
    assert html.count('<figure class="panel">') == len(result.timepoints)


@pytest.mark.e2e
@pytest.mark.parametrize("scenario", ["true_progression", "radiation_necrosis_after_srs", "stable"])
def test_every_demo_scenario_renders(small_case, tmp_path, monkeypatch, scenario):
    install_truth_stages(monkeypatch, scenario)
    result = flow.assess(small_case(scenario, "nifti"), tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'id="answer"' in html and result.case_id in html
    assert (tmp_path / "out" / "report.pdf").read_bytes().startswith(b"%PDF")
    if scenario == "stable":
        assert "Out of scope" in html
    else:
        n_scans = len(result.timepoints)
        assert html.count('class="panel"') == n_scans
