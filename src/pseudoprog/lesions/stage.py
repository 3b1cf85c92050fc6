"""The lesions stage of the flow: image measurements combined with what case.yaml reports, as a StageOutput.

How image measurements and case.yaml measurements combine: at a timepoint whose images were
analysed, a lesion measured from the images replaces the reported lesion with the same id (ids
come from seeds, per-lesion masks, or the tracker's ``L1, L2 …`` by size at first appearance),
so one method measures every timepoint (clinical_rules.md §5.5); the reported diameters stay
visible as a timepoint note, with a warning when they differ by more than 25 % in product.
Reported lesions that no measured lesion replaces are kept unchanged. A lesion's
``location_vs_rt`` comes from the RTDOSE when there is one, else from case.yaml (same id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace

from ..case import Case, Lesion, LesionMeasurement, LocationVsRT
from ..handoff import StageOutput, Transforms
from ..markers.structural import lesion_markers
from .tracking import TrackEvent

# Reported and measured bidimensional products further apart than this fraction get a warning.
PRODUCT_MISMATCH = 0.25


def reported(case: Case) -> StageOutput:
    """Measurements and marker values reported in case.yaml enter the flow as they are."""
    out = StageOutput()
    for tp in case.timepoints:
        at = out.at(tp.date)
        at.lesions = tp.lesions
        at.markers.extend(tp.markers.values())
        at.markers.extend(lesion_markers(tp.lesions))
    return out


def run_lesions(case: Case, reported_lesions: Mapping[dt.date, tuple[Lesion, ...]]) -> StageOutput:
    """Registration, brain mask, segmentation, RANO measurement, tracking and dose location (lesions/)."""
    from .analysis import analyse_case, new_lesions_not_searched, nothing_measured_note

    out = StageOutput()
    if not any(tp.series for tp in case.timepoints):
        return out
    result = analyse_case(case)
    reported_at = {tp.date: tp.lesions for tp in case.timepoints}
    for date, reason in result.skipped:
        out.skip("lesions", reason, timepoint=date)
        if date is not None and not reported_at.get(date):
            # Nothing measured and nothing reported there: the scan was not looked at for lesions, which is no
            # "no lesion" (the question then asks for a reader's read, not surveillance). Lesions a reader reported in
            # case.yaml stand for the reader's own search.
            out.at(date).new_lesions_not_searched = f"the lesions stage did not assess this scan ({reason})"
    if result.dose_note:
        out.warnings.append(f"lesions: {result.dose_note}")
    for event in result.events:
        out.at(event.date).warnings.append(event_warning(event))
    for date, tl in result.timepoints.items():
        at = out.at(date)
        at.lesion_masks = result.lesion_masks(date)
        at.transforms = Transforms(to_baseline=tl.to_baseline, series_to_t1c=dict(tl.registrations))
        at.midline = tl.midline
        # Refused (kept only because known lesions were found at their places) or searched in a partial brain mask.
        at.new_lesions_not_searched = new_lesions_not_searched(tl)
        notes = at.warnings
        notes.extend(tl.notes)
        if tl.midline is not None and tl.midline.method != "plane":
            notes.append(midline_warning(tl.midline.reason))
        if not tl.lesions:
            notes.append(nothing_measured_note(case, date))
        by_id = {les.id: les for les in reported_lesions.get(date, ())}
        combined: list[Lesion] = []
        for les in result.lesion_objects(date):
            old = by_id.pop(les.id, None)
            if old is not None:
                les = _merge_reported(les, old, notes)
            combined.append(les)
            at.markers.extend(les.markers.values())
            if not les.measurement.measurable:
                notes.append(f"lesion {les.id} not measurable: {les.measurement.measurability_reason}")
        combined.extend(_merged_away(result.events, date, {les.id for les in combined}, by_id))
        combined.extend(by_id.values())
        at.lesions = tuple(combined)
    return out


def _merged_away(
    events: list[TrackEvent], date: dt.date, measured: set[str], reported: Mapping[str, Lesion]
) -> list[Lesion]:
    """A lesion merged into another at this scan, recorded as 0 under its own id (clinical_rules.md §1.1).

    The merged lesion is measured once, under the id it kept; its tissue includes the other's. Without a record the
    criteria see a target "not measured" and cannot assess the scan; the convention (RECIST's, not checked for RANO:
    [UNVERIFIED] in the rules) assigns the merged lesion to one id and records 0 for the other.
    """
    out = []
    for event in events:
        if event.date != date or event.kind != "merged":
            continue
        for gone in event.related:
            if gone in measured or gone in reported:
                continue
            out.append(
                Lesion(
                    id=gone,
                    measurement=LesionMeasurement(
                        long_mm=0.0,
                        perp_mm=0.0,
                        longest_diameter_mm=0.0,
                        enhancing_volume_mm3=0.0,
                        measurable=True,
                        measurability_reason=(
                            f"merged into {event.lesion_id} at this scan: measured as part of it and recorded as 0 "
                            "under its own id (the RECIST convention for coalescent lesions, clinical_rules.md §1.1, "
                            "not verified for RANO)"
                        ),
                        source="lesions.tracking",
                    ),
                )
            )
    return out


def midline_warning(reason: str) -> str:
    """The timepoint's warning when the brain's mid-sagittal plane could not be trusted on its T1c brain mask."""
    return (
        f"brain midline not found on the T1c brain mask ({reason}): contralateral references (rADC, ASL rCBF, "
        "DSC white matter) are mirrored along the scanner's left-right axis, which is wrong for a head turned in the "
        "scanner — check them before relying on them"
    )


def event_warning(event: TrackEvent) -> str:
    """A tracking event as a reader's warning; a tracked lesion that is not found says so plainly."""
    if event.kind == "disappeared":
        return f"lesion {event.lesion_id}: disappeared — not found at this timepoint (check the images)"
    if event.kind == "merged":
        return (
            f"lesion {', '.join(event.related)} merged into {event.lesion_id} at this timepoint: measured as one "
            f"lesion under {event.lesion_id}, the merged id recorded as 0 (check that they have joined)"
        )
    return f"lesion {event.lesion_id}: {event.kind}" + (f" ({', '.join(event.related)})" if event.related else "")


def _merge_reported(measured: Lesion, reported: Lesion, notes: list[str]) -> Lesion:
    m, r = measured.measurement, reported.measurement
    if r.long_mm is not None and r.perp_mm is not None:
        notes.append(
            f"lesion {measured.id}: reported {r.long_mm:g} × {r.perp_mm:g} mm, measured {m.long_mm} × {m.perp_mm} mm "
            "(the measured values are used)"
        )
        bp_r, bp_m = r.long_mm * r.perp_mm, m.bidimensional_product_mm2
        if bp_m is not None and bp_r > 0 and abs(bp_m - bp_r) / bp_r > PRODUCT_MISMATCH:
            notes.append(
                f"lesion {measured.id}: measured and reported products differ by more than 25 %: check that they "
                "are the same lesion (give a seed in case.yaml to be sure)"
            )
    location = measured.location_vs_rt
    if location is LocationVsRT.UNKNOWN:
        location = reported.location_vs_rt
    markers = {**reported.markers, **measured.markers}
    return replace(measured, location_vs_rt=location, markers=markers, target=reported.target)
