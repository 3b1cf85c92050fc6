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

import numpy as np

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
from .case import (
    Case,
    Indication,
    Lesion,
    LesionMask,
    LocationVsRT,
    Marker,
    Series,
    SeriesKind,
    Timepoint,
    TreatmentType,
)
from .errors import CannotAssessError, InputError
from .files import write_atomic
from .ingest import ingest_case
from .ingest.series import short_uid
from .question import age_scope, question_asked, stage_question

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
    if (paediatric := age_scope(case)) is not None:  # issue 12 item 6 (pseudoprog.question)
        return paediatric
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
    """Leakage-corrected rCBV, CBF, MTT, K2 and FTB maps of the timepoint's DSC series, and per-lesion markers."""
    series = tp.series_of(SeriesKind.DSC)
    if not series:
        return
    from .align.resample import resample_mask
    from .errors import InputError
    from .markers import make_marker
    from .perfusion.dsc import DSCModel
    from .perfusion.dsc_io import dsc_input_from_series, write_dsc_outputs
    from .perfusion.dsc_protocol import check_dsc_protocol

    leakage = "bsw"
    try:
        inp = dsc_input_from_series(series, source=str(tp.image_dir or ""))
    except InputError as exc:
        ctx.skip("perfusion.dsc", f"DSC series cannot be read: {exc}", timepoint=tp.date)
        return
    grid = inp.volume
    masks = lesion_masks(ctx, tp.date)
    on_grid = [
        (m.lesion_id, resample_mask(m.enhancing, m.affine, grid.affine, grid.spatial_shape)) for m in masks
    ]
    union = np.zeros(grid.spatial_shape, dtype=bool)
    for _, mask in on_grid:
        union |= mask
    model = DSCModel(te_ms=inp.te_ms, te2_ms=inp.te2_ms, leakage=leakage)
    fit = model.fit(grid, echo2=inp.echo2, lesion_mask=union if union.any() else None)
    warnings = ctx.timepoint_warnings.setdefault(tp.date, [])
    warnings.extend(inp.warnings)
    warnings.extend(
        check_dsc_protocol(
            inp.params,
            baseline_frames=fit.baseline.n_frames,
            frame_times_s=grid.frame_times_s,
            spacing_mm=grid.spacing_mm,
            leakage_method=leakage,
        )
    )
    warnings.extend(f"DSC: {w}" for w in fit.warnings)
    folder = ctx.out_dir / "maps" / tp.date.isoformat()
    written = write_dsc_outputs(fit, folder)
    params_file = next(w.path for w in written if w.name == "parameters")
    shared = {
        "leakage_correction": leakage,
        "deconvolution": model.deconvolution,
        "reference": fit.reference.method,
        "parameters_file": str(params_file.relative_to(ctx.out_dir)),
    }
    ctx.maps.setdefault(tp.date, []).extend(
        MapOutput(
            name=f"dsc_{w.name}",
            path=str(w.path.relative_to(ctx.out_dir)),
            unit=w.unit,
            series_uid=grid.series_uid,
            parameters={**shared, "description": w.description},
        )
        for w in written
        if w.name != "parameters"
    )
    if not on_grid:
        ctx.skip(
            "perfusion.dsc",
            "no lesion masks from the lesions stage: DSC maps were written, per-lesion DSC markers were not computed",
            timepoint=tp.date,
        )
        return
    for lesion_id, mask in on_grid:
        try:
            s = fit.summarise(mask)
        except CannotAssessError as exc:
            ctx.skip("perfusion.dsc", exc.reason, timepoint=tp.date, lesion_id=lesion_id)
            continue
        quality = {
            "n_voxels": s.n_voxels,
            "volume_mm3": s.volume_mm3,
            "rcbv_p95": s.rcbv_p95,
            "rcbv_skewness": s.rcbv_skewness,
            "rcbv_kurtosis": s.rcbv_kurtosis,
            "ftb_above_1": s.ftb_above_1,
            "rcbv_uncorrected_mean": s.rcbv_uncorrected_mean,
            "rcbv_uncorrected_max": s.rcbv_uncorrected_p90,
            "k2_mean": s.k2_mean,
            "robust_max_percentile": s.robust_max_percentile,
            **shared,
        }
        values = {
            "rcbv_max": s.rcbv_p90,
            "rcbv_mean": s.rcbv_mean,
            "rcbf_max": s.rcbf_p90,
            "ftb_high": s.ftb_high,
            "ftb_low": s.ftb_low,
            "psr": s.psr,
        }
        for name, value in values.items():
            if value is None or not np.isfinite(value):
                ctx.skip("perfusion.dsc", f"{name} could not be computed", timepoint=tp.date, lesion_id=lesion_id)
                continue
            try:
                marker = make_marker(name, value, source="perfusion.dsc", lesion_id=lesion_id, quality=quality)
            except ValueError as exc:
                ctx.skip("perfusion.dsc", f"{name}: {exc}", timepoint=tp.date, lesion_id=lesion_id)
                continue
            ctx.markers.setdefault(tp.date, []).append(marker)


def _publish_maps(ctx: AssessContext, tp: Timepoint, ms: Any, label: str) -> None:
    """Write a MapSet under out_dir/maps/<date>/ and record it (maps, parameters file, warnings)."""
    from .perfusion.from_series import write_map_set

    folder = ctx.out_dir / "maps" / tp.date.isoformat()
    written = write_map_set(ms, folder)
    params_rel = str(written[-1][1].relative_to(ctx.out_dir))
    for name, path, unit in written[:-1]:
        ctx.maps.setdefault(tp.date, []).append(
            MapOutput(
                name=f"{ms.kind}_{name}",
                path=str(path.relative_to(ctx.out_dir)),
                unit=unit,
                series_uid=ms.series_uid,
                parameters={"parameters_file": params_rel},
            )
        )
    ctx.timepoint_warnings.setdefault(tp.date, []).extend(f"{label}: {w}" for w in ms.warnings)


def _lesion_markers(
    ctx: AssessContext,
    tp: Timepoint,
    stage: str,
    values: Callable[[LesionMask], dict[str, tuple[float, dict[str, Any]]]],
) -> None:
    """Per-lesion markers from ``values(mask) -> {marker: (value, quality)}``; skips with reasons when impossible."""
    from .markers import make_marker

    masks = lesion_masks(ctx, tp.date)
    if not masks:
        ctx.skip(
            stage + ".markers",
            "maps were computed but no lesion mask exists for this timepoint, so per-lesion values are not given",
            timepoint=tp.date,
        )
        return
    for mask in masks:
        try:
            found = values(mask)
        except CannotAssessError as exc:
            ctx.skip(stage + ".markers", exc.reason, timepoint=tp.date, lesion_id=mask.lesion_id)
            continue
        for name, (value, quality) in found.items():
            try:
                marker = make_marker(name, value, source=stage, lesion_id=mask.lesion_id, quality=quality)
            except ValueError as exc:
                ctx.skip(stage + ".markers", f"{name}: {exc}", timepoint=tp.date, lesion_id=mask.lesion_id)
                continue
            ctx.markers.setdefault(tp.date, []).append(marker)


def _pick(ctx: AssessContext, tp: Timepoint, kind: SeriesKind, label: str) -> Series | None:
    series = tp.series_of(kind)
    if len(series) > 1:
        ctx.timepoint_warnings.setdefault(tp.date, []).append(
            f"{label}: {len(series)} series of kind {kind.value}; the first ('{series[0].description}') was used"
        )
    return series[0] if series else None


def maps_dce(ctx: AssessContext, tp: Timepoint) -> None:
    """Ktrans, ve, vp (extended Tofts, automatic AIF), fit-quality maps, and their per-lesion summaries."""
    import numpy as np

    from .perfusion.dce import FitStatus
    from .perfusion.from_series import dce_from_series, lesion_values

    series = _pick(ctx, tp, SeriesKind.DCE, "DCE")
    if series is None:
        return
    ms = dce_from_series(series, tp.series_of(SeriesKind.VFA_T1))
    _publish_maps(ctx, tp, ms, "DCE")
    ok = ms.maps["fit_status"] == FitStatus.OK

    def values(mask: LesionMask) -> dict[str, tuple[float, dict[str, Any]]]:
        out = {}
        kt = lesion_values(np.where(ok, ms.maps["ktrans"], np.nan), ms.affine, mask)
        if kt.size == 0:
            raise CannotAssessError("no voxel of the lesion has a successful DCE fit")
        q = {"n_voxels": int(kt.size), "model": ms.parameters.get("model"), "aif": ms.parameters.get("aif_source")}
        out["ktrans_mean"] = (float(kt.mean()), q)
        out["ktrans_max"] = (float(np.percentile(kt, 90)), {**q, "statistic": "90th percentile"})
        for marker, name in (("vp_mean", "vp"), ("ve_mean", "ve")):
            if name in ms.maps:
                v = lesion_values(np.where(ok, ms.maps[name], np.nan), ms.affine, mask)
                if v.size:
                    out[marker] = (float(v.mean()), q)
        return out

    _lesion_markers(ctx, tp, "perfusion.dce", values)


def maps_asl(ctx: AssessContext, tp: Timepoint) -> None:
    """ASL CBF (white-paper model) and per-lesion maximum CBF, absolute and against the mirrored region."""
    import numpy as np

    from .perfusion.from_series import asl_from_series, lesion_values
    from .perfusion.reference_region import mirror_across_midline
    from .perfusion.tables import load_table

    series = _pick(ctx, tp, SeriesKind.ASL, "ASL")
    if series is None:
        return
    ms = asl_from_series(series, tp.series_of(SeriesKind.M0), assume_pcasl=True)
    _publish_maps(ctx, tp, ms, "ASL")
    pct = load_table("asl_constants")["lesion_max_percentile"]
    cbf = ms.maps["cbf"]
    brain = np.isfinite(cbf)

    def values(mask: LesionMask) -> dict[str, tuple[float, dict[str, Any]]]:
        from .align.resample import resample_mask

        vals = lesion_values(cbf, ms.affine, mask)
        if vals.size == 0:
            raise CannotAssessError("the lesion has no valid ASL CBF voxel")
        top = float(np.percentile(vals, pct))
        q = {"n_voxels": int(vals.size), "statistic": f"{pct}th percentile"}
        out = {"asl_cbf_max": (top, q)}
        les = resample_mask(mask.enhancing, mask.affine, ms.affine, cbf.shape)
        ref = mirror_across_midline(les, brain, ms.affine)
        ref_vals = cbf[ref & brain]
        if ref_vals.size and np.mean(ref_vals) > 0:
            out["asl_rcbf_max"] = (
                top / float(np.mean(ref_vals)),
                {**q, "reference": "mean CBF of the lesion mirrored across the midline", "n_reference": int(ref.sum())},
            )
        return out

    _lesion_markers(ctx, tp, "perfusion.asl", values)


def maps_adc(ctx: AssessContext, tp: Timepoint) -> None:
    """ADC from the DWI series (or the scanner ADC map) and per-lesion mean, 5th percentile and ratio."""
    import numpy as np

    from .align.resample import resample_mask
    from .diffusion.adc import lesion_adc_summary
    from .diffusion.from_series import adc_from_series
    from .perfusion.reference_region import mirror_across_midline

    dwi = _pick(ctx, tp, SeriesKind.DWI, "ADC")
    adc_series = _pick(ctx, tp, SeriesKind.ADC, "ADC")
    if dwi is None and adc_series is None:
        return
    ms = adc_from_series(dwi, adc_series)
    _publish_maps(ctx, tp, ms, "ADC")
    adc = ms.maps["adc"]
    brain = np.isfinite(adc)

    def values(mask: LesionMask) -> dict[str, tuple[float, dict[str, Any]]]:
        les = resample_mask(mask.enhancing, mask.affine, ms.affine, adc.shape)
        ref = mirror_across_midline(les, brain, ms.affine)
        summary = lesion_adc_summary(adc, les, reference=ref if ref.any() else None)
        q = {
            "n_voxels": summary.n_voxels,
            "b_values_used": ms.parameters.get("b_values_used_s_per_mm2"),
            "median_mm2_s": summary.median_mm2_s,
            "p10_mm2_s": summary.low_percentile_mm2_s,
        }
        out = {
            "adc_mean": (summary.mean_mm2_s, q),
            "adc_min": (summary.min_percentile_mm2_s, {**q, "statistic": "5th percentile"}),
        }
        if summary.ratio_to_reference is not None:
            out["radc_mean"] = (
                summary.ratio_to_reference,
                {**q, "reference": "mean ADC of the lesion mirrored across the midline"},
            )
        return out

    _lesion_markers(ctx, tp, "diffusion.adc", values)


def maps_tram(ctx: AssessContext, tp: Timepoint) -> None:
    """Delayed-minus-early contrast maps (TRAM) and the clearing fraction of each lesion."""
    from .align.resample import resample_mask
    from .perfusion.from_series import tram_from_series
    from .perfusion.tram import clearance_fraction

    delayed = _pick(ctx, tp, SeriesKind.T1C_DELAYED, "TRAM")
    if delayed is None:
        return
    early = _pick(ctx, tp, SeriesKind.T1C, "TRAM")
    if early is None:
        ctx.skip("perfusion.tram", "a delayed post-contrast T1 exists but no early T1c to subtract", timepoint=tp.date)
        return
    ms = tram_from_series(early, delayed)
    _publish_maps(ctx, tp, ms, "TRAM")

    def values(mask: LesionMask) -> dict[str, tuple[float, dict[str, Any]]]:
        les = resample_mask(mask.enhancing, mask.affine, ms.affine, ms.maps["class"].shape)
        return {"tram_clearance_fraction": (clearance_fraction(ms.maps["class"], les), {"n_voxels": int(les.sum())})}

    _lesion_markers(ctx, tp, "perfusion.tram", values)


def maps_spectroscopy(ctx: AssessContext, tp: Timepoint) -> None:
    series = tp.series_of(SeriesKind.MRS)
    if not series:
        return
    from .spectroscopy.lesion import assess_spectroscopy

    outcome = assess_spectroscopy(series, lesion_masks(ctx, tp.date))
    ctx.markers.setdefault(tp.date, []).extend(outcome.markers)
    for note in outcome.notes:
        ctx.skip("spectroscopy", note, timepoint=tp.date)


def maps_pet(ctx: AssessContext, tp: Timepoint) -> None:
    pets = tp.series_of(SeriesKind.PET)
    if not pets:
        return
    from .ingest import load_series
    from .pet.lesion import assess_pet
    from .pet.suv import suv_parameters

    t1c_series = tp.series_of(SeriesKind.T1C)
    if not t1c_series:
        raise CannotAssessError("PET cannot be placed on the lesions: no T1c at this timepoint to register it to")
    t1c, _ = load_series(t1c_series[0])
    for series in pets:
        if series.source_format != "dicom":
            ctx.skip(
                "pet", f"PET '{series.description}' is not DICOM: SUV needs the DICOM dose headers", timepoint=tp.date
            )
            continue
        try:
            pet, load_warnings = load_series(series)
            params = suv_parameters(series.files)
        except InputError as exc:  # a PET without usable dose headers is reported, the rest of the case goes on
            ctx.skip("pet", f"PET '{series.description}': {exc}", timepoint=tp.date)
            continue
        if pet.is_dynamic:
            ctx.skip("pet", f"PET '{series.description}' is dynamic: static uptake only", timepoint=tp.date)
            continue
        outcome = assess_pet(pet, params, lesion_masks(ctx, tp.date), t1c=t1c)
        ctx.markers.setdefault(tp.date, []).extend(outcome.markers)
        ctx.timepoint_warnings.setdefault(tp.date, []).extend(load_warnings + outcome.warnings)
        for note in outcome.notes:
            ctx.skip("pet", note, timepoint=tp.date)
        if outcome.suv is not None:
            rel = _write_map(ctx, tp, f"pet_suv_{short_uid(series.uid)}.nii.gz", outcome.suv)
            map_params: dict[str, Any] = {
                "tracer": params.tracer,
                "suv": "body weight, decay-corrected",
                "uptake_time_min": round(params.uptake_time_s / 60.0, 1),
            }
            if outcome.registration is not None:
                map_params["registration"] = "rigid Mattes MI to T1c (affine in T1c space)"
            ctx.maps.setdefault(tp.date, []).append(MapOutput("pet_suv", rel, "g/ml", series.uid, map_params))


def _write_map(ctx: AssessContext, tp: Timepoint, name: str, volume: Any) -> str:
    """Write a volume as gzipped NIfTI under ``maps/<date>/`` atomically; returns its path relative to out_dir."""
    import gzip

    import nibabel as nib

    img = nib.Nifti1Image(volume.data.astype("float32"), volume.affine)
    img.header.set_xyzt_units("mm")
    rel = Path("maps") / tp.date.isoformat() / name
    write_atomic(ctx.out_dir / rel, gzip.compress(img.to_bytes(), mtime=0))
    return rel.as_posix()


def maps_texture(ctx: AssessContext, tp: Timepoint) -> None:
    """Per-lesion radiomics features on T1c, FLAIR, ADC and rCBV into the case's features table."""
    from .ingest import load_series
    from .texture import lesion_texture_rows, pyradiomics_available, write_features_table
    from .texture.features import INSTALL_HINT

    sources = {name: tp.series_of(kind) for name, kind in (("T1c", SeriesKind.T1C), ("FLAIR", SeriesKind.FLAIR))}
    sources["ADC"] = tp.series_of(SeriesKind.ADC)
    rcbv = [m for m in ctx.maps.get(tp.date, []) if m.name.lower() == "rcbv"]
    if not any(sources.values()) and not rcbv:
        return
    masks = lesion_masks(ctx, tp.date)
    if not masks:
        raise CannotAssessError("per-lesion texture needs lesion masks, and the lesions stage gave none")
    if not pyradiomics_available():
        raise CannotAssessError(f"cannot assess texture: pyradiomics not installed ({INSTALL_HINT})")
    images = {}
    for name, found in sources.items():
        if found:
            try:
                images[name], _ = load_series(found[0])
            except InputError as exc:
                ctx.skip("texture", f"{name} not read: {exc}", timepoint=tp.date)
    if rcbv:
        from .ingest.nifti import load_nifti

        images["rCBV"], _ = load_nifti(ctx.out_dir / rcbv[0].path, uid=rcbv[0].series_uid or "rcbv")
    images = {k: v for k, v in images.items() if not v.is_dynamic}
    rows, settings, notes = lesion_texture_rows(images, masks, date=tp.date)
    for note in notes:
        ctx.skip("texture", note, timepoint=tp.date)
    if not rows:
        return
    table = ctx.products.setdefault("texture_features", {"rows": [], "settings": {}})
    table["rows"].extend(rows)
    table["settings"].update(settings)
    rel = Path("features") / "texture.csv"
    write_features_table(table["rows"], table["settings"], ctx.out_dir / rel)
    ctx.products["texture_table"] = rel.as_posix()
    ctx.maps.setdefault(tp.date, []).append(
        MapOutput("texture_features", rel.as_posix(), "table", None, {"images": sorted(settings), "rows": len(rows)})
    )


MAP_BUILDERS: list[Callable[[AssessContext, Timepoint], None]] = [
    maps_dsc,
    maps_dce,
    maps_asl,
    maps_adc,
    maps_tram,
    maps_spectroscopy,
    maps_pet,
    maps_texture,
]


def stage_maps(ctx: AssessContext) -> None:
    """Physiological maps (DSC, DCE, ASL, ADC, TRAM, MRS, PET) and their per-lesion markers."""
    for tp in ctx.case.timepoints:
        for build in MAP_BUILDERS:
            try:
                build(ctx, tp)
            except CannotAssessError as exc:
                ctx.skip(build.__name__.removeprefix("maps_"), exc.reason, timepoint=tp.date)


_CRITERIA_WARNINGS = {
    "within_rt_window": "the latest scan is within 12 weeks of the end of radiotherapy: enlargement may be "
    "pseudoprogression; progression is not declared on size alone (clinical_rules §1.3.3, §4.4)",
    "treatment_effect_possible_after_srs": "an irradiated metastasis enlarged after radiosurgery: radiation "
    "necrosis or other treatment effect is possible although RANO-BM calls progression by size",
    "growth_in_irradiated_field": "the growing lesion lies in the irradiated field: late treatment effect remains "
    "possible",
    "measurement_source_changed": "target measurements come from different sources across timepoints",
}


def stage_criteria(ctx: AssessContext) -> None:
    """Response criteria over the timeline: the criterion that fits the case in ``response``, the others beside it.

    Lesions come from ``ctx.lesions`` (reported in case.yaml or measured by the lesions stage). A criterion
    that cannot be assessed is still reported, with category "cannot assess" and its reason.
    """
    from .criteria import assess_all, to_response_call

    chosen, why, results = assess_all(ctx.case, ctx.lesions)
    ctx.response = to_response_call(results[chosen], selection_reason=why)
    ctx.other_responses = tuple(to_response_call(r) for name, r in results.items() if name != chosen)
    main = results[chosen]
    latest = main.latest
    if latest is not None:
        for flag in latest.flags:
            if flag in _CRITERIA_WARNINGS:
                ctx.warnings.append(f"{chosen}: {_CRITERIA_WARNINGS[flag]}")
    if main.reason:
        ctx.skip("criteria", f"{chosen}: {main.reason}")
    elif main.latest is not None and main.latest.reason:
        ctx.skip("criteria", f"{chosen} at the latest scan: {main.latest.reason}", timepoint=main.latest.date)


def stage_evidence(ctx: AssessContext) -> None:
    """Prior × likelihoods → probability of true progression with an interval (issue: evidence)."""
    from .evidence import evaluate_case, load_profile_table

    if not question_asked(ctx):  # issue 12 item 1: no new or enlarging lesion, no probability (pseudoprog.question)
        return
    profile = ctx.products.get("site_profile")
    try:
        outcome = evaluate_case(ctx.case, lesions=ctx.lesions, markers=ctx.markers, table=load_profile_table(profile))
    except ValueError as exc:
        ctx.skip("evidence", f"no probability: {exc}")
        return
    ctx.products["evidence_outcome"] = outcome
    ctx.probability = outcome.probability
    ctx.evidence = outcome.items
    ctx.warnings.extend(w for w in outcome.warnings if w not in ctx.warnings)


def stage_advice(ctx: AssessContext) -> None:
    """Next step and management pathway (issue: evidence and advice)."""
    from .advice import recommend

    assert ctx.scope is not None
    ctx.recommendation = recommend(
        ctx.case,
        scope=ctx.scope,
        evidence=ctx.products.get("evidence_outcome"),
        response=ctx.response,
        lesions=ctx.lesions,
        markers=ctx.markers.get(ctx.case.latest.date, []),
        question=ctx.products.get("question"),
    )


def stage_report(ctx: AssessContext, assessment: Assessment) -> dict[str, str]:
    """Figures, DICOM SEG/Parametric Map/SR (DICOM input) and the HTML/PDF report beside assessment.json.

    Returns output name → path relative to the output folder; what it cannot write is added to
    ``ctx.not_assessed`` (see :mod:`pseudoprog.report.stage`).
    """
    from .report.stage import run_report_stage

    return run_report_stage(ctx, assessment)


STAGES: list[tuple[str, Callable[[AssessContext], None]]] = [
    ("reported values", stage_reported),
    ("lesions", stage_lesions),
    ("maps", stage_maps),
    ("criteria", stage_criteria),
    ("question", stage_question),
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


def assess(
    case_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    progress: Progress | None = None,
    profile: str | Path | None = None,
) -> Assessment:
    """Assess one case folder; writes ``assessment.json``, the report, figures and DICOM objects into ``out_dir``.

    ``out_dir`` defaults to ``CASE_DIR/pseudoprog-output``. Outputs are written whole or not at all.
    ``profile`` is a site profile from ``pseudoprog calibrate``: its thresholds replace the literature's.
    """
    say = progress or (lambda _msg: None)
    case_dir = Path(case_dir)
    out = Path(out_dir) if out_dir is not None else case_dir / "pseudoprog-output"
    say("reading case.yaml and image headers")
    ingested = ingest_case(case_dir)
    ctx = AssessContext(case=ingested.case, out_dir=out, warnings=list(ingested.warnings))
    if profile is not None:
        from .evidence.calibration import read_profile

        read_profile(profile)  # a bad profile is an InputError before any work
        ctx.products["site_profile"] = Path(profile)
    ctx.scope = decide_scope(ctx.case)
    if ctx.scope.in_scope:
        for name, fn in STAGES:
            say(name)
            _run_stage(ctx, name, fn)
    else:
        stage_reported(ctx)
        ctx.skip("assessment", "out of scope: " + ctx.scope.reason)
        stage_advice(ctx)  # the route for an out-of-scope case
    assessment = build_assessment(ctx)
    say("writing report")
    out.mkdir(parents=True, exist_ok=True)
    outputs = {"assessment_json": "assessment.json"}
    outputs.update(stage_report(ctx, assessment))
    # The report stage may add 'not assessed' items (e.g. no DICOM outputs for NIfTI input).
    assessment = replace(assessment, outputs=outputs, not_assessed=tuple(ctx.not_assessed))
    write_assessment_json(assessment, out / "assessment.json")
    return assessment
