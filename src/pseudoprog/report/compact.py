"""The short forms the report's clinical body shows; the long forms go to its appendix (and stay whole in
assessment.json).

A clinician reads the body (answer, timeline, images, lesions, one line per evidence item, management) in a
minute; the appendix keeps the record: full evidence notes, quality warnings grouped by map, methods,
references. Everything here works on text that has already been through the page's citation step
(``References.cite``), so the short forms keep their numbered citations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .map_names import display_name

_BRACKETS = re.compile(r"\[[^\]]*\]")
_HEAD = re.compile(r"^((?:[^:;.]|\.(?!\s)){1,60}?)(?::\s|;|\.\s|$)")
_LONGEST_SOURCE = 60  # characters of a short source before it is cut to its citations

# A warning that changes how the answer is read: a stage or map that could not be used, or a lesion that
# was not found. These stay on the first pages beside the answer; the rest is quality detail (appendix).
_READING = re.compile(
    r"cannot|could not|not assessed|unreliable|not reliable|unusable|not usable|failed|not found|"
    r"disappeared|no lesion|not evaluable|excluded from|discarded",
    re.IGNORECASE,
)


def short_source(text: str) -> str:
    """The basis of an evidence item in one short line: its lead ('Brandes 2008 [7]') or, when the lead is
    long, its citations alone ('[3 §3.1, 7, 8]').

    Examples
    --------
    >>> short_source("Brandes 2008 [7]: among early enlargers MGMT-methylated in 2/18 …")
    'Brandes 2008 [7]'
    >>> short_source("[3 §3.1] early-enlarger cohorts [7, 8], late PsP [11]; smooth in time (derived)")
    '[3 §3.1, 7, 8, 11]'
    """
    text = text.strip()
    m = _HEAD.match(text.replace("et al. ", "et al.\x01"))  # 'et al.' does not end the lead
    head = (m.group(1) if m else text).replace("\x01", " ").strip()
    if head and len(head) <= _LONGEST_SOURCE and not head.startswith("["):
        return head
    items: list[str] = []
    for group in _BRACKETS.findall(text):
        for item in group.strip("[]").split(", "):
            if item and item not in items:
                items.append(item)
    if items:
        return "[" + ", ".join(items) + "]"
    return head if len(head) <= _LONGEST_SOURCE else head[: _LONGEST_SOURCE - 1].rstrip() + "…"


def changes_the_reading(text: str) -> bool:
    """Whether a warning says a stage, a map or a lesion could not be used (it then stays beside the answer)."""
    return bool(_READING.search(text))


# Stages whose absence leaves the answer as it is (the report's own outputs, texture features): listed in the
# appendix only.
_OUTPUT_STAGES = ("report", "texture")


def stage_changes_the_reading(stage: str) -> bool:
    """Whether a stage that could not run bears on the answer (lesions, maps, criteria …) rather than on an output."""
    return stage.split(".", 1)[0] not in _OUTPUT_STAGES


def merge_named(lines: Iterable[str]) -> list[str]:
    """Warnings that say the same of several items, merged into one line naming them all.

    'rCBV max: cut-offs [2] are not validated [3]' and 'ADC mean: cut-offs [14] are not validated [3]'
    → 'rCBV max, ADC mean: cut-offs [2, 14] are not validated [3]'. Identical lines are kept once.
    """
    groups: dict[str, list[tuple[str, list[str]]]] = {}
    order: list[str] = []
    for line in lines:
        head, sep, rest = line.partition(": ")
        if not sep or len(head) > 30:
            head, rest = "", line
        key = _BRACKETS.sub("[]", rest)
        if key not in groups:
            groups[key] = []
            order.append(key)
        if head not in [h for h, _ in groups[key]] or not head:
            groups[key].append((head, _BRACKETS.findall(rest)))
    out: list[str] = []
    for key in order:
        members = groups[key]
        heads = [h for h, _ in members if h]
        pieces = key.split("[]")
        merged = pieces[0]
        for i, piece in enumerate(pieces[1:]):
            items: list[str] = []
            for _, brackets in members:
                if i < len(brackets):
                    for item in brackets[i].strip("[]").split(", "):
                        if item not in items:
                            items.append(item)
            merged += "[" + ", ".join(items) + "]" + piece
        out.append(f"{', '.join(heads)}: {merged}" if heads else merged)
    return out


@dataclass(frozen=True)
class WarningGroup:
    """The quality warnings of one map or stage ('DSC', 'ASL', 'Lesions') across the scans."""

    label: str
    count: int  # warnings over all scans (a warning repeated at two scans counts twice)
    items: list[tuple[str, str]]  # (short text, the scans it was raised at)


_GROUP = re.compile(r"^([A-Z][A-Za-z0-9 ]{1,12}):\s+(.*)$", re.S)
_LESION = re.compile(r"^(lesion\b|an enhancing structure|enhancing)", re.IGNORECASE)
_LONGEST_ITEM = 110


def _short_item(text: str) -> str:
    """A warning cut to its first clause (before a parenthesis or a semicolon), at most ~110 characters."""
    cut = re.split(r"\s\(|;\s", text, maxsplit=1)[0].strip().rstrip(".:")
    if len(cut) > _LONGEST_ITEM:
        cut = cut[: _LONGEST_ITEM - 1].rsplit(" ", 1)[0] + " …"
    return cut


def group_quality_warnings(per_scan: Sequence[tuple[str, Sequence[str]]]) -> list[WarningGroup]:
    """Per-scan warnings grouped by the map or stage that raised them, each distinct warning once with its scans.

    ``per_scan`` is ``[(date, [warning, …]), …]``; a warning written as 'DSC: …' belongs to DSC, one about
    a lesion to 'Lesions', anything else to 'Other'.
    """
    groups: dict[str, dict[str, list[str]]] = {}
    counts: dict[str, int] = {}
    for date, warnings in per_scan:
        seen_here: set[tuple[str, str]] = set()
        for w in warnings:
            m = _GROUP.match(w)
            if m:
                label, body = m.group(1), m.group(2)
            elif _LESION.match(w):
                label, body = "Lesions", w
            else:
                label, body = "Other", w
            short = _short_item(body)
            if (label, short) in seen_here:  # the same warning twice at one scan: once
                continue
            seen_here.add((label, short))
            groups.setdefault(label, {}).setdefault(short, []).append(date)
            counts[label] = counts.get(label, 0) + 1
    return [
        WarningGroup(label, counts[label], [(short, ", ".join(dates)) for short, dates in items.items()])
        for label, items in groups.items()
    ]


def split_captions(captions: Sequence[str]) -> tuple[list[str], str]:
    """(what is particular to each panel, what all panels share) — so a shared legend is printed once.

    Sentences found in every caption form the shared text; each panel keeps the others.
    """
    split = [re.split(r"(?<=\.)\s+(?=[A-Z])", c.strip()) if c else [] for c in captions]
    if len(split) < 2:
        return [" ".join(s) for s in split], ""
    common = [s for s in split[0] if all(s in other for other in split[1:])]
    own = [" ".join(s for s in sentences if s not in common) for sentences in split]
    return own, " ".join(common)


# Acquisition prefix of a map name → the heading its maps are listed under in Methods.
_ACQUISITIONS = (("dsc_", "DSC perfusion"), ("dce_", "DCE perfusion"), ("asl_", "ASL perfusion"),
                 ("adc_", "Diffusion"), ("dwi_", "Diffusion"))


def maps_by_acquisition(names: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Map names grouped under their acquisition, each by its clinical name.

    ``['dsc_rcbv', 'adc_adc']`` → ``[('DSC perfusion', ['rCBV']), ('Diffusion', ['ADC'])]``.
    """
    out: dict[str, list[str]] = {}
    for name in names:
        label = next((lab for prefix, lab in _ACQUISITIONS if name.startswith(prefix)), "")
        shown = display_name(name)
        if shown not in out.setdefault(label, []):
            out[label].append(shown)
    return list(out.items())


def parameter_text(key: str, value: str) -> str:
    """A map parameter in words: ('leakage_correction', 'auto') → 'leakage correction: auto'."""
    return f"{display_name(key)}: {value.replace('_', ' ')}"


def outputs_summary(outputs: Mapping[str, Any]) -> list[str]:
    """What the assessment wrote, in words (the paths are in assessment.json)."""
    keys = list(outputs)
    words: list[str] = []
    kinds = (
        ("dicom_seg_", "DICOM SEG of the lesions"),
        ("dicom_pm_", "DICOM Parametric Maps"),
        ("dicom_sr_", "DICOM SR of the measurements"),
        ("figure_panel_", "image panels"),
    )
    for prefix, text in kinds:
        matched = [k for k in keys if k.startswith(prefix)]
        if not matched:
            continue
        if prefix == "dicom_pm_":
            maps = []
            for k in matched:
                stem = re.sub(r"_\d{4}-\d{2}-\d{2}$", "", k.removeprefix(prefix))
                if display_name(stem) not in maps:
                    maps.append(display_name(stem))
            text = f"{text} ({', '.join(maps)})"
        words.append(text)
    if "report_html" in outputs or "report_pdf" in outputs:
        words.append("this report (HTML and PDF)")
    return words


def stage_text(stage: str) -> str:
    """A stage as the flow names it, in words: 'perfusion.dce' → 'perfusion (DCE)', 'lesions' → 'lesions'."""
    head, _, rest = stage.partition(".")
    words = head.replace("_", " ")
    if not rest:
        return words
    detail = rest.replace("_", " ").replace(".", " ")
    return f"{words} ({detail.upper() if len(detail) <= 4 else detail})"
