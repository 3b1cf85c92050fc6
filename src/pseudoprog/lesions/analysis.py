"""The lesions of a whole case from its images: align, mask the brain, segment, measure, track, place against the dose.

For every timepoint that has a post-contrast T1 (the reference grid of that session):

1. T1, T2 and FLAIR are registered onto the T1c (:func:`pseudoprog.align.register`, rigid, preset
   "structural"); the transforms are kept. A series that shares the T1c's frame of reference and grid is
   left where the scanner put it unless the similarity check shows motion, and a registration that does
   not improve the metric is not kept (the metric before and after is recorded either way).
2. A brain mask (classical) is made on the T1c; the T1c is N4 bias-corrected inside it for the registrations
   onto the baseline and for a user's model. The classical segmentation (seeded and automatic) reads the T1c as
   acquired: its bars are set and validated on uncorrected real scans (benchmarks/RESULTS.md, "N4 before the
   classical segmentation"); on N4-corrected images the same bars put automatic targets outside the tumour.
3. Lesions come from, in this order of precedence: imported masks (``mask`` in case.yaml), a
   user's model (``segmenter``), seeds (``seed`` in case.yaml), automatic detection.
4. Each lesion is measured (RANO for gliomas, RANO-BM for metastases), its core classified
   (fluid cavity/cyst vs necrosis), and the structural markers computed where the sequences exist.

Then every session's T1c is registered onto the baseline T1c (preset "longitudinal": the structural settings after a
search over starting poses, since two days' head positions can differ by more than the optimiser's capture range),
lesion masks are carried there and
tracked (:mod:`.tracking`), and, with an RTDOSE, each lesion is placed against the dose. Where the lesions came from
automatic detection, a reader's two checks are made with a click at a lesion's place (the seeded segmentation):
a tracked lesion a follow-up does not show is looked for where it was (:func:`_follow_missing`), and a lesion a
follow-up shows as new is looked for on the scans before it (:func:`_look_back`), so neither "gone" nor "new" rests on
automatic detection's misses alone.
Nothing here reads case.yaml or writes files; :mod:`pseudoprog.lesions.stage` hands its results to the flow.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from ..align.bias import n4_bias_correct
from ..align.brainmask import METHODS as BRAIN_METHODS
from ..align.brainmask import BrainMaskCheck, brain_mask_checked, deepbet_available
from ..align.registration import Registration, identity, register
from ..align.warp import warp
from ..case import (
    Case,
    Lesion,
    LesionMask,
    LesionMeasurement,
    LesionSeed,
    LocationVsRT,
    Marker,
    MaskSource,
    Series,
    SeriesKind,
    Timepoint,
    TreatmentType,
    Volume,
)
from ..errors import CannotAssessError, InputError
from ..ingest.masks import read_mask, read_nifti_mask, read_rtstruct_mask, read_seg_mask
from ..ingest.rtdose import DoseGrid, read_rtdose
from ..ingest.series import load_series
from ..markers import make_marker
from ..perfusion.reference_region import Midline, find_midline
from ..privacy import redact
from ..threads import case_threads
from .measure import Bidimensional, measure_lesion
from .radiation import FieldLocation, classify_location, reference_dose_gy
from .segment import (
    STRUCT26,
    Seed,
    SegmentationInput,
    SegmentedLesion,
    Segmenter,
    core_of,
    flair_abnormality,
    not_reliable_reason,
    run_segmenter,
    seed_from_voxels,
    segment_lesions,
)
from .tracking import Tracker, TrackEvent

log = logging.getLogger(__name__)

STRUCTURAL = (SeriesKind.T1, SeriesKind.T2, SeriesKind.FLAIR)
FLUID_FLAIR_RATIO = 0.6  # core darker than 0.6 x brain median on FLAIR = fluid (CSF-like): cavity or cyst


@dataclass
class TimepointLesions:
    """What the lesions analysis found at one timepoint."""

    date: dt.date
    reference: Volume  # the T1c (N4-corrected), the grid of every mask
    brain: np.ndarray
    brain_method: str
    registrations: dict[str, Registration]  # series kind → transform onto the T1c
    lesions: list[SegmentedLesion]
    measurements: dict[str, LesionMeasurement] = field(default_factory=dict)
    bidimensional: dict[str, Bidimensional | None] = field(default_factory=dict)
    components: dict[str, str | None] = field(default_factory=dict)
    markers: dict[str, dict[str, Marker]] = field(default_factory=dict)
    locations: dict[str, FieldLocation] = field(default_factory=dict)
    new: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    to_baseline: Registration | None = None
    images: dict[SeriesKind, np.ndarray] = field(default_factory=dict)  # on the T1c grid
    brain_check: BrainMaskCheck | None = None  # plausibility of the brain mask (volume, field-of-view cut)
    midline: Midline | None = None  # the brain's midline (world space) on this brain mask, for contralateral refs
    # The T1c as acquired (what the classical segmentation reads), kept only when the lesions came from automatic
    # detection, so a lesion seen at another visit can be looked for where it was (:func:`_follow_missing`).
    acquired: np.ndarray | None = None
    # Why automatic detection refused the whole scan, if it did: only lesions known from other scans are looked for
    # (at their places); with none found there the timepoint is not assessed.
    refused: str | None = None
    # Why automatic detection's search for new lesions covered only part of the brain although it found targets (the
    # brain mask left part of the imaged brain out): the criteria call no response at this scan.
    partial_search: str | None = None
    # Clicks already made on this scan (the seed's point, mm) and what the seeded segmentation answered: a second
    # tracking (after the look-back) asks again for every place a first search did not find.
    clicks: dict[tuple[float, float, float], tuple[list[SegmentedLesion], list[str]] | CannotAssessError] = field(
        default_factory=dict
    )


@dataclass
class CaseLesions:
    timepoints: dict[dt.date, TimepointLesions]
    events: list[TrackEvent]
    skipped: list[tuple[dt.date | None, str]]  # (timepoint or None, reason)
    dose_note: str | None = None

    def lesion_objects(self, date: dt.date) -> tuple[Lesion, ...]:
        tl = self.timepoints[date]
        out = []
        for les in tl.lesions:
            loc = tl.locations.get(les.lesion_id)
            out.append(
                Lesion(
                    id=les.lesion_id,
                    enhancing=bool(les.enhancing.any()),
                    measurement=tl.measurements[les.lesion_id],
                    location_vs_rt=loc.location if loc else LocationVsRT.UNKNOWN,
                    new=tl.new.get(les.lesion_id, False),
                    component=tl.components.get(les.lesion_id),
                    markers=tl.markers.get(les.lesion_id, {}),
                    found_by=les.statement(),
                )
            )
        return tuple(out)

    def lesion_masks(self, date: dt.date) -> tuple[LesionMask, ...]:
        tl = self.timepoints[date]
        return tuple(
            LesionMask(
                lesion_id=les.lesion_id,
                enhancing=les.enhancing,
                affine=tl.reference.affine,
                core=les.core,
                flair=les.flair,
                source=f"lesions.{les.method}",
            )
            for les in tl.lesions
        )


# ---------------------------------------------------------------------------------------------


def _same_frame(a: Series, b: Series) -> bool:
    """Whether two series of one session share a frame of reference: the same FrameOfReferenceUID, or
    neither has one (NIfTI of one session folder), in which case only an identical grid and the similarity
    check (:func:`pseudoprog.align.register`) keep them unregistered."""
    return a.frame_of_reference_uid == b.frame_of_reference_uid


def _load3d(series) -> tuple[Volume, list[str]]:
    vol, warnings = load_series(series)
    if vol.is_dynamic:
        raise CannotAssessError(f"series '{series.description}' is dynamic; a 3D structural image was expected")
    if not np.isfinite(vol.data).all():
        vol = Volume(np.nan_to_num(vol.data), vol.affine, series_uid=vol.series_uid)
        warnings = [*warnings, f"series '{series.description}' had non-finite voxels, set to 0"]
    return vol, warnings


def _seeds(tp: Timepoint, affine: np.ndarray) -> tuple[Seed, ...]:
    out = []
    for s in tp.seeds:
        if s.space == "voxel":
            out.append(seed_from_voxels(s.lesion_id, affine, point=s.point, radius_mm=s.radius_mm, box=s.box))
        else:
            out.append(Seed(s.lesion_id, point_mm=s.point, radius_mm=s.radius_mm, box_mm=s.box))
    return tuple(out)


def _imported(tp: Timepoint, ref: Volume, brain: np.ndarray, flair: np.ndarray | None) -> list[SegmentedLesion]:
    out: list[SegmentedLesion] = []
    shape = ref.spatial_shape
    for src in tp.masks:
        if src.lesion_id is not None:
            mask, fmt = read_mask(src.path, ref.affine, shape, label=src.label, segment=src.segment, roi=src.roi)
            core = core_of(mask, affine=ref.affine)
            fl = flair_abnormality(flair, brain, mask | core, ref.affine) if flair is not None else None
            out.append(SegmentedLesion(src.lesion_id, mask, core, fl, f"imported:{fmt}"))
            continue
        out.extend(_label_map_lesions(src, ref, brain, flair))
    return out


def _label_map_lesions(
    src: MaskSource, ref: Volume, brain: np.ndarray, flair: np.ndarray | None
) -> list[SegmentedLesion]:
    from ..ingest.masks import mask_format

    shape = ref.spatial_shape
    fmt = mask_format(src.path)
    if fmt == "nifti":
        enh = read_nifti_mask(src.path, ref.affine, shape, labels=src.enhancing_labels or None)
        core_all = read_nifti_mask(src.path, ref.affine, shape, labels=src.core_labels) if src.core_labels else None
        fl_all = read_nifti_mask(src.path, ref.affine, shape, labels=src.flair_labels) if src.flair_labels else None
    elif fmt == "seg":
        enh = read_seg_mask(src.path, ref.affine, shape, segments=None if src.segment is None else [src.segment])
        core_all = fl_all = None
    else:
        enh = read_rtstruct_mask(src.path, ref.affine, shape, roi=src.roi)
        core_all = fl_all = None
    if not enh.any():
        raise InputError("the enhancing labels are empty on the T1c grid", file=src.path)
    labels, n = ndimage.label(enh | (core_all if core_all is not None else False), structure=STRUCT26)
    out = []
    for idx in range(1, n + 1):
        region = labels == idx
        e = region & enh
        if not e.any():
            continue
        core = region & core_all if core_all is not None else core_of(e, affine=ref.affine)
        if fl_all is not None:
            fl_lab, _ = ndimage.label(fl_all | region, structure=STRUCT26)
            keep = np.unique(fl_lab[region])
            fl = np.isin(fl_lab, keep[keep > 0])
        elif flair is not None:
            fl = flair_abnormality(flair, brain, e | core, ref.affine)
        else:
            fl = None
        out.append(SegmentedLesion("", e, core & ~e, fl, f"imported-map:{fmt}"))
    out.sort(key=lambda s: -int(s.enhancing.sum()))
    return [replace(s, lesion_id=f"M{i}") for i, s in enumerate(out, start=1)]


def _component(les: SegmentedLesion, flair: np.ndarray | None, brain: np.ndarray, had_surgery: bool) -> str | None:
    """solid / necrotic_rim / cystic / cavity_wall from the core's size and its FLAIR signal."""
    n_core, n_enh = int(les.core.sum()), int(les.enhancing.sum())
    if n_enh == 0:
        return None
    if n_core < 0.1 * (n_core + n_enh):
        return "solid"
    if flair is None:
        return "necrotic_rim"
    ratio = float(np.median(flair[les.core])) / max(float(np.median(flair[brain])), 1e-6)
    if ratio < FLUID_FLAIR_RATIO:
        return "cavity_wall" if had_surgery else "cystic"
    return "necrotic_rim"


def _lesion_quotient(
    les: SegmentedLesion, bd: Bidimensional | None, t2: np.ndarray | None, brain: np.ndarray, affine: np.ndarray
) -> float | None:
    """T2 nodule area / T1c lesion area on the slice of the bidimensional product (Dequesada 2008).

    The T2 nodule is the part of the lesion outline that is neither oedema-bright nor fluid-bright on
    T2: below the midpoint of normal brain and the surrounding oedema. None when there is no
    oedema ring to define that midpoint.
    """
    if t2 is None or bd is None or les.flair is None:
        return None
    k = bd.best.slice_index
    outline = (les.enhancing | les.core)[:, :, k]
    ring = (les.flair & ~(les.enhancing | les.core))[:, :, k]
    if outline.sum() == 0 or ring.sum() < 10:
        return None
    t2k = t2[:, :, k]
    normal = float(np.median(t2[brain]))
    oedema = float(np.median(t2k[ring]))
    if oedema <= normal:
        return None
    nodule = outline & (t2k < 0.5 * (normal + oedema))
    return float(nodule.sum()) / float(outline.sum())


def _had_surgery(case: Case, date: dt.date) -> bool:
    return any(t.type is TreatmentType.SURGERY and t.start <= date for t in case.treatments)


def analyse_timepoint(
    case: Case,
    tp: Timepoint,
    *,
    segmenter: Segmenter | None = None,
    segmenter_name: str = "user",
    within_session: str = "rigid",
    bias_correction: bool = True,
    brain_method: str = "auto",
    on_reference: Callable[[Volume, np.ndarray], None] | None = None,
) -> TimepointLesions:
    """Register, mask, segment and measure one timepoint (see the module docstring).

    ``on_reference`` is called with the reference image (the bias-corrected T1c) and the brain mask as soon as
    they exist, before the rest of the timepoint's work (the case registers them onto the baseline meanwhile).

    Raises :class:`~pseudoprog.errors.CannotAssessError` when the timepoint has no post-contrast T1.
    """
    if within_session not in ("rigid", "header"):
        raise ValueError("within_session must be 'rigid' (register) or 'header' (trust the scanner geometry)")
    t1c_series = tp.reference_t1c()
    if t1c_series is None:
        raise CannotAssessError("no post-contrast T1 series: enhancing lesions cannot be segmented or measured")
    notes: list[str] = []
    t1c, w = _load3d(t1c_series)
    notes.extend(w)
    brain, used_method, check = brain_mask_checked(t1c, method=brain_method)
    # A mask that is usable but not what an adult brain should look like (volume outside the adult range, cut by
    # the field of view) is said with every output of this timepoint, so the report carries it.
    notes.extend(f"brain mask ({used_method} method, {check.volume_ml:.0f} mL): {w}" for w in check.warnings)
    ref = t1c
    if bias_correction:
        ref, _ = n4_bias_correct(t1c, mask=brain)
    if on_reference is not None:
        on_reference(ref, brain)
    registrations: dict[str, Registration] = {}
    images: dict[SeriesKind, np.ndarray] = {}
    for kind in STRUCTURAL:
        s = tp.best_series(kind)
        if s is None:
            continue
        vol, w = _load3d(s)
        notes.extend(w)
        label = (f"{tp.date}/{t1c_series.kind.value}", f"{tp.date}/{kind.value}")
        if within_session == "rigid":
            reg = register(
                t1c,
                vol,
                kind="rigid",
                preset="structural",
                fixed_mask=brain,
                same_frame_of_reference=_same_frame(t1c_series, s),
                labels=label,
            )
            if reg.optimised and not reg.accepted:  # rejected; aligned series left alone are the normal case
                notes.append(f"{kind.value} onto the T1c: {reg.reason}")
        else:
            reg = identity(*label, reason="within_session='header': the scanner geometry is trusted")
        registrations[kind.value] = reg
        images[kind] = warp(vol, reg, t1c).data
    flair = images.get(SeriesKind.FLAIR, images.get(SeriesKind.T2))
    acquired = None  # kept only for lesions from automatic detection (the follow-up search clicks on it)
    refused = None
    partial_search = None
    if tp.masks:
        lesions = _imported(tp, ref, brain, flair)
    elif segmenter is not None:
        inp = SegmentationInput(images={SeriesKind.T1C: ref.data, **images}, brain=brain, affine=ref.affine)
        lesions = run_segmenter(segmenter, inp, name=segmenter_name)
    else:
        # The T1c as acquired, not the N4-corrected reference: the classical segmentation's bars (the brain's robust
        # SD, local contrast against the shell round a candidate) were set and validated on uncorrected scans; on
        # N4-corrected real scans they put automatic targets outside the tumour (ReMIND, TCIA 01 Post, 06 Post,
        # 11 Post, 07 Pre; benchmarks/RESULTS.md, "N4 before the classical segmentation").
        try:
            lesions, seg_notes = segment_lesions(
                t1c.data,
                brain,
                t1c.affine,
                t1=images.get(SeriesKind.T1),
                flair=flair,
                seeds=_seeds(tp, ref.affine),
            )
        except CannotAssessError as exc:
            if tp.seeds:
                raise
            # Automatic detection refused the whole scan (too many separate candidates: noise or a coarse image).
            # A lesion known from another scan can still be looked for at its place, as a reader would click on it;
            # the case decides (analyse_case), and without any such lesion the timepoint is not assessed.
            lesions, seg_notes, refused = [], [], exc.reason
        if not tp.seeds and not lesions and refused is None:
            # "Not reliable here" is no negative finding either: the scan was not searched in a way that can say
            # what is not there, so it is treated as a refusal (known lesions looked for at their places, new ones
            # not claimed absent). Before, it came out as "no enhancing lesion found" and the case could call a known
            # lesion gone or resolved, or a response with "no new lesion", on a scan the detection had disowned.
            # A brain mask that left part of the brain out is the same: nothing found inside it is no finding.
            refused = not_reliable_reason(seg_notes) or check.missing_brain or None
        elif not tp.seeds and refused is None and check.missing_brain:
            # Targets found inside a mask that left part of the brain out are kept, but the scan's search for new
            # lesions was partial: the criteria call no response there (partial_search).
            partial_search = check.missing_brain
            notes.append(partial_search_warning(check.missing_brain))
        notes.extend(seg_notes)
        acquired = None if tp.seeds else t1c.data
    out = TimepointLesions(
        date=tp.date,
        reference=ref,
        brain=brain,
        brain_method=used_method,
        brain_check=check,
        # Searched once, on the best brain mask of the session, for every contralateral reference of its series
        # (automatic detection's search of this same mask above is reused: mid_sagittal_fit keeps its answers).
        midline=find_midline(brain, ref.affine),
        registrations=registrations,
        lesions=lesions,
        notes=notes,
        images=images,
        acquired=acquired,
        refused=refused,
        partial_search=partial_search,
    )
    measure_timepoint(case, out)
    return out


def measure_timepoint(case: Case, tl: TimepointLesions, lesions: list[SegmentedLesion] | None = None) -> None:
    """Fill measurements, components and structural markers of a timepoint's lesions (default: all of them)."""
    criteria = "rano_bm" if case.diagnosis.is_metastasis else "rano"
    flair = tl.images.get(SeriesKind.FLAIR, tl.images.get(SeriesKind.T2))
    surgery = _had_surgery(case, tl.date)
    for les in tl.lesions if lesions is None else lesions:
        m, bd = measure_lesion(les.enhancing, tl.reference.affine, core=les.core, flair=les.flair, criteria=criteria)
        component = _component(les, flair, tl.brain, surgery)
        if component in ("cystic", "cavity_wall", "necrotic_rim") and m.measurable:
            m = replace(
                m,
                measurability_reason=m.measurability_reason
                + f"; {component.replace('_', ' ')}: diameters are of the outer enhancing margin (RANO measures a"
                " cyst or cavity only through a solid nodule ≥ 10 mm; the criteria decide)",
            )
        tl.measurements[les.lesion_id] = m
        tl.bidimensional[les.lesion_id] = bd
        tl.components[les.lesion_id] = component
        markers: dict[str, Marker] = {}
        lesion_vol = float((les.enhancing | les.core).sum())
        if les.flair is not None and les.enhancing.any() and lesion_vol > 0:
            oedema = float((les.flair & ~(les.enhancing | les.core)).sum())
            ratio = oedema / lesion_vol
            if ratio <= 1000:
                markers["oedema_ratio"] = make_marker(
                    "oedema_ratio",
                    ratio,
                    source="lesions.structural",
                    lesion_id=les.lesion_id,
                    quality={
                        "definition": "FLAIR/T2 oedema volume outside the lesion / T1c lesion volume (Leeman 2013)"
                    },
                )
        lq = _lesion_quotient(les, bd, tl.images.get(SeriesKind.T2), tl.brain, tl.reference.affine)
        if lq is not None:
            markers["lesion_quotient"] = make_marker(
                "lesion_quotient",
                lq,
                source="lesions.structural",
                lesion_id=les.lesion_id,
                quality={"definition": "T2 nodule area / T1c lesion area on the measured slice (Dequesada 2008)"},
            )
        tl.markers[les.lesion_id] = markers


def _on_baseline(les: SegmentedLesion, tl: TimepointLesions, base: TimepointLesions) -> np.ndarray:
    """A lesion (enhancing and core) of ``tl`` carried onto the baseline's grid, where tracks are matched."""
    assert tl.to_baseline is not None
    return tl.to_baseline.mask_to_fixed(
        les.enhancing | les.core, tl.reference.affine, base.reference.affine, base.reference.spatial_shape
    )


def _look_at_place(
    case: Case,
    tl: TimepointLesions,
    base: TimepointLesions,
    tracker: Tracker,
    place: np.ndarray,
    seed_id: str,
    where: str,
) -> tuple[SegmentedLesion, np.ndarray] | None:
    """A reader's click on ``tl`` at the centroid of ``place`` (a lesion's mask on the baseline grid).

    The mask is carried from the baseline grid to this scan through its registration, and its centroid is the
    click: the seeded segmentation judges it against local background and refuses with the contrast it saw. What a
    click finds is this lesion only if the tracker would match it to ``place`` (the seeded search reaches tens of mm
    for a peak, and another structure there is not this lesion) and it is not part of a lesion the scan already has.
    Returns the lesion (method ``"followed"``, not yet measured) and its mask on the baseline grid, or None with the
    reason in ``tl.notes`` (the notes begin with ``where``).
    """
    assert tl.to_baseline is not None and tl.acquired is not None
    centroid_vox = np.array([*ndimage.center_of_mass(place), 1.0])
    here = tl.to_baseline.fixed_to_moving @ (base.reference.affine @ centroid_vox)
    point = (float(here[0]), float(here[1]), float(here[2]))
    answer = tl.clicks.get(point)
    if answer is None:
        flair = tl.images.get(SeriesKind.FLAIR, tl.images.get(SeriesKind.T2))
        try:
            answer = segment_lesions(
                tl.acquired,
                tl.brain,
                tl.reference.affine,
                t1=tl.images.get(SeriesKind.T1),
                flair=flair,
                seeds=(Seed(seed_id, point_mm=point),),
            )
        except CannotAssessError as exc:
            answer = exc
        tl.clicks[point] = answer
    if isinstance(answer, CannotAssessError):
        tl.notes.append(f"{where}: looked for at its place: {answer.reason}")
        return None
    grown, notes = answer
    if not grown or not grown[0].enhancing.any():
        why = "; ".join(notes) if notes else "no enhancing lesion there"
        tl.notes.append(f"{where}: looked for at its place and not found ({why})")
        return None
    les = grown[0]
    for other in tl.lesions:
        if (les.enhancing & (other.enhancing | other.core)).any():
            tl.notes.append(f"{where}: a click at its place grows into another lesion of this scan (moved, or joined)")
            return None
    on_base = _on_baseline(les, tl, base)
    if not tracker.same_place(on_base, place):
        tl.notes.append(f"{where}: a click at its place finds enhancing tissue elsewhere, not this lesion")
        return None
    return replace(les, lesion_id=seed_id, method="followed", found_by="click at its place on another scan"), on_base


def _follow_missing(
    case: Case, tl: TimepointLesions, tracker: Tracker, on_base: list[np.ndarray], base: TimepointLesions
) -> list[np.ndarray]:
    """Look for each tracked lesion this follow-up's automatic detection did not reach, where it was last seen.

    A reader who does not see a known lesion on a follow-up looks at its place before calling it gone: automatic
    detection's bars are set so that it refuses rather than invents, and a tumour that enhances less than the
    first pass needs, or sits beside anatomy that makes the pass "not reliable", is not found although a click on
    it is (TCIA Brain-Tumor-Progression 05: found at the first scan, "none found" at progression, seeded Dice
    0.83). The click is at the centroid of the lesion's last mask (:func:`_look_at_place`). Found lesions are
    appended to ``tl.lesions`` (measured; method ``"followed"``) and their masks on the baseline grid returned; a
    refusal is a note, and the tracker then records the lesion as disappeared.
    """
    added: list[SegmentedLesion] = []
    found_on_base: list[np.ndarray] = []
    for track_id in tracker.unreached(on_base):
        last = tracker.tracks[track_id]
        if not last.any():
            continue
        where = f"{track_id}, seen before but not among this scan's automatic findings"
        found = _look_at_place(case, tl, base, tracker, last, f"F{len(added) + 1}", where)
        if found is None:
            continue
        tl.lesions = [*tl.lesions, found[0]]
        added.append(found[0])
        found_on_base.append(found[1])
        tl.notes.append(
            f"{where}: found by a seed at its earlier place (the seeded segmentation, judged against local "
            "background), as a reader would look for it; check its outline"
        )
    if added:
        measure_timepoint(case, tl, added)
    return found_on_base


def _look_back(case: Case, done: dict[dt.date, TimepointLesions], base: TimepointLesions, tracker: Tracker) -> bool:
    """Look for each lesion that automatic detection calls new at a follow-up on the scans before it, at its place.

    RANO calls a new lesion progression; one that automatic detection missed on the earlier scan (it refuses rather
    than invents, and a baseline it found nothing on makes every later lesion look new) is not new. A reader looks
    at the earlier scan before calling it so: here a click at the lesion's place on the scan before (the seeded
    segmentation, :func:`_look_at_place`), then on the one before that while it is found. Found lesions are added
    to those scans (method ``"followed"``, measured) and the caller tracks the case again; not found, the lesion
    is new, and its scan says where it was looked for. Scans whose lesions came from the reader (seeds, masks) or
    a model are not searched. ``tracker`` (the first tracking's) gives the matching rule a click must meet. Returns
    whether a lesion was added.
    """
    dates = sorted(done)
    added = False
    for k in range(1, len(dates)):
        tl = done[dates[k]]
        earlier_ids = {les.lesion_id.split(".")[0] for d in dates[:k] for les in done[d].lesions}
        for les in list(tl.lesions):
            if les.method != "automatic" or les.lesion_id.split(".")[0] in earlier_ids:
                continue
            place = _on_baseline(les, tl, base)
            where = f"lesion {les.lesion_id} of the {dates[k]} scan, new there by automatic detection"
            for j in range(k - 1, -1, -1):
                before = done[dates[j]]
                if before.acquired is None:
                    break  # the reader's or a model's lesions: not second-guessed
                found = _look_at_place(case, before, base, tracker, place, f"B{len(before.lesions) + 1}", where)
                if found is None:
                    tl.notes.append(
                        f"lesion {les.lesion_id}: looked for at its place on the {dates[j]} scan: not there"
                    )
                    break
                before.lesions = [*before.lesions, found[0]]
                measure_timepoint(case, before, [found[0]])
                before.notes.append(
                    f"{where}: found at its place on this scan by a seed (the seeded segmentation, judged against "
                    "local background): tracked from here, not new at the later scan; check its outline"
                )
                place, added = found[1], True
    return added


def _named_by_user(les: SegmentedLesion) -> bool:
    """Seeded lesions and per-lesion imported masks carry the reader's id; others are named by the tracker."""
    return bool(les.lesion_id) and (les.method == "seed" or les.method.startswith("imported:"))


def _rename(tl: TimepointLesions, ids: list[tuple[str, bool]]) -> None:
    """Give the lesions the tracker's ids; the per-lesion tables are rebuilt (a second tracking may swap ids)."""
    old = [les.lesion_id for les in tl.lesions]
    tl.lesions = [replace(les, lesion_id=lid) for les, (lid, _) in zip(tl.lesions, ids, strict=True)]
    tl.measurements = {lid: tl.measurements[o] for o, (lid, _) in zip(old, ids, strict=True)}
    tl.bidimensional = {lid: tl.bidimensional[o] for o, (lid, _) in zip(old, ids, strict=True)}
    tl.components = {lid: tl.components[o] for o, (lid, _) in zip(old, ids, strict=True)}
    tl.markers = {
        lid: {k: replace(mk, lesion_id=lid) for k, mk in tl.markers.get(o, {}).items()}
        for o, (lid, _) in zip(old, ids, strict=True)
    }
    tl.new = {lid: new for lid, new in ids}


def _seeded_ids(case: Case, date: dt.date) -> set[str]:
    """The lesions a reader's seeds point at on the scan of ``date``."""
    return {s.lesion_id for tp in case.timepoints if tp.date == date for s in tp.seeds}


def nothing_measured_note(case: Case, date: dt.date) -> str:
    """What a timepoint with no lesion says: none found, or — when a reader's seeds pointed at lesions there and each
    was refused — that those lesions were not measured (the reader says they are there; why each seed was refused
    is in the notes)."""
    seeded = sorted(_seeded_ids(case, date))
    if seeded:
        return (
            f"no lesion measured: the seed(s) given for {', '.join(seeded)} found no enhancing lesion there (see why "
            "below); not measured, not gone"
        )
    return "no enhancing lesion found in the images"


def new_lesions_not_searched(tl: TimepointLesions) -> str | None:
    """Why new lesions were not, or only in part, looked for at this scan (None: the scan was searched)."""
    if tl.refused is not None:
        return f"automatic detection refused this scan ({tl.refused})"
    if tl.partial_search is not None:
        return f"automatic detection searched only part of the brain ({tl.partial_search})"
    return None


def partial_search_warning(reason: str) -> str:
    """What a scan whose targets were found inside a brain mask that left brain out tells the reader."""
    return f"new lesions were looked for only inside the brain mask: {reason}"


def refusal_warning(reason: str) -> str:
    """What a scan automatic detection refused as a whole, but whose known lesions were found, tells the reader."""
    return (
        f"automatic detection refused this scan ({reason}): only lesions seen on other scans were looked for, at "
        "their places; new lesions elsewhere were not looked for — check the scan"
    )


def _track(case: Case, done: dict[dt.date, TimepointLesions], base: TimepointLesions) -> Tracker:
    """Track the lesions of every timepoint in date order (renaming them), following tracks a follow-up missed.

    A scan whose automatic detection refused it as a whole keeps only the lesions found at their known places; with
    none, it is left out of the tracking (nothing there is called gone or new) and the case does not assess it. A
    lesion a reader's seed points at on a scan, but whose segmentation there was refused, is not called gone.
    """
    dates = sorted(done)
    tracker = Tracker(base.reference.spacing_mm)
    for d in dates:
        tl = done[d]
        assert tl.to_baseline is not None
        on_base = [_on_baseline(les, tl, base) for les in tl.lesions]
        if d != dates[0] and tl.acquired is not None and tracker.tracks:
            on_base += _follow_missing(case, tl, tracker, on_base, base)
        if tl.refused is not None and not tl.lesions:
            continue
        given = [les.lesion_id if _named_by_user(les) else None for les in tl.lesions]
        # A lesion the reader seeded on this scan but whose segmentation was refused is not measured, not gone.
        unmeasured = _seeded_ids(case, d) - {les.lesion_id for les in tl.lesions}
        _rename(tl, tracker.add(d, on_base, given, unmeasured))
    return tracker


def _dose_for_case(case: Case) -> tuple[DoseGrid | None, float | None, str | None]:
    if case.rtdose is None:
        return None, None, None
    courses = [t for t in case.radiation_courses() if t.dose_gy]
    if not courses:
        return None, None, "an RTDOSE is given but no radiation course has dose_gy: the isodose levels are undefined"
    course = max(courses, key=lambda t: t.start)
    dose = read_rtdose(case.rtdose)
    return dose, reference_dose_gy(float(course.dose_gy or 0), course.isodose_percent), None


def analyse_case(
    case: Case,
    *,
    segmenter: Segmenter | None = None,
    segmenter_name: str = "user",
    within_session: str = "rigid",
    across_sessions: str = "rigid",
    bias_correction: bool = True,
    brain_method: str = "auto",
    progress: Callable[[str], None] | None = None,
) -> CaseLesions:
    """Lesions of every timepoint with images, tracked over time and placed against the dose.

    Parameters
    ----------
    segmenter
        A user's model (see :data:`~pseudoprog.lesions.segment.Segmenter`); default classical.
    within_session
        ``"rigid"`` registers T1/T2/FLAIR onto the T1c; ``"header"`` trusts the scanner geometry.
    across_sessions
        ``"rigid"`` or ``"affine"`` (the affine kept only where it improves the match over the rigid one;
        ``"auto"`` is the same as ``"affine"``).
    brain_method
        ``"auto"`` (the default: the classical mask, deepbet's only where the classical one cannot be the brain
        imaged and the optional extra is installed), ``"classical"`` or ``"deepbet"`` (optional extra); see
        :func:`pseudoprog.align.brainmask.brain_mask_checked`.
    """
    if across_sessions not in ("rigid", "affine", "auto"):
        raise ValueError("across_sessions must be 'rigid', 'affine' or 'auto'")
    # Options are checked here, once: inside the loop a ValueError would be one timepoint 'not assessed'.
    if within_session not in ("rigid", "header"):
        raise ValueError(f"within_session must be 'rigid' or 'header', got {within_session!r}")
    if brain_method not in BRAIN_METHODS:
        raise ValueError(f"brain_method must be one of {', '.join(BRAIN_METHODS)}, got {brain_method!r}")
    if brain_method == "deepbet" and not deepbet_available():
        raise ValueError("brain mask method 'deepbet' needs the optional extra: pip install pseudoprog[brainmask]")
    say = progress or (lambda _m: None)
    done: dict[dt.date, TimepointLesions] = {}
    skipped: list[tuple[dt.date | None, str]] = []

    with_images = [tp for tp in case.timepoints if tp.series]
    # Each timepoint's reference image and brain mask, as soon as its analysis has made them (None if it failed).
    references: dict[dt.date, Future[tuple[Volume, np.ndarray] | None]] = {tp.date: Future() for tp in with_images}

    def one(tp: Timepoint) -> TimepointLesions:
        ready = references[tp.date]
        try:
            return analyse_timepoint(
                case,
                tp,
                segmenter=segmenter,
                segmenter_name=segmenter_name,
                within_session=within_session,
                bias_correction=bias_correction,
                brain_method=brain_method,
                on_reference=lambda ref, brain: ready.set_result((ref, brain)),
            )
        finally:
            if not ready.done():
                ready.set_result(None)

    def onto_baseline(base: tuple[Volume, np.ndarray], base_date: dt.date, tl: Volume, d: dt.date) -> Registration:
        return register(
            base[0],
            tl,
            kind="rigid" if across_sessions == "rigid" else "affine",
            preset="longitudinal",
            fixed_mask=base[1],
            labels=(f"{base_date}/T1c", f"{d}/T1c"),
        )

    def early_onto_baseline(tp: Timepoint) -> Registration | None:
        first = with_images[0].date
        base, tl = references[first].result(), references[tp.date].result()
        if base is None or tl is None:
            return None
        return onto_baseline(base, first, tl[0], tp.date)

    # Timepoints are analysed side by side (each from its own images; registration, N4 and the filters
    # release the GIL); their results and failures are taken in timepoint order, as one after the other.
    # A user's model is called from one thread only (it need not be thread-safe).
    # (``case_threads()``: 2 by default, 1 on a cohort worker; each thread holds its timepoint's series in memory)
    threads = case_threads() if segmenter is None else 1
    early: dict[dt.date, Future[Registration | None]] = {}
    with (
        ThreadPoolExecutor(max_workers=max(1, min(threads, len(with_images)))) as pool,
        # Each later timepoint is registered onto the baseline while the timepoints' analyses go on (their
        # within-session registrations, segmentation and measurement), not after them.
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="onto-baseline") as beside,
    ):
        futures = []
        for tp in with_images:
            say(f"lesions: timepoint {tp.date}")
            futures.append((tp, pool.submit(one, tp)))
        if threads > 1:
            early = {tp.date: beside.submit(early_onto_baseline, tp) for tp in with_images[1:]}
        for tp, future in futures:
            try:
                done[tp.date] = future.result()
            except CannotAssessError as exc:
                skipped.append((tp.date, exc.reason))
            except InputError:
                raise
            except (ValueError, RuntimeError) as exc:  # RuntimeError: SimpleITK; ValueError: unusable image
                why = redact(str(exc))  # a library's error text may quote a header value (pseudoprog.privacy)
                skipped.append((tp.date, f"lesion analysis failed on this timepoint's images: {why}"))
    events: list[TrackEvent] = []
    if done:
        dates = sorted(done)
        base = done[dates[0]]
        base.to_baseline = identity(f"{dates[0]}/T1c", f"{dates[0]}/T1c")
        for d in dates[1:]:
            tl = done[d]
            try:
                # made beside the analyses when the first timepoint is the baseline, else here
                made = early[d].result() if d in early and dates[0] == with_images[0].date else None
                if made is None:
                    made = onto_baseline((base.reference, base.brain), dates[0], tl.reference, d)
                tl.to_baseline = made
                if not tl.to_baseline.accepted:
                    tl.notes.append(f"T1c onto the baseline T1c: {tl.to_baseline.reason}")
            except (ValueError, CannotAssessError) as exc:
                why = exc.reason if isinstance(exc, CannotAssessError) else redact(str(exc))
                tl.to_baseline = identity(f"{dates[0]}/T1c", f"{d}/T1c")
                tl.notes.append(
                    f"registration onto the baseline failed ({why}); lesions are matched in scanner "
                    "coordinates, which assumes the head did not move"
                )
        tracker = _track(case, done, base)
        # A lesion automatic detection calls new is looked for on the scans before it; found there, the case is
        # tracked again with it (its track then starts where it was first seen).
        if _look_back(case, done, base, tracker):
            tracker = _track(case, done, base)
        events = tracker.events
        for d in dates:
            tl = done[d]
            tl.acquired, tl.clicks = None, {}  # only the searches needed them; a cohort worker holds many cases
            tl.notes = list(dict.fromkeys(tl.notes))  # a second tracking repeats the follow-ups' searches' notes
            if tl.refused is None:
                continue
            if not tl.lesions:
                del done[d]
                skipped.append((d, tl.refused))
            else:
                tl.notes.insert(0, refusal_warning(tl.refused))
    dose_note = None
    try:
        dose, ref_gy, dose_note = _dose_for_case(case)
    except InputError as exc:
        dose, ref_gy, dose_note = None, None, str(exc)
    if dose is not None and ref_gy is not None and done:
        dose_note = _place_against_dose(case, done, dose, ref_gy)
    return CaseLesions(done, events, skipped, dose_note)


def _place_against_dose(case: Case, done: dict[dt.date, TimepointLesions], dose: DoseGrid, ref_gy: float) -> str:
    """Classify each lesion against the dose; the dose is in the world of the scan sharing its frame of reference."""
    dates = sorted(done)
    home = None
    for tp in case.timepoints:
        if tp.date in done:
            t1c = tp.reference_t1c()
            if (
                t1c is not None
                and dose.frame_of_reference_uid
                and t1c.frame_of_reference_uid == dose.frame_of_reference_uid
            ):
                home = tp.date
                break
    note = f"dose levels relative to {ref_gy:.1f} Gy"
    if home is None:
        home = dates[0]
        note += (
            f"; no scan shares the RTDOSE frame of reference: the dose is taken in the world space of the {home} "
            "scan (fusion not verified)"
        )
    home_reg = done[home].to_baseline
    assert home_reg is not None
    for d in dates:
        tl = done[d]
        assert tl.to_baseline is not None
        # lesion world (d) → baseline world → home world
        to_home = home_reg.fixed_to_moving @ tl.to_baseline.moving_to_fixed
        for les in tl.lesions:
            if les.enhancing.any():
                tl.locations[les.lesion_id] = classify_location(
                    les.enhancing,
                    tl.reference.affine,
                    dose.dose,
                    reference_gy=ref_gy,
                    lesion_world_to_dose_world=to_home,
                )
    return note


__all__ = [
    "CaseLesions",
    "LesionSeed",
    "TimepointLesions",
    "analyse_case",
    "analyse_timepoint",
    "measure_timepoint",
]
