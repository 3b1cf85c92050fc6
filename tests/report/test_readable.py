"""Issue 12 item 8: a report a clinician reads in one minute.

The answer box reconciles the criteria call with the probability; internal source tags become numbered
references; markers carry clinical names and units (volumes in cm³ only); the FTB overlay has its legend;
the timeline plots the heading criterion's quantity; the headline gives the interval as prominently as the
point value.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from pseudoprog.criteria.timeline import Category
from pseudoprog.files import load_table
from pseudoprog.report import answer
from pseudoprog.report.html import render_html
from pseudoprog.report.map_names import display_name, humanise, shown_text, volumes_in_cm3
from pseudoprog.report.references import References, citation_of, source_keys
from pseudoprog.report.timeline import criterion_quantity, criterion_series, timeline_png

SRC = Path(__file__).resolve().parents[2] / "src" / "pseudoprog"


def _data(category: str | None, label: str | None, *, criteria: str = "RANO 2.0", value: float | None = 0.1,
          interval: tuple[float, float] = (0.07, 0.24)) -> dict:
    return {
        "case_id": "R12",
        "software_version": "0",
        "created": "2026-12-01T00:00:00+00:00",
        "scope": {"in_scope": True, "reason": "previously treated brain tumour with a follow-up scan"},
        "diagnosis": {"type": "glioblastoma", "idh": "wildtype", "mgmt": "methylated", "primary": None},
        "timepoints": [
            {"date": "2026-03-16", "series": [], "warnings": [], "maps": [],
             "lesions": [{"id": "L1", "enhancing": True, "measurement": {"long_mm": 26.6, "perp_mm": 22.1,
                                                                         "enhancing_volume_mm3": 2830.0,
                                                                         "source": "lesions.rano_bidimensional"}}],
             "markers": [{"name": "rcbv_max", "value": 0.857, "unit": "ratio", "source": "perfusion.dsc"}]},
            {"date": "2026-04-27", "series": [], "warnings": [], "maps": [],
             "lesions": [{"id": "L1", "enhancing": True, "measurement": {"long_mm": 40.9, "perp_mm": 31.9,
                                                                         "enhancing_volume_mm3": 13824.0,
                                                                         "source": "lesions.rano_bidimensional"}}],
             "markers": [{"name": "rcbv_max", "value": 0.821, "unit": "ratio", "source": "perfusion.dsc"},
                         {"name": "adc_mean", "value": 0.00146, "unit": "mm2/s", "source": "diffusion.adc"},
                         {"name": "ftb_low", "value": 0.975, "unit": "fraction", "source": "perfusion.dsc"}]},
        ],
        "response": {
            "criteria": criteria if category else None,
            "category": category,
            "explanation": ["volumetric alongside: 13824 mm³, +387.6 % vs baseline (clinical_rules §1.4–1.5, §6 C17)"],
            "reference": {"burden": {"bidimensional": 1305.0, "volumetric": 13824.0}, "pct_change_vs_nadir": 122.0,
                          "flags": ["within_rt_window"]},
            "per_timepoint": [
                {"date": "2026-03-16", "role": "baseline", "category": "baseline",
                 "burden": {"bidimensional": 588.0, "volumetric": 2830.0},
                 "baseline": {"date": "2026-03-16", "value": 588.0, "unit": "mm²", "method": "bidimensional"}},
                {"date": "2026-04-27", "role": "follow-up", "category": category,
                 "burden": {"bidimensional": 1305.0, "volumetric": 13824.0},
                 "window": {"weeks_since_radiotherapy": 10.4, "window_weeks": 12.0},
                 "nadir": {"date": "2026-03-16", "value": 588.0, "unit": "mm²", "method": "bidimensional"}},
            ],
        },
        "probability_true_progression": {"value": value, "interval": list(interval) if value is not None else None,
                                         "label": label, "prior": 0.57, "method": "Bayes"},
        "evidence": [
            {"name": "rcbv_max", "value": 0.821, "unit": "ratio", "likelihood_ratio": 1.0, "direction": "neutral",
             "source": "Rowe 2018 [V: R43] (§6 C16): perfusion does not separate them [DERIVED]",
             "note": "R43-early-rcbv_max: no separation in this context"},
            {"name": "oedema_ratio", "value": 4.53, "unit": "ratio", "likelihood_ratio": None, "direction": "neutral",
             "source": "Leeman 2013 [V: R30]", "note": "reported, not applied"},
        ],
        "recommendation": {"next_step": "short-interval MRI with perfusion in 4-8 weeks",
                           "rating": "usually appropriate",
                           "management": "continue therapy and confirm [V: R1e] [V: R43]",
                           "warnings": ["the response criteria call progression from size [SEED: S1] [V: R1e]"]},
        "not_assessed": [],
        "warnings": ["rcbv_max: literature cut-offs (R43-early-rcbv_max) are not locally validated "
                     "(clinical_rules.md §2, §4.4)"],
        "other_responses": [],
        "treatments": [{"type": "chemoradiation", "start": "2026-01-05", "end": "2026-02-13", "dose_gy": 60,
                        "fractions": 30, "agent": "temozolomide"}],
        "outputs": {},
    }


def _answer_box(html: str) -> str:
    return html[html.index('id="answer"'):html.index("<h2>Timeline")]


def _body(html: str) -> str:
    """The page without its reference list."""
    return html[:html.index("<h3>G. References")]


# -- 1. the answer reconciles the criteria call and the probability label ----------------------------------------

def test_every_criteria_category_has_a_reconciling_sentence_group():
    assert {str(c) for c in Category} <= answer.CATEGORIES


@pytest.mark.parametrize("label", sorted(answer.LABELS))
@pytest.mark.parametrize("category", [*sorted(answer.CATEGORIES), None])
def test_every_pair_of_call_and_label_gets_one_sentence_built_from_the_state(category, label):
    sentence = answer.reconcile(_data(category, label))
    assert sentence and sentence.endswith(".")
    if category:
        assert "RANO 2.0" in sentence
    if label == answer.TREATMENT:
        assert "favours treatment effect" in sentence
    elif label == answer.TUMOUR:
        assert "favours progression" in sentence
    else:
        assert "does not separate" in sentence
    discordant = (category in answer.PD_CONFIRMED | answer.PD_PROVISIONAL and label != answer.TUMOUR) or (
        category in answer.NOT_PD and label == answer.TUMOUR)
    if discordant:  # a disagreement is explained, never called agreement
        assert "agree" not in sentence.replace("disagreement", "")
        assert "size" in sentence
    if category in answer.PD_PROVISIONAL and label == answer.TREATMENT:
        kind = "preliminary" if "preliminary" in category else "unconfirmed"
        assert f"{kind} PD on size alone" in sentence and "confirmation scan" in sentence


def test_the_answer_box_never_shows_preliminary_pd_next_to_treatment_effect_without_the_sentence():
    html = render_html(_data("PD (preliminary)", "treatment effect favoured"))
    box = _answer_box(html)
    assert "PD (preliminary)" in box and "treatment effect favoured" in box
    assert 'id="answer-reconcile"' in box and "RANO 2.0 calls this preliminary PD on size alone" in box


def test_no_sentence_without_a_probability_or_out_of_scope():
    assert answer.reconcile(_data("SD", None, value=None)) is None
    out = _data("PD", "progression favoured")
    out["scope"] = {"in_scope": False, "reason": "under 18"}
    assert answer.reconcile(out) is None


def test_the_window_sentence_uses_the_weeks_of_the_scan():
    sentence = answer.reconcile(_data("PD not allowed: within pseudoprogression window", "indeterminate",
                                      criteria="RANO"))
    assert sentence is not None and sentence.startswith("At 10.4 weeks after radiotherapy (inside the 12-week window)")


# -- 7. the headline: the interval as prominent as the point value ------------------------------------------------

def test_headline_puts_point_value_and_95_interval_in_one_line_of_one_style():
    box = _answer_box(render_html(_data("PD (preliminary)", "treatment effect favoured")))
    line = re.search(r'<div class="big" id="answer-probability">(.*?)</div>', box, re.S)
    assert line is not None
    text = line.group(1)
    assert "Probability of true progression 10 % (95 % interval 7–24 %)" in text
    assert "<span" not in text and "font-weight" not in text  # no smaller or lighter interval


# -- 2. internal tags become numbered references ------------------------------------------------------------------

_INTERNAL = re.compile(r"\[(?:V2?|SEED)(?::[^\]]*)?\]|clinical_rules|\[DERIVED\]|\[UNVERIFIED\]|R43-early|\(issue \d+")


def test_the_page_body_has_no_internal_tags_only_numbered_citations_and_a_reference_list():
    data = _data("PD (preliminary)", "treatment effect favoured")
    before = copy.deepcopy(data)
    html = render_html(data)
    assert data == before  # assessment.json keeps its machine-readable ids
    body = _body(html)
    assert not _INTERNAL.search(body), _INTERNAL.search(body)
    refs = html[html.index('id="references"'):]
    assert "Rowe LS et al. Differentiating pseudoprogression from true progression" in refs
    assert "J Neurooncol 2018;139:145–152" in refs
    assert "Thust" not in refs  # only what the page cites
    cited = {int(n) for group in re.findall(r"\[(\d+(?:[^\]]*)?)\]", body)
             for n in re.findall(r"(?:^|, )(\d+)", group)}
    listed = {int(n) for n in re.findall(r'<li value="(\d+)">', refs)}
    assert cited and cited == listed  # every number points to an entry, every entry is cited


def test_cite_numbers_in_order_of_first_use_merges_neighbours_and_keeps_sections():
    refs = References()
    assert refs.cite("Rowe 2018 [V: R43] [SEED: S2]") == "Rowe 2018 [1, 2]"
    assert refs.cite("again [SEED: S2], rule (clinical_rules.md §1.3.3, §4.4)") == "again [2], rule [3 §1.3.3, §4.4]"
    assert refs.cite("a derived cap [DERIVED]; checked [V]") == "a derived cap (derived); checked"
    assert refs.cite("no step (issue 12); issue 12: not at all times") == "no step; not at all times"
    assert refs.cite("cut-offs (L06) unverified") == f"cut-offs [{refs.number(citation_of('R9') or '')}] unverified"
    assert [n for n, _ in refs.entries] == [1, 2, 3, 4]
    assert refs.cite("RANO (Wen 2010) [V: R1a]") == refs.cite("RANO [V: R1c]").replace("RANO", "RANO (Wen 2010)")


def _tagged_texts() -> list[str]:
    texts = []
    for path in list(SRC.rglob("data/*.yaml")) + list(SRC.rglob("*.py")):
        texts.extend(re.findall(r"\[(?:V2?|SEED): [^\]]+\]", path.read_text(encoding="utf-8")))
    return texts


def test_every_source_tag_the_package_writes_has_a_citation():
    keys = {k for t in _tagged_texts() for k in source_keys(t)} - {"Rnn"}  # Rnn: a placeholder in a docstring
    assert keys
    missing = sorted(k for k in keys if citation_of(k) is None)
    assert not missing, missing


def test_citations_name_authors_or_say_what_was_not_retrieved():
    table = load_table("report", "references")["sources"]
    for key, entry in table.items():
        text = entry["citation"]
        assert re.search(r"\b(19|20)\d\d\b", text) or "forum" in text or "software" in text.lower() or \
            "GitHub" in text or "not retrieved" in text, key
        assert "et al" in text or "," in text or text.startswith("["), key


# -- 3. clinical names and units ----------------------------------------------------------------------------------

def test_markers_show_clinical_names_and_units_and_volumes_in_cm3_only():
    html = render_html(_data("PD (preliminary)", "treatment effect favoured"))
    body = _body(html)
    table = body[body.index('id="markers"'):]
    table = table[:table.index("</table>")]
    assert "<td>rCBV max</td>" in table and "<td>ADC mean</td>" in table and "×10⁻³ mm²/s" in table
    assert "<td class=\"num\">1.46</td>" in table and "<td class=\"num\">97.5</td>" in table
    assert "rcbv_max" not in body and "adc_mean" not in body
    assert "mm³" not in body and "mm3" not in body and " mL" not in body
    assert "13.8 cm³" in body and "2.83 cm³" in body
    assert "burden bidimensional 1305 mm²; volumetric 13.8 cm³; pct change vs nadir +122 %; flags within rt window" \
        in body
    assert "measured (rano bidimensional)" in body and "lesions.rano_bidimensional" not in body


def test_display_helpers():
    assert display_name("rcbv_max") == "rCBV max" and display_name("dsc_rcbv") == "rCBV"
    assert display_name("some_new_marker") == "some new marker"
    assert shown_text(0.00146, "mm2/s") == "1.46 ×10⁻³ mm²/s"
    assert shown_text(0.0762, "1/min") == "0.0762 /min"
    assert shown_text(13824.0, "mm3") == "13.8 cm³" and shown_text(2.0, "mL") == "2 cm³"
    assert shown_text(2.1, "ratio") == "2.1"
    assert volumes_in_cm3("measurable ≥ 1000 mm³; 13824 mm3") == "measurable ≥ 1 cm³; 13.8 cm³"
    assert humanise("rcbv_max: cut-offs; psr stays") == "rCBV max: cut-offs; psr stays"


# -- 4. the FTB overlay has its legend ----------------------------------------------------------------------------

def test_ftb_panel_has_a_legend_with_the_thresholds_and_the_bsw_note(tmp_path):
    import numpy as np

    from pseudoprog.case import LesionMask, Volume
    from pseudoprog.report.panels import MapImage, render_panel

    affine = np.diag([2.0, 2.0, 4.0, 1.0])
    image = np.full((40, 40, 10), 500.0, np.float32)
    mask = np.zeros(image.shape, bool)
    mask[15:25, 15:25, 6] = True
    rcbv = MapImage("rcbv", np.full((40, 40, 10), 2.5, np.float32), affine, "ratio")
    panel = render_panel(Volume(image, affine), [LesionMask("L1", mask, affine)], {"rcbv": rcbv})
    for text in ("low: rCBV < 1", "intermediate: 1–1.75", "high: rCBV > 1.75", "leakage correction", "BSW"):
        assert text in panel.caption, text
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "p.png").write_bytes(panel.png)
    (tmp_path / "report-assets.json").write_text(json.dumps({"panels": [
        {"date": "2026-04-27", "path": "figures/p.png", "shown": list(panel.shown), "caption": panel.caption}]}))
    html = render_html(_data("PD (preliminary)", "treatment effect favoured"), folder=tmp_path)
    legend = html[html.index('id="ftb-legend"'):]  # one legend under the panels, shared by all of them
    legend = legend[:legend.index("</p>")]
    assert legend.count('class="swatch"') == 3 and "high: rCBV &gt; 1.75" in legend
    assert "[V:" not in html[:html.index("<h3>G. References")]


# -- 5. the timeline plots the criterion's quantity ---------------------------------------------------------------

def test_rano_bm_timeline_plots_the_sum_of_longest_diameters_in_mm():
    data = _data("PD", "progression favoured", criteria="RANO-BM")
    data["diagnosis"]["type"] = "metastasis"
    for row in data["response"]["per_timepoint"]:
        row.pop("baseline", None)
        row.pop("nadir", None)
        row["burden"] = {"unidimensional": 12.0 if row["role"] == "baseline" else 15.0}
    q = criterion_quantity(data)
    assert q.method == "unidimensional" and q.unit == "mm" and "longest diameters (mm), RANO-BM" in q.label
    assert [v for _, v in criterion_series(data)] == [12.0, 15.0]  # the criteria stage's own burden
    data["response"]["per_timepoint"] = []
    assert [v for _, v in criterion_series(data)] == [26.6, 40.9]  # else the listed lesions' longest diameters
    assert timeline_png(data) is not None
    html = render_html(data)
    assert "SLD: sum of longest diameters (mm)" in html and "Dashed (right axis)" in html
    for tp in data["timepoints"]:
        for les in tp["lesions"]:
            les["measurement"]["enhancing_volume_mm3"] = None
    assert "Dashed (right axis)" not in render_html(data)  # the caption names only what is drawn


def test_rano_timeline_plots_spd_and_a_volumetric_call_plots_cm3():
    data = _data("PD (preliminary)", "treatment effect favoured")
    q = criterion_quantity(data)
    assert (q.method, q.unit, q.short) == ("bidimensional", "mm²", "SPD") and "RANO 2.0" in q.label
    assert [v for _, v in criterion_series(data)] == [588.0, 1305.0]
    for row in data["response"]["per_timepoint"]:
        for key in ("baseline", "nadir"):
            if key in row:
                row[key]["method"] = "volumetric"
    q = criterion_quantity(data)
    assert (q.method, q.unit) == ("volumetric", "cm³")
    assert [round(v, 2) for _, v in criterion_series(data)] == [2.83, 13.82]
