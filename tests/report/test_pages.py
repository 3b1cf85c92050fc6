"""The report a clinician reads in one minute (issue 12 item 8): a clinical body of at most four pages and a
compact appendix, the whole at most six pages for the two-scan demo; no internal ids in the text; warnings
that change the reading beside the answer; quality warnings grouped by map with counts.

The demo case is ``data/demo_assessment.json``: the assessment ``pseudoprog demo --scenario
pseudoprogression`` writes for the built-in synthetic patient (two scans, every modality), trimmed of its
per-slice file lists. Its two image panels are stood in for by PNGs of the real panels' pixel size, so the
layout (and the page count) is the demo's without running the pipeline.
"""

from __future__ import annotations

import copy
import html as htmlmod
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pseudoprog.report.compact import (
    changes_the_reading,
    group_quality_warnings,
    merge_named,
    short_source,
    split_captions,
    stage_text,
)
from pseudoprog.report.html import render_html
from pseudoprog.report.map_names import display_name, humanise
from pseudoprog.report.render import render_report_files

from .conftest import need_binary
from .test_html import _full
from .test_readable import _data
from .test_report_outputs import pdf_pages

DATA = Path(__file__).parent / "data"
PANEL_SIZE = (1144, 638)  # pixels of the report stage's panel PNGs
APPENDIX = "Appendix — the record behind the answer"


def _demo() -> dict[str, Any]:
    return json.loads((DATA / "demo_assessment.json").read_text(encoding="utf-8"))


def _demo_folder(tmp: Path, data: dict[str, Any] | None = None) -> Path:
    from PIL import Image

    folder = tmp / "out"
    (folder / "figures").mkdir(parents=True)
    (folder / "assessment.json").write_text(json.dumps(data or _demo()), encoding="utf-8")
    assets = json.loads((DATA / "demo_report_assets.json").read_text(encoding="utf-8"))
    rng = np.random.default_rng(0)
    for panel in assets["panels"]:
        pixels = rng.integers(0, 255, (PANEL_SIZE[1], PANEL_SIZE[0]), dtype=np.uint8)
        Image.fromarray(pixels, mode="L").save(folder / panel["path"])
    (folder / "report-assets.json").write_text(json.dumps(assets), encoding="utf-8")
    return folder


def _text(html: str) -> str:
    """The words a reader sees: tags, the stylesheet and attribute values dropped."""
    html = re.sub(r"<style.*?</style>", " ", html, flags=re.S)
    return htmlmod.unescape(re.sub(r"<[^>]+>", " ", html))


# Internal ids: snake-case codes (glioma_hgg_after_rt, dsc_cbv, rcbv_max), file names, dotted module paths,
# machine-readable source tags. The one file a reader is pointed to is assessment.json.
_SNAKE = re.compile(r"(?<![\w./-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w-])")
_FILE = re.compile(r"[\w./-]+\.(?:nii(?:\.gz)?|dcm|json|ya?ml|png|csv|md|py|txt|html|pdf)\b")
_MODULE = re.compile(r"\bpseudoprog\.[a-z_]+")
_TAG = re.compile(r"\[(?:V2?|SEED):|\[DERIVED\]|\[UNVERIFIED\]")


def internal_ids(text: str) -> list[str]:
    found = _SNAKE.findall(text) + [f for f in _FILE.findall(text) if f != "assessment.json"]
    return found + _MODULE.findall(text) + _TAG.findall(text)


def test_the_id_scan_finds_what_it_looks_for():
    assert internal_ids("base rate glioma_hgg_after_rt; maps/dsc_rcbv.nii.gz; pseudoprog.evidence [V: R1]") == [
        "glioma_hgg_after_rt", "maps/dsc_rcbv.nii.gz", "pseudoprog.evidence", "[V:"]
    assert internal_ids("rCBV max 2.1; details in assessment.json; e.g. 5 mm") == []


@pytest.mark.parametrize("case", ["demo", "readable", "full"])
def test_no_internal_ids_anywhere_in_the_page(case, tmp_path):
    if case == "demo":
        html = render_html(_demo(), folder=_demo_folder(tmp_path))
    elif case == "readable":
        html = render_html(_data("PD (preliminary)", "treatment effect favoured"))
    else:
        html = render_html(_full())
    found = internal_ids(_text(html))
    assert not found, sorted(set(found))


def test_the_demo_ids_are_shown_by_their_clinical_names(tmp_path):
    text = _text(render_html(_demo(), folder=_demo_folder(tmp_path)))
    assert "high-grade glioma after (chemo)radiotherapy, new/enlarging enhancement" in text  # the prior row
    assert "of the same group (CBV) was used" in text  # dsc_cbv in an evidence note
    assert "DSC perfusion: rCBV, rCBV without leakage correction, CBV" in text  # Methods: maps by acquisition
    assert "DICOM Parametric Maps (rCBV, CBV" in text  # outputs in words, their paths in assessment.json


def test_every_base_rate_row_and_map_has_a_display_name():
    from pseudoprog.files import load_table

    for row in load_table("evidence", "priors")["base_rates"]:
        assert display_name(row["id"]) != row["id"].replace("_", " "), row["id"]
    maps = {m["name"] for tp in _demo()["timepoints"] for m in tp["maps"]}
    unnamed = sorted(m for m in maps if display_name(m) == m.replace("_", " "))
    assert not unnamed, unnamed


@pytest.mark.e2e
def test_the_two_scan_demo_has_a_body_of_at_most_four_pages_and_at_most_six_in_all(tmp_path):
    need_binary("pdftotext")
    folder = _demo_folder(tmp_path)
    rendered = render_report_files(_demo(), folder=folder)
    assert rendered.pdf_error is None, rendered.pdf_error
    pages = pdf_pages(folder / "report.pdf")
    assert len(pages) <= 6, f"{len(pages)} pages"
    starts = [i for i, page in enumerate(pages, start=1) if APPENDIX in page]
    assert len(starts) == 1, starts
    assert starts[0] - 1 <= 4, f"clinical body of {starts[0] - 1} pages"
    body = "\n".join(pages[: starts[0] - 1])
    first = pages[0]
    for text in ("Probability of true progression", "95 % interval", "treatment effect favoured", "Response call",
                 "Next step", "Management", "Timeline", "Images at the lesion", "2026-03-16"):
        assert text in first, text
    for text in ("Lesions and response call", "Evidence", "Cautions for the team", "Decision support, not a diagnosis"):
        assert text in body, text
    appendix = "\n".join(pages[starts[0] - 1:])
    for text in ("A. Evidence notes", "D. Quality warnings by map", "F. Methods and software", "G. References"):
        assert text in appendix and text not in body, text
    assert not internal_ids("\n".join(pages))


def test_the_evidence_table_has_one_short_line_per_item_and_the_notes_go_to_the_appendix(tmp_path):
    html = render_html(_demo(), folder=_demo_folder(tmp_path))
    table = html[html.index('id="evidence"'):]
    table = table[:table.index("</table>")]
    assert "Brandes 2008 [" in table and "Taal 2008 [" in table
    assert "Jeffreys" not in table and "effective LR" not in table  # the how, in the appendix
    assert "95 % 36–68 %" in table and "95 % 7–24 %" in table  # prior and posterior with their intervals
    notes = html[html.index('id="evidence-notes"'):]
    assert "(2/18) / (21/32), Jeffreys" in notes and "effective LR 0.33" in notes
    assert html.index('id="appendix"') < html.index('id="evidence-notes"')


def test_quality_warnings_are_grouped_by_map_with_counts_in_the_appendix(tmp_path):
    html = render_html(_demo(), folder=_demo_folder(tmp_path))
    body, appendix = html[:html.index('id="appendix"')], html[html.index('id="appendix"'):]
    text = _text(appendix)
    assert "DSC: 4 warnings" in text and "ASL: 6 warnings" in text and "Lesions: 4 warnings" in text
    assert text.count("whether a preload bolus was given is not recorded") == 1  # once, with both dates
    assert "whether a preload bolus was given is not recorded (2026-03-16, 2026-04-27)" in text
    assert "preload" not in body and "PostLabelingDelay" not in body  # quality detail stays out of the body
    assert "1.51 cm³" in text and "mm³" not in text


def test_warnings_that_change_the_reading_stay_beside_the_answer(tmp_path):
    data = _demo()
    data["timepoints"][-1]["warnings"].append("DSC: the rCBV map is unreliable: the bolus was not found")
    data["not_assessed"] = [{"stage": "perfusion.dce", "timepoint": "2026-04-27", "reason": "no DCE series"},
                            {"stage": "report.dicom", "timepoint": "2026-04-27", "reason": "NIfTI input: no SEG"}]
    html = render_html(data, folder=_demo_folder(tmp_path, data))
    answer = _text(html[html.index('id="answer"'):html.index("<h2>Timeline")])
    assert "2026-04-27: DSC: the rCBV map is unreliable" in answer
    assert "not assessed — perfusion (DCE) (2026-04-27): no DCE series" in answer
    assert "NIfTI input" not in answer  # an output not written leaves the answer as it is (appendix E)
    appendix = _text(html[html.index('id="appendix"'):])
    assert "unreliable" not in appendix.split("D. Quality warnings by map")[1].split("E. Not assessed")[0]


def test_assessment_json_holds_paths_relative_to_the_case_and_output_folders():
    """The demo's assessment (as `pseudoprog demo` wrote it on this machine) names no absolute path."""
    data = _demo()
    strings: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        elif isinstance(x, str):
            strings.append(x)

    walk(data)
    absolute = [s for s in strings if s.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", s)]
    assert not absolute, absolute[:5]
    files = [f for tp in data["timepoints"] for s in tp["series"] for f in s.get("files", ())]
    assert files and all(f.startswith(tp["date"]) for tp in data["timepoints"] for s in tp["series"]
                         for f in s.get("files", ()))
    assert set(data["outputs"].values()) >= {"assessment.json", "report.pdf"}


# -- the short forms -------------------------------------------------------------------------------------------

def test_short_source_keeps_the_lead_or_the_citations():
    assert short_source("Taal 2008 [8]: asymptomatic 6/18 TP vs 12/18 PsP") == "Taal 2008 [8]"
    lead = "van Dijken 2017 ADC [14] [3 §2.9 L02]"
    assert short_source(f"{lead}. No pooled cut-off") == lead
    assert short_source("[3 §3.1] cohorts [7, 8], late [11]; smooth (derived)") == "[3 §3.1, 7, 8, 11]"
    assert short_source("fusion; [3 §3.6]") == "fusion"
    assert short_source("Patel P et al. 2017 [9]: pooled rCBV max") == "Patel P et al. 2017 [9]"


def test_merge_named_joins_the_same_warning_about_several_items():
    lines = ["rCBV max: cut-offs [2] are not validated [3 §2]", "ADC mean: cut-offs [14, 15] are not validated [3 §2]",
             "ADC mean: the range of [14] is unverified", "keep the differential open [16]",
             "keep the differential open [16]"]
    assert merge_named(lines) == ["rCBV max, ADC mean: cut-offs [2, 14, 15] are not validated [3 §2]",
                                  "ADC mean: the range of [14] is unverified", "keep the differential open [16]"]


def test_group_quality_warnings_counts_each_scan_and_lists_each_warning_once():
    groups = group_quality_warnings([
        ("2026-03-16", ["DSC: preload not recorded; flip angle partly checked", "an enhancing structure was not "
                        "taken as a lesion (vessel)", "an enhancing structure was not taken as a lesion (vessel)"]),
        ("2026-04-27", ["DSC: preload not recorded; flip angle partly checked", "ASL: PLD not recorded: 1.8 s assumed",
                        "odd thing"]),
    ])
    by = {g.label: g for g in groups}
    assert by["DSC"].count == 2 and by["DSC"].items == [("preload not recorded", "2026-03-16, 2026-04-27")]
    assert by["Lesions"].count == 1  # the same warning twice at one scan counts once
    assert by["ASL"].items == [("PLD not recorded: 1.8 s assumed", "2026-04-27")] and by["Other"].count == 1


def test_reading_changing_warnings_are_recognised():
    assert changes_the_reading("DSC: the map is unreliable") and changes_the_reading("lesion L2 not found at this scan")
    assert changes_the_reading("DCE fit failed in 80 % of voxels")
    assert not changes_the_reading("ASL: PostLabelingDelay not recorded: 1.8 s assumed")


def test_split_captions_prints_what_panels_share_once():
    own, shared = split_captions(["Axial slice 25 of the T1c. Red: lesion. FTB: blue low.",
                                  "Axial slice 27 of the T1c. Red: lesion. FTB: blue low."])
    assert own == ["Axial slice 25 of the T1c.", "Axial slice 27 of the T1c."]
    assert shared == "Red: lesion. FTB: blue low."
    assert split_captions(["Only one. Caption."]) == (["Only one. Caption."], "")


def test_codes_in_words():
    assert stage_text("perfusion.dce") == "perfusion (DCE)" and stage_text("lesions") == "lesions"
    note = "base rate glioma_hgg_after_rt (high-grade glioma after (chemo)radiotherapy, new lesion); 3 weeks"
    assert humanise(note) == "base rate high-grade glioma after (chemo)radiotherapy, new lesion; 3 weeks"
    assert humanise("an unknown_code here") == "an unknown code here"
    assert humanise("see pseudoprog.evidence and maps/x_y.nii") == "see pseudoprog.evidence and maps/x_y.nii"


def test_rendering_leaves_the_stored_ids_in_the_assessment():
    data = _demo()
    before = copy.deepcopy(data)
    render_html(data)
    assert data == before and "glioma_hgg_after_rt" in json.dumps(data)  # assessment.json keeps its ids


def test_references_say_what_was_checked_and_mark_the_rest():
    from pseudoprog.files import load_table
    from pseudoprog.report.references import is_checked

    table = load_table("report", "references")["sources"]
    for key, entry in table.items():
        checked = str(entry.get("checked") or "")
        assert not checked or checked.startswith(("seen in full", "partly")), key
        if checked.startswith("partly") and "not retrieved" not in entry["citation"]:
            assert not is_checked(entry["citation"]), key  # a partly checked text that claims more is marked
    assert is_checked(table["R43"]["citation"]) and not is_checked(table["R53"]["citation"])
    # corrected from the retrieved record: Zakhari 2018 is about high-grade gliomas, not metastases
    assert "high-grade gliomas" in table["R16"]["citation"] and "title not retrieved" not in table["R16"]["citation"]
    html = render_html(_data("PD (preliminary)", "treatment effect favoured"))
    refs = html[html.index('id="references"'):]
    assert "Rowe LS et al." in refs and "J Neurooncol 2018;139:145–152</li>" in refs  # checked: no mark
