"""Location of a lesion against the radiation dose: inside the 80 % isodose, marginal, or outside.

The RTDOSE grid is read with pydicom (dose in Gy = stored values × DoseGridScaling) and carried
onto the lesion's grid through the world space (and, across visits, the registration onto the
baseline). Isodose levels are percentages of the reference dose: the prescribed dose, or for a
radiosurgery plan prescribed to the X % isodose line the maximum (prescription / X %), so the
SRS "80 % isodose" is the prescription line itself. Categories (``data/radiation_field.yaml``,
clinical_rules.md §3.4): in field when ≥ 80 % of the lesion lies inside the 80 % isodose; out of
field when ≤ 20 % reaches the 50 % isodose; otherwise marginal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from scipy import ndimage

from ..align.itk import LPS_FROM_RAS
from ..case import LocationVsRT, Volume
from ..errors import InputError
from .rules import value

RTDOSE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.2"


@dataclass(frozen=True, eq=False)
class DoseGrid:
    dose: Volume  # Gy on the dose grid, RAS affine
    frame_of_reference_uid: str | None
    path: Path


def _find_rtdose(path: Path) -> Path:
    if path.is_file():
        return path
    for f in sorted(path.rglob("*")):
        if not f.is_file():
            continue
        try:
            ds = pydicom.dcmread(str(f), stop_before_pixels=True)
        except Exception:  # not DICOM: skip
            continue
        if str(getattr(ds, "SOPClassUID", "")) == RTDOSE_SOP_CLASS:
            return f
    raise InputError("holds no DICOM RTDOSE object", file=path, expected="an RTDOSE file or a folder with one")


def read_rtdose(path: str | Path) -> DoseGrid:
    """Read a DICOM RTDOSE (file, or folder holding one) as a dose volume in Gy with a RAS affine."""
    path = _find_rtdose(Path(path))
    ds = pydicom.dcmread(str(path))
    if str(getattr(ds, "SOPClassUID", "")) != RTDOSE_SOP_CLASS:
        raise InputError("is not a DICOM RTDOSE object", file=path)
    units = str(getattr(ds, "DoseUnits", "")).upper()
    if units != "GY":
        raise InputError(f"DoseUnits is {units or 'missing'}", file=path, expected="GY (absolute dose)")
    for tag in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "DoseGridScaling"):
        if tag not in ds:
            raise InputError(f"has no {tag}", file=path, expected="a dose grid with its geometry")
    arr = ds.pixel_array.astype(np.float64) * float(ds.DoseGridScaling)
    if arr.ndim == 2:
        arr = arr[None]
    n_frames = arr.shape[0]
    offsets = np.asarray(getattr(ds, "GridFrameOffsetVector", [0.0]), dtype=float)
    if len(offsets) != n_frames:
        raise InputError(
            f"GridFrameOffsetVector has {len(offsets)} entries for {n_frames} frames",
            file=path,
            field="GridFrameOffsetVector",
        )
    ipp = np.asarray(ds.ImagePositionPatient, dtype=float)
    iop = np.asarray(ds.ImageOrientationPatient, dtype=float)
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    if offsets[0] != 0.0:  # absolute positions along the normal (allowed by the standard): make relative
        offsets = offsets - float(ipp @ normal)
    dz = float(offsets[1] - offsets[0]) if n_frames > 1 else float(ds.get("SliceThickness", 1.0) or 1.0)
    if n_frames > 2 and not np.allclose(np.diff(offsets), dz, atol=1e-3):
        raise InputError("dose frames are not evenly spaced", file=path, field="GridFrameOffsetVector")
    dr, dc = (float(v) for v in ds.PixelSpacing)  # row spacing (between rows), column spacing
    lps = np.eye(4)
    lps[:3, 0] = row * dc  # array index i runs along a row (columns)
    lps[:3, 1] = col * dr
    lps[:3, 2] = normal * dz
    lps[:3, 3] = ipp + normal * offsets[0]
    data = np.transpose(arr, (2, 1, 0))
    if not np.isfinite(data).all() or data.min() < 0:
        raise InputError("dose grid has negative or non-finite values", file=path)
    return DoseGrid(
        Volume(data=data.astype(np.float32), affine=LPS_FROM_RAS @ lps), ds.get("FrameOfReferenceUID"), path
    )


def reference_dose_gy(prescription_gy: float, isodose_percent: float | None) -> float:
    """The 100 % level: the prescription, or for a plan prescribed to the X % isodose the maximum."""
    if prescription_gy <= 0:
        raise ValueError("prescription dose must be > 0 Gy")
    if isodose_percent is None:
        return prescription_gy
    if not 0 < isodose_percent <= 100:
        raise ValueError("isodose_percent must be in (0, 100]")
    return prescription_gy / (isodose_percent / 100.0)


@dataclass(frozen=True)
class FieldLocation:
    location: LocationVsRT
    fraction_in_high: float  # fraction of the lesion volume at ≥ 80 % of the reference dose
    fraction_in_marginal: float  # at ≥ 50 % of the reference dose
    reference_dose_gy: float
    reason: str


def classify_location(
    lesion: np.ndarray,
    lesion_affine: np.ndarray,
    dose: Volume,
    *,
    reference_gy: float,
    lesion_world_to_dose_world: np.ndarray | None = None,
) -> FieldLocation:
    """Where a lesion (boolean mask) lies against a dose distribution.

    ``lesion_world_to_dose_world`` maps the lesion grid's world to the dose's world (identity when
    both are in the same frame of reference).
    """
    lesion = np.asarray(lesion, dtype=bool)
    if not lesion.any():
        raise ValueError("lesion mask is empty: cannot place it against the dose")
    if reference_gy <= 0:
        raise ValueError("reference_gy must be > 0")
    t = np.eye(4) if lesion_world_to_dose_world is None else lesion_world_to_dose_world
    m = np.linalg.inv(dose.affine) @ t @ lesion_affine
    idx = np.argwhere(lesion).T.astype(float)
    coords = m[:3, :3] @ idx + m[:3, 3:4]
    d = ndimage.map_coordinates(np.asarray(dose.data, dtype=np.float32), coords, order=1, mode="constant", cval=np.nan)
    outside_grid = float(np.mean(np.isnan(d)))
    d = np.nan_to_num(d, nan=0.0)
    hi_level = value("radiation_field", "high_dose_isodose_percent") / 100.0
    lo_level = value("radiation_field", "marginal_isodose_percent") / 100.0
    f_hi = float(np.mean(d >= hi_level * reference_gy))
    f_lo = float(np.mean(d >= lo_level * reference_gy))
    if f_hi >= value("radiation_field", "in_field_min_fraction"):
        loc = LocationVsRT.IN_FIELD
    elif f_lo <= value("radiation_field", "out_of_field_max_fraction"):
        loc = LocationVsRT.OUT_OF_FIELD
    else:
        loc = LocationVsRT.MARGINAL
    reason = (
        f"{100 * f_hi:.0f} % of the lesion at ≥ {100 * hi_level:.0f} % and {100 * f_lo:.0f} % at ≥ "
        f"{100 * lo_level:.0f} % of {reference_gy:.1f} Gy"
    )
    if outside_grid > 0:
        reason += f"; {100 * outside_grid:.0f} % of the lesion lies outside the dose grid (taken as 0 Gy)"
    return FieldLocation(loc, f_hi, f_lo, reference_gy, reason)
