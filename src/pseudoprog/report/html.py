"""Self-contained HTML report of an :class:`~pseudoprog.assessment.Assessment` (Jinja2, no external assets).

Everything the page shows comes from the JSON form of the assessment plus the files the report
stage left beside it (``report-assets.json`` and the panel PNGs it lists), so ``pseudoprog report``
re-renders the same page from the output folder alone. Figures are embedded as data URIs.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from ..assessment import Assessment
from ..files import write_atomic
from .answer import headline, reconcile
from .compact import (
    changes_the_reading,
    group_quality_warnings,
    maps_by_acquisition,
    merge_named,
    outputs_summary,
    parameter_text,
    short_source,
    split_captions,
    stage_changes_the_reading,
    stage_text,
)
from .map_names import display_name, display_unit, humanise, shown, shown_text, volumes_in_cm3
from .panels import ftb_legend
from .references import References, is_checked
from .timeline import criterion_quantity, display_settings, png_data_uri, size_series, timeline_png

ASSETS_NAME = "report-assets.json"

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("pseudoprog.report", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        if abs(value) >= 10**digits:
            return f"{value:.0f}"  # 1280, not 1.28e+03
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v, digits) for v in value)
    return str(value)


_ENV.filters["fmt"] = _fmt


def percent(value: float | None) -> str:
    """A probability as a whole percentage that never claims certainty: '>99' and '<1' at the ends."""
    if value is None:
        return "—"
    pct = 100.0 * value
    if pct > 99.0:
        return ">99"
    if pct < 1.0:
        return "<1"
    return str(round(pct))


_ENV.filters["pct"] = percent
_ENV.filters["name"] = display_name

_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z])")


def first_sentence(text: str) -> str:
    """The first sentence of a source's reasoning, '…' marking the rest (kept whole in assessment.json)."""
    m = _SENTENCE_END.search(text)
    return text if m is None else text[: m.start()] + ". …"


_ENV.filters["first_sentence"] = first_sentence


def measured_by(source: Any) -> str:
    """Where a lesion size came from, in words: 'lesions.rano_bidimensional' → 'measured (rano bidimensional)'."""
    text = str(source or "")
    if text.startswith("lesions."):
        return f"measured ({text.removeprefix('lesions.').replace('_', ' ')})"
    return text.replace("_", " ")


_ENV.filters["measured_by"] = measured_by
_ENV.filters["stage"] = stage_text


def _reasons(data: Mapping[str, Any]) -> defaultdict[str, str]:
    """The first 'not assessed' reason of each stage ('' for a stage with none), to say why a field is empty."""
    out: defaultdict[str, str] = defaultdict(str)
    for item in data.get("not_assessed", ()):
        out.setdefault(str(item.get("stage")), str(item.get("reason")))
    return out


def load_assets(folder: Path) -> dict[str, Any]:
    """The report stage's record of its figures and software versions (empty if absent).

    Raises
    ------
    ValueError
        If the file exists but is not a JSON object.
    """
    path = folder / ASSETS_NAME
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return doc


def _panels(assets: Mapping[str, Any], folder: Path | None) -> list[dict[str, Any]]:
    panels = []
    for entry in assets.get("panels", ()):
        item = dict(entry)
        item.setdefault("shown", [])
        item.setdefault("missing", [])
        item.setdefault("caption", "")
        item.setdefault("reason", "")
        item["uri"] = None
        rel = entry.get("path")
        if rel and folder is not None:
            png = folder / rel
            if png.exists():
                item["uri"] = png_data_uri(png.read_bytes())
            else:
                item["reason"] = f"the panel image {rel} is missing from the output folder"
        panels.append(item)
    return panels


# The per-scan columns of the criteria table: (header, dotted path into each row of ``per_timepoint``).
_CRITERIA_COLUMNS = (
    ("Date", "date"),
    ("Role", "role"),
    ("Call", "category"),
    ("SLD (mm)", "burden.unidimensional"),
    ("SPD (mm²)", "burden.bidimensional"),
    ("Volume (cm³)", "burden.volumetric"),
    ("vs baseline (%)", "pct_change_vs_baseline"),
    ("vs nadir (%)", "pct_change_vs_nadir"),
    ("In 12-week window", "within_pseudoprogression_window"),
    ("Confirmation", "confirmation"),
    ("Flags", "flags"),
)


def _get(row: Mapping[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _criteria_table(rows: Any) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells of the per-scan criteria table.

    The known columns that any row fills are shown; rows from a criteria engine that uses other
    keys fall back to their scalar values (never a raw nested structure).
    """
    rows = [r for r in rows if isinstance(r, Mapping)]
    known = [(h, p) for h, p in _CRITERIA_COLUMNS if any(_get(r, p) not in (None, [], {}) for r in rows)]
    if len(known) <= 1:
        keys: list[str] = []
        for r in rows:
            keys.extend(k for k, v in r.items() if k not in keys and not isinstance(v, (Mapping, list, tuple)))
        known = [(k.replace("_", " "), k) for k in keys]
    # Codes such as flag names read better with spaces (and can wrap in a narrow column).
    cells = [[_cell(r, p) for _, p in known] for r in rows]
    return [h for h, _ in known], cells


def _cell(row: Mapping[str, Any], path: str) -> str:
    value = _get(row, path)
    if path == "flags":  # codes such as flag names read better with spaces (and can wrap in a narrow column)
        return _fmt(value).replace("_", " ")
    if path == "burden.volumetric":  # the criteria keep mm³; the report shows volumes in cm³ only
        return shown(value, "mm3").text().removesuffix(" cm³")
    return _fmt(value)


def _brief(value: Any) -> str:
    """A reference value in words: {date, value, unit} → '572 mm² (2026-03-16)'; other mappings shallowly."""
    if isinstance(value, Mapping):
        if "value" in value:
            text = volumes_in_cm3(f"{_fmt(value.get('value'))} {value.get('unit') or ''}".strip())
            return f"{text} ({value['date']})" if value.get("date") else text
        if value and set(value) <= set(_BURDEN_UNITS):  # a burden by method: each in its unit, volumes in cm³
            return "; ".join(
                f"{k} {shown(v, _BURDEN_UNITS[k]).text()}" for k, v in value.items() if isinstance(v, (int, float))
            )
        return "; ".join(f"{k.replace('_', ' ')} {_brief(v)}" for k, v in value.items() if v not in (None, {}, []))
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v).replace("_", " ") for v in value)
    return _fmt(value)


_BURDEN_UNITS = {"bidimensional": "mm2", "unidimensional": "mm", "volumetric": "mm3"}


_NOT_PARAMETERS = frozenset({"description", "ftb_note", "parameters_file"})  # what a map is, not how it was made


def _methods_maps(timepoints: Any) -> list[tuple[str, list[tuple[str, list[str]]], list[str]]]:
    """The maps computed, by acquisition and clinical name, with the scans that have them and their distinct
    parameters in words.

    Scans with the same maps and parameters (the scan's date aside) are listed together, and each parameter
    once, so two scans do not double the methods section. Map descriptions, units and the per-scan
    parameter files are in assessment.json.
    """
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for tp in timepoints:
        maps = tp.get("maps") or []
        if not maps:
            continue
        date = str(tp["date"])
        params: list[str] = []
        for m in maps:
            for k, v in (m.get("parameters") or {}).items():
                if k in _NOT_PARAMETERS:
                    continue
                text = _short(parameter_text(str(k), _fmt(v)).replace(date, "<scan date>"))
                if text not in params:
                    params.append(text)
        names = tuple(str(m["name"]) for m in maps)
        groups.setdefault((names, tuple(params)), []).append(date)
    return [(", ".join(dates), maps_by_acquisition(names), list(params)) for (names, params), dates in groups.items()]


def _timepoint_warnings(timepoints: Any) -> list[tuple[str, list[str]]]:
    """(date, its distinct warnings) per scan."""
    out = []
    for tp in timepoints:
        seen: list[str] = []
        for w in tp.get("warnings") or ():
            if str(w) not in seen:
                seen.append(str(w))
        out.append((str(tp["date"]), seen))
    return out


_LONGEST_PARAMETER = 80  # characters; a longer value is named only (it is in assessment.json)


def _short(text: str) -> str:
    return text if len(text) <= _LONGEST_PARAMETER else text.split(": ", 1)[0] + ": … (see assessment.json)"


def _marker_table(timepoints: Any) -> tuple[list[str], list[tuple[str, str, list[str]]]]:
    """Markers as rows (clinical name, display unit) and scans as columns, values in the display unit."""
    dates = [str(tp["date"]) for tp in timepoints]
    rows: dict[str, tuple[str, list[str]]] = {}
    for i, tp in enumerate(timepoints):
        for m in tp.get("markers") or ():
            name = str(m["name"])
            if name not in rows:
                rows[name] = (display_unit(m.get("unit"))[0], ["—"] * len(dates))
            rows[name][1][i] = shown(m.get("value"), m.get("unit")).text().removesuffix(f" {rows[name][0]}").strip()
    return dates, [(display_name(n), unit, values) for n, (unit, values) in rows.items()]


def _lesion_text(lesion: Mapping[str, Any]) -> str:
    m = lesion.get("measurement") or {}
    text = f"{lesion.get('id')}: {_fmt(m.get('long_mm'))} × {_fmt(m.get('perp_mm'))} mm"
    if m.get("enhancing_volume_mm3") is not None:
        text += f"; {shown(m['enhancing_volume_mm3'], 'mm3').text()}"
    if lesion.get("new"):
        text += " (new)"
    return text


_NOT_WEIGHED_ALWAYS = frozenset({"dependence_model"})  # explained under Methods


def _split_evidence(items: Any) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(weighed items and the prior/posterior, items reported but not weighed, model notes for Methods)."""
    weighed, reported, model = [], [], []
    for e in items or ():
        if e.get("name") in _NOT_WEIGHED_ALWAYS:
            model.append(e)
        elif e.get("likelihood_ratio") is not None or e.get("direction") == "prior":
            weighed.append(e)
        else:
            reported.append(e)
    return weighed, reported, model


def _reference_items(reference: Any) -> list[tuple[str, str]]:
    """The criteria reference (baseline, nadir, changes ...) as label/text pairs, empty ones left out."""
    if not isinstance(reference, Mapping):
        return []
    items = [
        (str(k).replace("_", " "), f"{v:+.0f} %" if str(k).startswith("pct_") and isinstance(v, float) else _brief(v))
        for k, v in reference.items()
    ]
    return [(k, v) for k, v in items if v not in ("", "—")]


_INTERVAL = re.compile(r"95 % interval (\d*\.?\d+)\s*[-–]\s*(\d*\.?\d+)")


def _interval_of(item: Mapping[str, Any]) -> str:
    """The 95 % interval a prior or posterior note states, as percentages ('36–68 %'); '' if it states none."""
    m = _INTERVAL.search(str(item.get("note") or ""))
    if not m:
        return ""
    return f"{percent(float(m.group(1)))}–{percent(float(m.group(2)))} %"


_REPORTED = re.compile(r"^\s*reported, not applied:\s*no likelihood ratio applied\s*", re.IGNORECASE)


def _reported_reason(note: Any) -> str:
    """The note of an item reported but not weighed, without the clause the list heading already says.

    'reported, not applied: no likelihood ratio applied (higher suggests tumour)' → 'higher suggests tumour'.
    """
    text = _REPORTED.sub("", str(note or "")).strip()
    return text[1:-1] if text.startswith("(") and text.endswith(")") else text


def render_html(assessment: Assessment | Mapping[str, Any], *, folder: Path | None = None) -> str:
    """The report as one HTML string.

    Parameters
    ----------
    assessment
        The assessment, or its JSON form.
    folder
        The output folder holding ``report-assets.json`` and the panel images; ``None`` renders
        without image panels or the software table.
    """
    data = assessment.to_json_dict() if isinstance(assessment, Assessment) else dict(assessment)
    assets = load_assets(folder) if folder is not None else {}
    timeline = timeline_png(data)
    settings = display_settings()
    refs = References()

    def cite(text: Any) -> str:
        """Free text as the page shows it: numbered citations, clinical names, volumes in cm³."""
        return volumes_in_cm3(humanise(refs.cite(text)))

    weighed, reported, model = _split_evidence(data.get("evidence"))
    timepoints = data.get("timepoints", ())
    panels = _panels(assets, folder)
    own_captions, shared_caption = split_captions([str(p["caption"]) for p in panels if p["uri"]])
    for panel, own in zip((p for p in panels if p["uri"]), own_captions, strict=True):
        panel["own_caption"] = own
    per_scan = _timepoint_warnings(timepoints)
    # Warnings that change how the answer is read stay beside it; the rest is quality detail (appendix).
    alerts = [f"{date}: {w}" for date, ws in per_scan for w in ws if changes_the_reading(w)]
    alerts += [str(w) for w in data.get("warnings") or () if changes_the_reading(str(w))]
    quality = [(date, [w for w in ws if not changes_the_reading(w)]) for date, ws in per_scan]
    cautions_raw = list((data.get("recommendation") or {}).get("warnings") or ())
    cautions_raw += [w for w in data.get("warnings") or () if not changes_the_reading(str(w))]
    # The body is rendered first, so the numbers of the references follow the order a reader meets them.
    return _ENV.get_template("report.html").render(
        a=data,
        why=_reasons(data),
        cite=cite,
        refs=refs,
        checked=is_checked,
        unchecked=lambda entries: [text for _, text in entries if not is_checked(text)],
        shown=shown_text,
        short_source=short_source,
        headline=headline(data),
        reconcile=reconcile(data),
        quantity=criterion_quantity(data),
        volume_drawn=criterion_quantity(data).method != "volumetric"
        and any(p.volume_cm3 is not None for p in size_series(timepoints)),
        timeline_uri=png_data_uri(timeline) if timeline else None,
        window=settings["response_window"],
        ftb=settings["ftb_classes"],
        ftb_legend=ftb_legend(settings["ftb_classes"]),
        panels=panels,
        shared_caption=shared_caption,
        ftb_shown=any(p["uri"] and "ftb" in p["shown"] for p in panels),
        interval_of=_interval_of,
        reported_reason=_reported_reason,
        panels_reason=assets.get("panels_reason", "the report stage recorded no panels" if folder else ""),
        software=assets.get("software", {}),
        methods_maps=_methods_maps(timepoints),
        markers=_marker_table(timepoints),
        alerts=alerts,
        missing_stages=[n for n in data.get("not_assessed") or () if stage_changes_the_reading(str(n.get("stage")))],
        cautions=lambda: merge_named([cite(w) for w in cautions_raw]),
        quality=group_quality_warnings(quality),
        outputs_words=outputs_summary(data.get("outputs") or {}),
        lesion_text=_lesion_text,
        weighed=weighed,
        reported=reported,
        model=model,
        criteria_reference=_reference_items((data.get("response") or {}).get("reference")),
        criteria_table=_criteria_table((data.get("response") or {}).get("per_timepoint") or ()),
    )


def write_html_report(assessment: Assessment | Mapping[str, Any], path: Path, *, folder: Path | None = None) -> None:
    """Render and write the report atomically."""
    write_atomic(path, render_html(assessment, folder=folder))
