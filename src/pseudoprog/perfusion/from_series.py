"""Maps from typed series: load the images a map needs, check them, compute, and write NIfTI + parameter JSON.

Used by the pipeline's map slots and by ``pseudoprog maps dce|asl|tram``. Every map stays on the grid of the series
it came from (the input's space); lesion masks are carried to that grid by :func:`lesion_values`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..align.brainmask import bright_signal_mask
from ..align.registration import Registration
from ..align.resample import resample_mask, resample_to_grid
from ..case import LesionMask, Series, SeriesKind, Volume
from ..errors import CannotAssessError, InputError
from ..files import write_json, write_nifti
from ..ingest import load_series
from . import asl as asl_mod
from . import dce as dce_mod
from . import tram as tram_mod
from .dce.constants import generic_agent
from .dce.t1mapping import fit_vfa_t1
from .tables import load_table


@dataclass
class MapSet:
    """Maps of one kind computed from one series, on that series' grid."""

    kind: str  # "dce" | "asl" | "adc" | "tram"
    maps: dict[str, np.ndarray]
    units: dict[str, str]
    affine: np.ndarray
    series_uid: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def write_map_set(ms: MapSet, out_dir: Path, *, prefix: str = "") -> list[tuple[str, Path, str]]:
    """Write every map as ``<prefix><kind>_<name>.nii.gz`` and the parameters as ``<prefix><kind>_parameters.json``.

    Returns ``(name, path, unit)`` per map, the parameter file last (unit ``"json"``).
    """
    written = []
    for name, arr in ms.maps.items():
        path = out_dir / f"{prefix}{ms.kind}_{name}.nii.gz"
        write_nifti(path, arr, ms.affine, description=f"pseudoprog {ms.kind} {name} [{ms.units.get(name, '')}]")
        written.append((name, path, ms.units.get(name, "")))
    params = {"kind": ms.kind, "series_uid": ms.series_uid, "units": ms.units, "warnings": ms.warnings, **ms.parameters}
    path = out_dir / f"{prefix}{ms.kind}_parameters.json"
    write_json(path, params)
    written.append(("parameters", path, "json"))
    return written


def lesion_values(map_: np.ndarray, affine: np.ndarray, mask: LesionMask) -> np.ndarray:
    """Finite values of a map inside a lesion's enhancing mask carried to the map's grid."""
    on_grid = resample_mask(mask.enhancing, mask.affine, affine, map_.shape[:3])
    vals = map_[on_grid]
    return vals[np.isfinite(vals)]


def _name(series: Series) -> str:
    return str(series.files[0].parent if series.source_format == "dicom" else series.files[0])


def _require(value: float | None, series: Series, field_name: str, expected: str) -> float:
    if value is None:
        raise InputError(f"{field_name} is not recorded", file=_name(series), field=field_name, expected=expected)
    return float(value)


# ---------------------------------------------------------------------------------------------
# DCE
# ---------------------------------------------------------------------------------------------


def native_t1_from_vfa(vfa: Sequence[Series], target: Volume) -> tuple[np.ndarray, dict[str, Any]]:
    """Native T1 (s) on ``target``'s grid from VFA series: one 4D multi-flip-angle series or several 3D ones.

    3D series are grouped by geometry (shape and affine); the group with the most distinct flip angles is used.
    """
    stacks: dict[tuple, list[tuple[float, Volume, Series]]] = {}
    for s in vfa:
        vol, _ = load_series(s)
        if vol.data.ndim == 4:
            series_angles = s.params.flip_angles_deg
            if len(series_angles) != vol.data.shape[3]:
                raise InputError(
                    "a 4D VFA series needs one flip angle per volume",
                    file=_name(s),
                    field="FlipAngle",
                    expected=f"{vol.data.shape[3]} flip angles",
                )
            for i, a in enumerate(series_angles):
                key = (vol.data.shape[:3], tuple(np.round(vol.affine, 3).ravel()))
                stacks.setdefault(key, []).append((float(a), Volume(vol.data[..., i], vol.affine), s))
            continue
        fa = _require(s.params.flip_angle_deg, s, "FlipAngle", "the flip angle of each VFA series")
        key = (vol.data.shape, tuple(np.round(vol.affine, 3).ravel()))
        stacks.setdefault(key, []).append((fa, vol, s))
    if not stacks:
        raise CannotAssessError("no VFA series for native T1")
    best = max(stacks.values(), key=lambda g: len({a for a, _, _ in g}))
    angles = sorted({a for a, _, _ in best})
    if len(angles) < 2:
        raise CannotAssessError(
            "the VFA series have fewer than two distinct flip angles on one grid: native T1 cannot be mapped"
        )
    by_angle = {a: [v for aa, v, _ in best if aa == a] for a in angles}
    data = np.stack([np.mean([v.data for v in by_angle[a]], axis=0) for a in angles], axis=-1)
    first = best[0][2]
    tr_ms = _require(first.params.repetition_time_ms, first, "RepetitionTime", "TR of the VFA series")
    brightest = data.max(axis=-1)
    # background is not fitted: the DCE tissue threshold (dce_constants.yaml) [DERIVED, as for DCE]
    head = bright_signal_mask(brightest, fraction=load_table("dce_constants")["tissue_threshold_fraction_of_p90"])
    fit = fit_vfa_t1(data, flip_angles_deg=np.array(angles), tr_s=tr_ms / 1000.0, mask=head)
    aff = best[0][1].affine
    t1 = fit.t1_s
    same_grid = t1.shape == target.spatial_shape and np.allclose(aff, target.affine, atol=1e-3)
    if not same_grid:
        t1 = resample_to_grid(np.nan_to_num(t1, nan=0.0), aff, target.affine, target.spatial_shape, order=1)
        t1 = np.where(t1 > 0, t1, np.nan)
    return t1, {
        "vfa_flip_angles_deg": angles,
        "vfa_repetition_time_ms": tr_ms,
        "vfa_series": sorted({s.uid for _, _, s in best}),
        "vfa_failed_voxels": int((fit.failed & head).sum()),
        "vfa_resampled_to_dce_grid": not same_grid,
        "t1_method": "VFA (DESPOT1 linear start + Levenberg-Marquardt)",
    }


def dce_from_series(
    dce: Series,
    vfa: Sequence[Series],
    *,
    aif_mask: np.ndarray | None = None,
    aif: Literal["auto", "population"] = "auto",
    model: dce_mod.Model = "extended_tofts",
    t10_s: float | None = None,
    contrast_agent: str | None = None,
    field_strength_t: float | None = None,
) -> MapSet:
    """DCE maps of one dynamic series, with native T1 from the VFA series (or one given T10).

    ``contrast_agent`` and ``field_strength_t`` are what the user states (case.yaml or the command line): they
    decide the relaxivity over the series' own header, which is often empty or free text typed at the console;
    a disagreement with the header is a warning.
    """
    vol, load_warnings = load_series(dce)
    name = _name(dce)
    dce_mod.validate_dynamic(vol.data, vol.frame_times_s, file=name)
    assert vol.frame_times_s is not None
    flip = _require(dce.params.flip_angle_deg, dce, "FlipAngle", "the flip angle of the dynamic series")
    tr_ms = _require(dce.params.repetition_time_ms, dce, "RepetitionTime", "TR of the dynamic series")
    warnings = list(load_warnings)
    warnings += dce_mod.protocol_warnings(tr_ms=tr_ms, flip_angle_deg=flip, duration_s=float(vol.frame_times_s[-1]))
    t1_params: dict[str, Any]
    if vfa:
        t10: np.ndarray | float
        t10, t1_params = native_t1_from_vfa(vfa, vol)
        t1_params["vfa_series"] = [s.description for s in vfa]
        warnings += [
            f"{s.description}: {s.classification_reason.split(' — ', 1)[1]}"
            for s in vfa
            if "different StudyInstanceUIDs" in (s.classification_reason or "")
        ]
    elif t10_s is not None:
        t10, t1_params = float(t10_s), {"t1_method": f"one value given: {t10_s} s"}
        warnings.append(f"no VFA series: native T1 taken as {t10_s} s everywhere (Ktrans is approximate)")
    else:
        raise CannotAssessError(
            "no variable-flip-angle (VFA) series for native T1: Ktrans, ve and vp need T1 before contrast "
            "(clinical_rules.md §4.6); give --t10-ms to assume one value"
        )
    header_agent = dce.params.contrast_agent
    extra_agent = dce.params.extra.get("ContrastBolusAgent") if dce.params.extra else None
    if extra_agent:
        header_agent = str(extra_agent)
    agent = header_agent
    if contrast_agent:
        agent = contrast_agent
        stated = generic_agent(contrast_agent)
        same = stated is not None and stated == generic_agent(header_agent)
        if header_agent and not same and contrast_agent.strip().lower() != header_agent.strip().lower():
            warnings.append(
                f"contrast agent: {contrast_agent!r} as stated is used; the series header says {header_agent!r}"
            )
    field = dce.params.field_strength_t
    if field_strength_t is not None:
        if field is not None and abs(field - field_strength_t) > 0.2:
            warnings.append(f"field strength: {field_strength_t:g} T as stated is used; the header says {field:g} T")
        field = field_strength_t
    if aif_mask is not None and aif_mask.shape != vol.spatial_shape:
        raise InputError(
            f"AIF mask shape {aif_mask.shape} does not match the DCE grid {vol.spatial_shape}", field="aif mask"
        )
    res = dce_mod.compute_dce_maps(
        vol.data,
        vol.frame_times_s,
        flip_angle_deg=flip,
        tr_s=tr_ms / 1000.0,
        t10_s=t10,
        field_strength_t=field,
        contrast_agent=agent,
        aif=aif_mask if aif_mask is not None else aif,
        model=model,
        file=name,
    )
    maps = res.maps()
    if res.aif_mask is not None:
        maps["aif_mask"] = res.aif_mask.astype(np.uint8)
    units = {k: dce_mod.MAP_UNITS.get(k, "") for k in maps}
    units["aif_mask"] = "mask"
    return MapSet(
        "dce", maps, units, vol.affine, dce.uid, {**res.parameters, **t1_params}, warnings + list(res.warnings)
    )


# ---------------------------------------------------------------------------------------------
# ASL
# ---------------------------------------------------------------------------------------------


def asl_from_series(asl: Series, m0: Sequence[Series], *, assume_pcasl: bool = False) -> MapSet:
    """CBF of a single-PLD ASL series with a separate M0 series on the same grid (or M0 volumes in the series)."""
    vol, warnings = load_series(asl)
    name = _name(asl)
    meta = dict(asl.params.extra or {})
    if not meta.get("ArterialSpinLabelingType") and assume_pcasl:
        meta["ArterialSpinLabelingType"] = "PCASL"
        warnings.append("ASL labelling type not recorded: pCASL assumed (the white paper's default implementation)")
    m0_data, m0_tr = None, None
    for s in m0:
        mv, _ = load_series(s)
        if mv.spatial_shape == vol.spatial_shape and np.allclose(mv.affine, vol.affine, atol=1e-3):
            m0_data = mv.data
            m0_tr = s.params.repetition_time_ms / 1000.0 if s.params.repetition_time_ms else None
            break
    if m0 and m0_data is None:
        warnings.append("an M0 series exists but not on the ASL grid; it was not used")
    context = asl_mod.read_asl_context(asl.files[0]) if asl.source_format == "nifti" else None
    res = asl_mod.compute_asl_cbf(
        vol.data,
        m0=m0_data,
        metadata=meta,
        field_strength_t=asl.params.field_strength_t,
        context=context,
        m0_tr_s=m0_tr,
        file=name,
    )
    maps = {"cbf": res.cbf_ml_100g_min, "delta_m": res.delta_m, "m0": res.m0}
    units = {"cbf": "ml/100g/min", "delta_m": "a.u.", "m0": "a.u."}
    return MapSet("asl", maps, units, vol.affine, asl.uid, res.parameters, warnings + list(res.warnings))


# ---------------------------------------------------------------------------------------------
# TRAM
# ---------------------------------------------------------------------------------------------


def tram_from_series(early: Series, delayed: Series, *, t1c_transform: Registration | None = None) -> MapSet:
    """TRAM of an early and a delayed post-contrast T1, on the early image's grid.

    ``t1c_transform`` (delayed → early, from the lesions stage) is reused when given instead of registering again.
    """
    e, w1 = load_series(early)
    d, w2 = load_series(delayed)

    def when(s: Series) -> str | None:
        extra = s.params.extra or {}
        return extra.get("AcquisitionTime") or extra.get("SeriesTime")

    delay = tram_mod.delay_minutes(when(early), when(delayed))
    res = tram_mod.compute_tram(e, d, delay_min=delay, t1c_transform=t1c_transform)
    maps = {"difference": res.difference, "class": res.classes, "delayed_registered": res.delayed_registered}
    units = {
        "difference": "early T1c signal units",
        "class": "-1 clearance, 0 none, +1 accumulation",
        "delayed_registered": "early T1c signal units",
    }
    params = {**res.parameters, "early_series": early.uid, "delayed_series": delayed.uid}
    return MapSet("tram", maps, units, e.affine, delayed.uid, params, w1 + w2 + list(res.warnings))


# ---------------------------------------------------------------------------------------------
# Command-line inputs
# ---------------------------------------------------------------------------------------------


# Kinds a lone flip angle of a VFA acquisition is classified as (ingest/vfa.py groups them within one study).
_VFA_MEMBER_KINDS = (SeriesKind.T1, SeriesKind.OTHER)
_VFA_MAX_TR_MS = 100.0


def vfa_sets_across_studies(series: Sequence[Series], dynamic: Series) -> tuple[list[Series], list[str]]:
    """VFA sets of single-flip-angle series that ingest kept apart only because each has its own StudyInstanceUID.

    Some generators and exports (the QIBA DCE DRO v4: one study per flip angle) give every series its own study. In
    the folder of one session, series beside the dynamic one that share its grid, TR and TE, carry no contrast and
    differ only in flip angle are still one VFA set; ingest's own rule (grid, TR, TE, study) decides the rest. The
    set is returned with a warning saying the studies differ.
    """
    from dataclasses import replace

    from ..ingest import vfa as vfa_mod

    candidates = [
        s
        for s in series
        if s.kind in _VFA_MEMBER_KINDS
        and s.n_frames == 1
        and s.params.flip_angle_deg is not None
        and not s.params.flip_angles_deg
        and s.params.repetition_time_ms is not None
        and s.params.repetition_time_ms <= _VFA_MAX_TR_MS
        and not s.params.contrast_agent
        and s.shape[:3] == dynamic.shape[:3]
    ]
    if len({s.params.flip_angle_deg for s in candidates}) < 2:
        return [], []
    affines = {s.uid: load_series(s)[0].affine for s in candidates}  # single images: cheap
    same_study = [replace(s, study_instance_uid=dynamic.study_instance_uid) for s in candidates]
    grouped, warnings = vfa_mod.group_vfa_sets(same_study, affines)
    note = (
        " — assembled although the series carry different StudyInstanceUIDs (same folder as the dynamic series, "
        "same grid, TR and TE, no contrast)"
    )
    sets = [replace(s, classification_reason=s.classification_reason + note) for s in grouped if vfa_mod.is_vfa_set(s)]
    warnings += [f"{v.description}{note}" for v in sets]
    return sets, warnings


def series_for_input(path: Path, kind: SeriesKind, *companions: SeriesKind) -> tuple[Series, dict[SeriesKind, list]]:
    """The series a ``pseudoprog maps`` command works on, and companion series found beside it.

    ``path`` is a DICOM folder (the series of ``kind`` in it is used) or a NIfTI file with its JSON sidecar (taken as
    ``kind`` whatever its name says). Companions (VFA for DCE, M0 for ASL, the delayed T1c for TRAM) are looked for in
    the same folder.
    """
    from ..ingest import scan_images
    from ..ingest.series import with_kind

    path = Path(path)
    if not path.exists():
        raise InputError("input does not exist", file=path)
    folder = path if path.is_dir() else path.parent
    scan = scan_images(folder)
    if path.is_dir():
        chosen = [s for s in scan.series if s.kind is kind]
        if not chosen:
            found = ", ".join(sorted({s.kind.value for s in scan.series})) or "none"
            raise InputError(
                f"no {kind.value} series found (found: {found})",
                file=path,
                expected=f"a folder holding a {kind.value} series, or the NIfTI file itself",
            )
        main = chosen[0]
    else:
        match = [s for s in scan.series if any(Path(f).resolve() == path.resolve() for f in s.files)]
        if not match:
            raise InputError("not a readable image (NIfTI with JSON sidecar, or DICOM)", file=path)
        main = match[0] if match[0].kind is kind else with_kind(match[0], kind, "given on the command line")
    others = {k: [s for s in scan.series if s.kind is k and s.uid != main.uid] for k in companions}
    if SeriesKind.VFA_T1 in others and not others[SeriesKind.VFA_T1]:
        others[SeriesKind.VFA_T1] = vfa_sets_across_studies(scan.series, main)[0]
    return main, others


def load_mask_on(mask_path: Path, series: Series) -> np.ndarray:
    """A NIfTI mask carried to a series' grid (through the two affines: same session, same scanner space)."""
    from ..ingest.nifti import load_nifti

    mask_vol, _ = load_nifti(Path(mask_path))
    if mask_vol.data.ndim != 3:
        raise InputError("the mask must be a 3D image", file=mask_path)
    target, _ = load_series(series)
    on = resample_mask(mask_vol.data > 0, mask_vol.affine, target.affine, target.spatial_shape)
    if not on.any():
        raise InputError("the mask does not overlap the series' grid", file=mask_path)
    return on
