"""Runs the stages of the flow for one case: ``pseudoprog assess``.

The design's stages (ingest → align → lesions → maps → markers → criteria → evidence → advice →
report) each have one function here that calls the stage's package and records what it produced
or why it could not. A stage that is not built, or cannot run on this case, is listed in
``not_assessed`` with its reason — never filled with an invented value. This orchestration is a
stage of its own that the design's layout did not name; it holds no numerics.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import __version__
from .assessment import (
    Assessment,
    EvidenceItem,
    MapOutput,
    NotAssessed,
    ProbabilityEstimate,
    Recommendation,
    ResponseCall,
    Scope,
    TimepointResult,
    write_assessment_json,
)
from .case import Case, Indication, Lesion, LesionMask, LocationVsRT, Marker, SeriesKind, Timepoint, TreatmentType
from .errors import CannotAssessError
from .ingest import ingest_case

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class AssessContext:
    """What the stages share while one case is assessed; each stage reads and adds to it."""

    case: Case
    out_dir: Path
    warnings: list[str] = field(default_factory=list)
    not_assessed: list[NotAssessed] = field(default_factory=list)
    # Per timepoint date: the lesions (reported, or measured by the lesions stage) and markers.
    lesions: dict[dt.date, tuple[Lesion, ...]] = field(default_factory=dict)
    markers: dict[dt.date, list[Marker]] = field(default_factory=dict)
    maps: dict[dt.date, list[MapOutput]] = field(default_factory=dict)
    timepoint_warnings: dict[dt.date, list[str]] = field(default_factory=dict)
    # Stage products other stages consume (lesion masks, registered volumes ...), by name.
    products: dict[str, Any] = field(default_factory=dict)
    scope: Scope | None = None
    response: ResponseCall | None = None
    other_responses: tuple[ResponseCall, ...] = ()
    probability: ProbabilityEstimate = field(default_factory=lambda: ProbabilityEstimate(value=None, interval=None))
    evidence: tuple[EvidenceItem, ...] = ()
    recommendation: Recommendation = field(
        default_factory=lambda: Recommendation(next_step=None, rating=None, management=None)
    )

    def skip(self, stage: str, reason: str, **kw: Any) -> None:
        self.not_assessed.append(NotAssessed(stage=stage, reason=reason, **kw))


# ---------------------------------------------------------------------------------------------
# Scope (clinical_rules.md §4.1)
# ---------------------------------------------------------------------------------------------

_OUT_OF_SCOPE = {
    Indication.INITIAL_DIAGNOSIS: "initial diagnosis of a brain lesion is outside scope: use the pretreatment "
    "evaluation pathway (clinical_rules.md §4.1)",
    Indication.SURVEILLANCE: "scheduled surveillance with no new or enlarging enhancing lesion is outside scope: "
    "use the routine post-treatment surveillance pathway",
    Indication.METASTASIS_SCREENING: "screening for brain metastases is outside scope: use the metastasis-screening "
    "pathway",
    Indication.EMERGENCY: "a new neurological deficit needing urgent work-up is outside scope: use the emergency "
    "pathway",
}


def decide_scope(case: Case) -> Scope:
    """In scope: a previously treated brain tumour with a new or enlarging enhancing lesion on follow-up."""
    if case.indication in _OUT_OF_SCOPE:
        return Scope(False, _OUT_OF_SCOPE[case.indication])
    treated = [t for t in case.treatments if t.type not in (TreatmentType.BIOPSY,)]
    if not treated:
        return Scope(
            False,
            "no treatment is recorded: the question 'progression or treatment effect' needs a "
            "previously treated tumour (an untreated lesion is an initial-diagnosis question)",
        )
    first_treatment = min(t.start for t in treated)
    if case.latest.date <= first_treatment:
        return Scope(False, "the latest scan is not after any treatment: nothing to compare with treatment effect")
    if not case.radiation_courses() and case.diagnosis.type.is_glioma:
        return Scope(
            True,
            "treated glioma without radiotherapy recorded: pseudoprogression from radiation is not "
            "expected; assessed for progression with that caveat",
        )
    return Scope(True, "previously treated brain tumour with a follow-up scan after treatment")


# ---------------------------------------------------------------------------------------------
# Stages. Each takes the context, adds what it can, and records what it cannot.
# ---------------------------------------------------------------------------------------------


def stage_reported(ctx: AssessContext) -> None:
    """Measurements and marker values reported in case.yaml enter the flow as they are."""
    for tp in ctx.case.timepoints:
        ctx.lesions[tp.date] = tp.lesions
        ctx.markers.setdefault(tp.date, []).extend(tp.markers.values())
        for lesion in tp.lesions:
            ctx.markers[tp.date].extend(lesion.markers.values())


def stage_lesions(ctx: AssessContext) -> None:
    """Registration, brain mask, segmentation, RANO measurement, tracking and dose location (lesions/).

    How image measurements and case.yaml measurements combine: at a timepoint whose images were
    analysed, a lesion measured from the images replaces the reported lesion with the same id (ids
    come from seeds, per-lesion masks, or the tracker's ``L1, L2 …`` by size at first appearance),
    so one method measures every timepoint (clinical_rules.md §5.5); the reported diameters stay
    visible as a timepoint note, with a warning when they differ by more than 25 % in product.
    Reported lesions that no measured lesion replaces are kept unchanged. A lesion's
    ``location_vs_rt`` comes from the RTDOSE when there is one, else from case.yaml (same id).
    """
    from .lesions.analysis import analyse_case

    if not any(tp.series for tp in ctx.case.timepoints):
        return
    result = analyse_case(ctx.case)
    for date, reason in result.skipped:
        ctx.skip("lesions", reason, timepoint=date)
    if result.dose_note:
        ctx.warnings.append(f"lesions: {result.dose_note}")
    masks = ctx.products.setdefault("lesion_masks", {})
    registration = ctx.products.setdefault("registration", {})
    brains = ctx.products.setdefault("brain_masks", {})
    ctx.products["lesion_tracking"] = [e.to_dict() for e in result.events]
    for event in result.events:
        ctx.timepoint_warnings.setdefault(event.date, []).append(
            f"lesion {event.lesion_id}: {event.kind}" + (f" ({', '.join(event.related)})" if event.related else "")
        )
    for date, tl in result.timepoints.items():
        masks[date] = result.lesion_masks(date)
        registration[date] = {"to_baseline": tl.to_baseline, "series_to_t1c": dict(tl.registrations)}
        brains[date] = (tl.brain, tl.reference.affine, tl.brain_method)
        notes = ctx.timepoint_warnings.setdefault(date, [])
        notes.extend(tl.notes)
        if not tl.lesions:
            notes.append("no enhancing lesion found in the images")
        reported = {les.id: les for les in ctx.lesions.get(date, ())}
        combined: list[Lesion] = []
        for les in result.lesion_objects(date):
            old = reported.pop(les.id, None)
            if old is not None:
                les = _merge_reported(les, old, notes)
            combined.append(les)
            ctx.markers.setdefault(date, []).extend(les.markers.values())
            if not les.measurement.measurable:
                notes.append(f"lesion {les.id} not measurable: {les.measurement.measurability_reason}")
        combined.extend(reported.values())
        ctx.lesions[date] = tuple(combined)


def _merge_reported(measured: Lesion, reported: Lesion, notes: list[str]) -> Lesion:
    m, r = measured.measurement, reported.measurement
    if r.long_mm is not None and r.perp_mm is not None:
        notes.append(
            f"lesion {measured.id}: reported {r.long_mm:g} × {r.perp_mm:g} mm, measured {m.long_mm} × {m.perp_mm} mm "
            "(the measured values are used)"
        )
        bp_r, bp_m = r.long_mm * r.perp_mm, m.bidimensional_product_mm2
        if bp_m is not None and bp_r > 0 and abs(bp_m - bp_r) / bp_r > 0.25:
            notes.append(
                f"lesion {measured.id}: measured and reported products differ by more than 25 %: check that they "
                "are the same lesion (give a seed in case.yaml to be sure)"
            )
    location = measured.location_vs_rt
    if location is LocationVsRT.UNKNOWN:
        location = reported.location_vs_rt
    markers = {**reported.markers, **measured.markers}
    return replace(measured, location_vs_rt=location, markers=markers, target=reported.target)


def lesion_masks(ctx: AssessContext, date: dt.date) -> tuple[LesionMask, ...]:
    """The lesion masks the lesions stage produced for a timepoint (empty if none)."""
    return tuple(ctx.products.get("lesion_masks", {}).get(date, ()))


# One function per kind of map. Each computes its maps for one timepoint, writes them under
# ctx.out_dir / "maps" / <date>, records MapOutput entries in ctx.maps[date], per-lesion markers in
# ctx.markers[date] (names from pseudoprog.markers.MARKERS), and anything it cannot do with ctx.skip.


def maps_dsc(ctx: AssessContext, tp: Timepoint) -> None:
    if tp.series_of(SeriesKind.DSC):
        ctx.skip("perfusion.dsc", "DSC perfusion maps (rCBV, CBF, MTT) are not built yet", timepoint=tp.date)


def maps_dce(ctx: AssessContext, tp: Timepoint) -> None:
    if tp.series_of(SeriesKind.DCE):
        ctx.skip("perfusion.dce", "DCE maps (Ktrans, ve, vp) are not built yet", timepoint=tp.date)


def maps_asl(ctx: AssessContext, tp: Timepoint) -> None:
    if tp.series_of(SeriesKind.ASL):
        ctx.skip("perfusion.asl", "ASL CBF maps are not built yet", timepoint=tp.date)


def maps_adc(ctx: AssessContext, tp: Timepoint) -> None:
    if tp.series_of(SeriesKind.DWI) or tp.series_of(SeriesKind.ADC):
        ctx.skip("diffusion.adc", "ADC maps and markers are not built yet", timepoint=tp.date)


def maps_tram(ctx: AssessContext, tp: Timepoint) -> None:
    if tp.series_of(SeriesKind.T1C_DELAYED):
        ctx.skip("perfusion.tram", "delayed-contrast (TRAM) maps are not built yet", timepoint=tp.date)


def maps_spectroscopy(ctx: AssessContext, tp: Timepoint) -> None:
    if tp.series_of(SeriesKind.MRS):
        ctx.skip("spectroscopy", "spectroscopy reading is not built yet", timepoint=tp.date)


def maps_pet(ctx: AssessContext, tp: Timepoint) -> None:
    if tp.series_of(SeriesKind.PET):
        ctx.skip("pet", "PET uptake (SUV, TBR) is not built yet", timepoint=tp.date)


MAP_BUILDERS: list[Callable[[AssessContext, Timepoint], None]] = [
    maps_dsc,
    maps_dce,
    maps_asl,
    maps_adc,
    maps_tram,
    maps_spectroscopy,
    maps_pet,
]


def stage_maps(ctx: AssessContext) -> None:
    """Physiological maps (DSC, DCE, ASL, ADC, TRAM, MRS, PET) and their per-lesion markers."""
    for tp in ctx.case.timepoints:
        for build in MAP_BUILDERS:
            try:
                build(ctx, tp)
            except CannotAssessError as exc:
                ctx.skip(build.__name__.removeprefix("maps_"), exc.reason, timepoint=tp.date)


def stage_criteria(ctx: AssessContext) -> None:
    """Response criteria over the timeline (issue: criteria)."""
    ctx.skip("criteria", "the response criteria engine (RANO, mRANO, RANO 2.0, iRANO, RANO-BM) is not built yet")


def stage_evidence(ctx: AssessContext) -> None:
    """Prior × likelihoods → probability of true progression with an interval (issue: evidence)."""
    ctx.skip(
        "evidence",
        "the evidence stage (priors, likelihoods, fusion) is not built yet: no probability is "
        "given rather than an uncalibrated one",
    )


def stage_advice(ctx: AssessContext) -> None:
    """Next step and management pathway (issue: evidence and advice)."""
    ctx.skip("advice", "the next-step recommendation is not built yet")


def stage_report(ctx: AssessContext, assessment: Assessment) -> dict[str, str]:
    """Human-readable report beside assessment.json; returns output name → relative path."""
    from .report.html import write_html_report

    path = ctx.out_dir / "report.html"
    write_html_report(assessment, path)
    return {"report_html": path.name}


STAGES: list[tuple[str, Callable[[AssessContext], None]]] = [
    ("reported values", stage_reported),
    ("lesions", stage_lesions),
    ("maps", stage_maps),
    ("criteria", stage_criteria),
    ("evidence", stage_evidence),
    ("advice", stage_advice),
]


def _run_stage(ctx: AssessContext, name: str, fn: Callable[[AssessContext], None]) -> None:
    try:
        fn(ctx)
    except CannotAssessError as exc:
        ctx.skip(name, exc.reason)


def build_assessment(ctx: AssessContext) -> Assessment:
    case = ctx.case
    timepoints = tuple(
        TimepointResult(
            date=tp.date,
            lesions=ctx.lesions.get(tp.date, tp.lesions),
            markers=tuple(ctx.markers.get(tp.date, [])),
            series=tp.series,
            maps=tuple(ctx.maps.get(tp.date, [])),
            warnings=tuple(ctx.timepoint_warnings.get(tp.date, [])),
        )
        for tp in case.timepoints
    )
    assert ctx.scope is not None
    return Assessment(
        case_id=case.id,
        software_version=__version__,
        scope=ctx.scope,
        timepoints=timepoints,
        response=ctx.response,
        probability_true_progression=ctx.probability,
        evidence=ctx.evidence,
        recommendation=ctx.recommendation,
        not_assessed=tuple(ctx.not_assessed),
        warnings=tuple(ctx.warnings),
        other_responses=ctx.other_responses,
        diagnosis={
            "type": case.diagnosis.type.value,
            "idh": case.diagnosis.idh.value,
            "mgmt": case.diagnosis.mgmt.value,
            "primary": case.diagnosis.primary,
        },
        treatments=tuple(
            {
                "type": t.type.value,
                "start": t.start.isoformat(),
                "end": t.end.isoformat() if t.end else None,
                "dose_gy": t.dose_gy,
                "fractions": t.fractions,
                "agent": t.agent,
            }
            for t in case.treatments
        ),
        created=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    )


def assess(case_dir: str | Path, out_dir: str | Path | None = None, *, progress: Progress | None = None) -> Assessment:
    """Assess one case folder; writes ``assessment.json`` and ``report.html`` into ``out_dir``.

    ``out_dir`` defaults to ``CASE_DIR/pseudoprog-output``. Outputs are written whole or not at all.
    """
    say = progress or (lambda _msg: None)
    case_dir = Path(case_dir)
    out = Path(out_dir) if out_dir is not None else case_dir / "pseudoprog-output"
    say("reading case.yaml and image headers")
    ingested = ingest_case(case_dir)
    ctx = AssessContext(case=ingested.case, out_dir=out, warnings=list(ingested.warnings))
    ctx.scope = decide_scope(ctx.case)
    if ctx.scope.in_scope:
        for name, fn in STAGES:
            say(name)
            _run_stage(ctx, name, fn)
    else:
        stage_reported(ctx)
        ctx.skip("assessment", "out of scope: " + ctx.scope.reason)
    assessment = build_assessment(ctx)
    say("writing report")
    out.mkdir(parents=True, exist_ok=True)
    outputs = {"assessment_json": "assessment.json"}
    outputs.update(stage_report(ctx, assessment))
    assessment = replace(assessment, outputs=outputs)
    write_assessment_json(assessment, out / "assessment.json")
    return assessment
