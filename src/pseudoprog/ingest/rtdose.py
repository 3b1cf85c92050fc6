"""Read a DICOM RTDOSE (file, or a folder holding one) as a dose volume in Gy with a RAS affine.

Dose in Gy = stored values × DoseGridScaling; the frames are placed along the slice normal by
GridFrameOffsetVector (relative or absolute offsets, as the standard allows).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..align.itk import LPS_FROM_RAS
from ..case import Volume
from ..errors import InputError
from .dicom import read_dataset

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
            ds = read_dataset(f, stop_before_pixels=True)
        except Exception:  # not DICOM: skip
            continue
        if str(getattr(ds, "SOPClassUID", "")) == RTDOSE_SOP_CLASS:
            return f
    raise InputError("holds no DICOM RTDOSE object", file=path, expected="an RTDOSE file or a folder with one")


def read_rtdose(path: str | Path) -> DoseGrid:
    """Read a DICOM RTDOSE (file, or folder holding one) as a dose volume in Gy with a RAS affine."""
    path = _find_rtdose(Path(path))
    ds = read_dataset(path)
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
