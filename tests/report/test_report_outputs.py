"""The report stage end to end: every output of a DICOM case, the page in a real browser, the PDF as pixels,
re-rendering from assessment.json, NIfTI input, and every demo scenario."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

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


def pdf_pages(pdf) -> list[str]:
    """The text of each page of a PDF (pdftotext -layout), form feeds split."""
    exe = need_binary("pdftotext")
    run = subprocess.run([exe, "-layout", str(pdf), "-"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout.split("\f")[:-1]


# Header lines of the report's tables: a page must not end on one (a header orphaned from its rows).
_TABLE_HEADERS = (r"Date\s+Enhancing lesions", r"Marker\s+Unit", r"Item\s+Value\s+LR", r"Stage\s+Timepoint",
                  r"Treatment\s+Start\s+End", r"Date\s+Role\s+Call")


@pytest.mark.e2e
def test_pdf_starts_with_answer_timeline_and_images_and_stays_short(dicom_assessed):
    _, out = dicom_assessed
    pages = pdf_pages(out / "report.pdf")
    first = pages[0]
    for heading in ("Probability of true progression", "95 % interval", "Response call", "Next step", "Timeline",
                    "Images at the lesion", DATES[0]):
        assert heading in first, heading
    assert len(pages) <= 6, f"{len(pages)} pages for two scans"
    for number, page in enumerate(pages, start=1):
        lines = [ln for ln in page.splitlines() if ln.strip() and "decision support, not a diagnosis" not in ln]
        if number < len(pages):  # no page holds only a row or two of a table
            assert len(lines) >= 8, (number, lines)
        assert not any(re.search(h, lines[-1]) for h in _TABLE_HEADERS), (number, lines[-3:])


@pytest.mark.e2e
def test_pdf_text_stays_inside_the_page_margins(dicom_assessed):
    exe = need_binary("pdftotext")
    _, out = dicom_assessed
    run = subprocess.run([exe, "-bbox", str(out / "report.pdf"), "-"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    width = float(re.search(r'<page width="([\d.]+)"', run.stdout).group(1))
    margin_pt = 11 / 25.4 * 72  # the @page side margins (11 mm)
    words = [(float(a), float(b), w) for a, b, w in re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"'
                                                               r' yMax="[\d.]+">([^<]*)</word>', run.stdout)]
    assert words
    outside = [w for lo, hi, w in words if lo < margin_pt - 1.0 or hi > width - margin_pt + 1.0]
    assert not outside, outside[:10]


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


@pytest.mark.e2e
def test_assessment_json_names_files_relative_to_the_case_and_output_folders(dicom_assessed):
    """No absolute path in assessment.json: series files relative to the case folder, outputs to the output folder."""
    _, out = dicom_assessed
    text = (out / "assessment.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    assert str(out.resolve()) not in text and str(out) not in text
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
    assert not [s for s in strings if s.startswith("/")], [s for s in strings if s.startswith("/")][:5]
    files = [f for tp in doc["timepoints"] for s in tp["series"] for f in s.get("files", ())]
    assert files and not any(Path(f).is_absolute() for f in files)
    assert all((out / p).exists() for p in doc["outputs"].values())  # each output resolves beside assessment.json
