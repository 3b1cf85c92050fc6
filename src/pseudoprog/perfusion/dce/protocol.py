"""DCE acquisition checks: departures from the recommended protocol (clinical_rules.md §4.6), unfittable series."""

from __future__ import annotations

import numpy as np

from ...errors import InputError
from ..tables import load_table


def protocol_warnings(*, tr_ms: float | None, flip_angle_deg: float | None, duration_s: float | None) -> list[str]:
    """Departures of a DCE acquisition from the recommended protocol (warnings, not errors)."""
    p = load_table("dce_constants")["protocol"]
    out = []
    lo, hi = p["repetition_time_ms"]
    if tr_ms is not None and not lo <= tr_ms <= hi:
        out.append(f"DCE TR {tr_ms:g} ms is outside the recommended {lo:g}–{hi:g} ms ({p['source']})")
    if flip_angle_deg is not None and abs(flip_angle_deg - p["flip_angle_deg"]) > 10:
        out.append(f"DCE flip angle {flip_angle_deg:g}° differs from the recommended {p['flip_angle_deg']:g}°")
    if duration_s is not None and duration_s < p["min_duration_s"]:
        out.append(
            f"DCE acquisition lasts {duration_s:.0f} s, shorter than the recommended {p['min_duration_s']:.0f} s: "
            "Ktrans and ve are less reliable"
        )
    return out


def validate_dynamic(data: np.ndarray, t_s: np.ndarray | None, *, file: str | None = None) -> None:
    """Refuse a dynamic series that cannot be fitted, naming the file and what is wrong."""
    if data.ndim != 4:
        raise InputError(f"a DCE series must be 4D (x, y, z, time), got shape {data.shape}", file=file)
    if t_s is None:
        raise InputError(
            "the DCE series has no frame times",
            file=file,
            field="frame times",
            expected="TriggerTime/AcquisitionTime in DICOM or FrameTimesStart/RepetitionTime in JSON",
        )
    if data.shape[-1] < 10:
        raise InputError(f"the DCE series has only {data.shape[-1]} frames", file=file, expected="≥ 10 dynamics")
    if not np.all(np.isfinite(data)):
        raise InputError("the DCE series contains NaN or infinite values", file=file, expected="finite signal")
