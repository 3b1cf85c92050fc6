"""Checks of a DSC acquisition against the consensus protocol (clinical_rules.md §4.5-4.6), as warnings.

Every rule and its source live in ``data/dsc_protocol.yaml``. A check that cannot be made because
the header lacks the field says so rather than passing silently.
"""

from __future__ import annotations

import numpy as np

from ...case import AcquisitionParams
from ..tables import dsc_protocol

_PRELOAD_KEYS = ("ContrastPreloadGiven", "PreloadGiven", "Preload")


def preload_recorded(params: AcquisitionParams) -> bool | None:
    """Whether a preload bolus was given, if the sidecar says (``ContrastPreloadGiven``); ``None`` if unknown."""
    for key in _PRELOAD_KEYS:
        value = params.extra.get(key) if params.extra else None
        if isinstance(value, bool):
            return value
    return None


def _outside(value: float, bounds: list[float] | tuple[float, float]) -> bool:
    return not (float(bounds[0]) - 1e-3 <= value <= float(bounds[1]) + 1e-3)


def check_dsc_protocol(
    params: AcquisitionParams,
    *,
    baseline_frames: int | None,
    frame_times_s: np.ndarray | None,
    spacing_mm: tuple[float, float, float] | None,
    leakage_method: str,
) -> list[str]:
    """Warnings for a DSC series whose acquisition departs from the consensus protocol."""
    rules = dsc_protocol()
    out: list[str] = []
    field = params.field_strength_t
    te = params.echo_times_ms[-1] if params.echo_times_ms else params.echo_time_ms
    if te is None:
        out.append("DSC: echo time not recorded in the header; cannot check it against the consensus")
    elif field is None or not any(abs(field - float(f)) < 0.25 for f in rules["echo_time_ms"]):
        out.append(f"DSC: field strength {field} T not 1.5 or 3 T; TE {te:g} ms not checked against the consensus")
    else:
        key = min(rules["echo_time_ms"], key=lambda f: abs(float(f) - field))
        ranges = rules["echo_time_ms"][key]
        if _outside(te, ranges["consensus"]):
            out.append(
                f"DSC: TE {te:g} ms is outside the consensus {ranges['consensus'][0]}–{ranges['consensus'][1]} ms at "
                f"{key} T (Boxerman et al., Neuro-Oncol 2020)"
            )
        elif _outside(te, ranges["seed"]):
            out.append(
                f"DSC: TE {te:g} ms is outside {ranges['seed'][0]}–{ranges['seed'][1]} ms recommended at {key} T "
                "(Thust et al., Eur Radiol 2018)"
            )
    tr = params.repetition_time_ms
    if tr is None:
        out.append("DSC: repetition time not recorded; cannot check it")
    elif tr > float(rules["repetition_time_ms_max"]):
        out.append(f"DSC: TR {tr:g} ms is longer than {rules['repetition_time_ms_max']} ms (Thust et al. 2018)")
    preload = preload_recorded(params)
    fa = params.flip_angle_deg
    if preload is None:
        out.append("DSC: whether a preload bolus was given is not recorded; the flip-angle rule is only partly checked")
    if fa is None:
        out.append("DSC: flip angle not recorded; cannot check it")
    else:
        if preload is True and _outside(fa, rules["flip_angle_deg"]["with_preload"]):
            lo, hi = rules["flip_angle_deg"]["with_preload"]
            out.append(f"DSC: flip angle {fa:g}° with preload is outside {lo}–{hi}° (Boxerman et al. 2020 option 1)")
        if preload is False and fa >= 60:
            out.append(
                f"DSC: flip angle {fa:g}° without a preload bolus gives strong T1 leakage effects (Boxerman et al. "
                f"2020 recommend ~30° for single dose); leakage correction applied: {leakage_method}"
                + (" — none, so rCBV in enhancing tissue is biased" if leakage_method == "none" else "")
            )
        elif preload is False and _outside(fa, rules["flip_angle_deg"]["without_preload"]):
            lo, hi = rules["flip_angle_deg"]["without_preload"]
            out.append(f"DSC: flip angle {fa:g}° without preload is outside {lo}–{hi}° (Boxerman et al. 2020 option 2)")
    if baseline_frames is not None and baseline_frames < int(rules["baseline_frames_min"]):
        out.append(
            f"DSC: only {baseline_frames} pre-bolus baseline frames (need ≥ {rules['baseline_frames_min']}, Thust et "
            "al. 2018): S0 is noisy and rCBV less reliable"
        )
    if frame_times_s is not None and len(frame_times_s) > 1:
        times = np.asarray(frame_times_s, dtype=np.float64)
        duration = float(times[-1] - times[0] + np.median(np.diff(times)))
        dt = float(np.median(np.diff(times)))
        if duration < float(rules["duration_s_min"]):
            out.append(f"DSC: acquisition lasts {duration:.0f} s (< {rules['duration_s_min']} s recommended)")
        if dt > float(rules["temporal_resolution_s_max"]) + 1e-6:
            out.append(
                f"DSC: temporal resolution {dt:.2f} s is coarser than {rules['temporal_resolution_s_max']} s: the "
                "first pass is undersampled and CBF underestimated"
            )
    if spacing_mm is not None:
        thick = params.slice_thickness_mm or spacing_mm[2]
        if _outside(float(thick), rules["slice_thickness_mm"]):
            lo, hi = rules["slice_thickness_mm"]
            out.append(f"DSC: slice thickness {float(thick):.1f} mm outside {lo}–{hi} mm (Thust et al. 2018)")
        inplane = max(spacing_mm[0], spacing_mm[1])
        if _outside(inplane, rules["in_plane_mm"]):
            lo, hi = rules["in_plane_mm"]
            out.append(f"DSC: in-plane resolution {inplane:.1f} mm outside {lo}–{hi} mm (Thust et al. 2018)")
    return out
