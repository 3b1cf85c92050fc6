"""NIfTI with BIDS-style JSON sidecars, read through nibabel.

BIDS stores times in seconds (EchoTime 0.03); the domain stores them in ms with the unit in the
field name, so the conversion happens here and only here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from ..case import AcquisitionParams, Volume
from ..errors import InputError

NIFTI_SUFFIXES = (".nii.gz", ".nii")


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def stem(path: Path) -> str:
    name = path.name
    for suffix in NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def sidecar_path(path: Path) -> Path:
    return path.with_name(stem(path) + ".json")


def read_sidecar(path: Path) -> dict[str, Any]:
    """The BIDS JSON sidecar of a NIfTI file, ``{}`` if there is none."""
    side = sidecar_path(path)
    if not side.exists():
        return {}
    try:
        data = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"sidecar is not valid JSON ({exc})", file=side) from exc
    if not isinstance(data, dict):
        raise InputError("sidecar must hold a JSON object", file=side, expected="{...}")
    return data


def _seconds_to_ms(value: Any, *, file: Path, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0] if value else None
        if value is None:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"'{key}' must be a number of seconds", file=file, field=key)
    # BIDS says seconds. A value above 10 is certainly ms (a TE of 10 s does not exist): refuse it
    # rather than guess, because a silent unit mistake is the error users of other tools report.
    if key in ("EchoTime", "InversionTime") and value > 10:
        raise InputError(f"'{key}' = {value} looks like milliseconds; BIDS sidecars give seconds", file=file, field=key)
    return float(value) * 1000.0


def params_from_sidecar(meta: dict[str, Any], *, file: Path) -> AcquisitionParams:
    echo = meta.get("EchoTime")
    echo_list = echo if isinstance(echo, list) else None
    bvals = tuple(float(b) for b in meta.get("bval", []) or ())
    bval_file = file.with_name(stem(file) + ".bval")
    if not bvals and bval_file.exists():
        try:
            bvals = tuple(float(b) for b in bval_file.read_text().split())
        except ValueError as exc:
            raise InputError("b-value file holds something other than numbers", file=bval_file) from exc
    flips = meta.get("FlipAngle")
    flip_list = tuple(float(f) for f in flips) if isinstance(flips, list) else ()
    known = {
        "EchoTime",
        "RepetitionTime",
        "InversionTime",
        "FlipAngle",
        "MagneticFieldStrength",
        "ScanningSequence",
        "SequenceVariant",
        "ImageType",
        "Manufacturer",
        "ContrastBolusIngredient",
        "SliceThickness",
        "SpacingBetweenSlices",
        "SeriesDescription",
        "ProtocolName",
    }
    extra = {k: v for k, v in meta.items() if k not in known}
    tr_ms = _seconds_to_ms(meta.get("RepetitionTime"), file=file, key="RepetitionTime")
    return AcquisitionParams(
        echo_time_ms=_seconds_to_ms(echo, file=file, key="EchoTime"),
        echo_times_ms=tuple(float(e) * 1000 for e in echo_list) if echo_list and len(echo_list) > 1 else (),
        repetition_time_ms=tr_ms,
        inversion_time_ms=_seconds_to_ms(meta.get("InversionTime"), file=file, key="InversionTime"),
        flip_angle_deg=float(flips) if isinstance(flips, (int, float)) else (flip_list[0] if flip_list else None),
        flip_angles_deg=flip_list if len(flip_list) > 1 else (),
        field_strength_t=float(meta["MagneticFieldStrength"]) if "MagneticFieldStrength" in meta else None,
        b_values_s_per_mm2=bvals if any(b > 0 for b in bvals) else (),
        scanning_sequence=_join(meta.get("ScanningSequence")),
        sequence_variant=_join(meta.get("SequenceVariant")),
        image_type=tuple(meta.get("ImageType", ()) or ()),
        manufacturer=meta.get("Manufacturer"),
        contrast_agent=meta.get("ContrastBolusIngredient"),
        slice_thickness_mm=meta.get("SliceThickness"),
        spacing_between_slices_mm=meta.get("SpacingBetweenSlices"),
        temporal_resolution_s=(tr_ms / 1000.0) if tr_ms is not None else None,
        extra=extra,
    )


def _join(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return "\\".join(str(v) for v in value)
    return str(value)


def header_info(path: Path) -> tuple[tuple[int, ...], tuple[float, float, float]]:
    """Shape and voxel size (mm) without reading the pixels."""
    try:
        img: Any = nib.load(str(path))
    except Exception as exc:
        raise InputError(f"cannot be read as NIfTI ({type(exc).__name__}: {exc})", file=path) from exc
    zooms = img.header.get_zooms()
    spacing = (float(zooms[0]), float(zooms[1]), float(zooms[2]) if len(zooms) > 2 else 1.0)
    return tuple(int(s) for s in img.shape), spacing


def header_affine(path: Path) -> np.ndarray | None:
    """The RAS affine of a NIfTI from its header (no pixels read); ``None`` if the file cannot be read."""
    try:
        img: Any = nib.load(str(path))
    except Exception:
        return None
    return np.asarray(img.affine, dtype=np.float64)


def frame_times_from_sidecar(meta: dict[str, Any], n_frames: int, *, file: Path) -> tuple[np.ndarray, str]:
    """Frame times of a 4D NIfTI: ``FrameTimesStart`` / ``VolumeTiming`` if given, else n × RepetitionTime."""
    for key in ("FrameTimesStart", "VolumeTiming", "AcquisitionTimes"):
        if key in meta:
            times = np.asarray(meta[key], dtype=float)
            if times.shape != (n_frames,):
                raise InputError(
                    f"'{key}' has {times.size} entries for {n_frames} volumes", file=sidecar_path(file), field=key
                )
            return times - times[0], ""
    tr = meta.get("RepetitionTime")
    if isinstance(tr, (int, float)) and tr > 0:
        return np.arange(n_frames) * float(tr), ""
    return np.arange(n_frames, dtype=float), "no RepetitionTime or frame timing in the sidecar; frames are numbered"


def load_nifti(path: Path, *, uid: str | None = None) -> tuple[Volume, list[str]]:
    """Read a NIfTI image (3D or 4D) as a float32 :class:`Volume` in RAS+ mm."""
    try:
        img: Any = nib.load(str(path))
        data = np.asarray(img.get_fdata(dtype=np.float32))
    except Exception as exc:
        raise InputError(f"cannot be read as NIfTI ({type(exc).__name__}: {exc})", file=path) from exc
    warnings: list[str] = []
    while data.ndim > 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim not in (3, 4):
        raise InputError(f"image has {data.ndim} dimensions", file=path, expected="a 3D or 4D image")
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    header = img.header
    if "qform_code" in header and int(header["qform_code"]) == 0 and int(header["sform_code"]) == 0:
        raise InputError(
            "NIfTI header has no orientation (qform and sform codes are 0): voxel positions would be a guess",
            file=path,
            expected="a NIfTI with a valid qform or sform",
        )
    affine = np.asarray(img.affine, dtype=np.float64)
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise InputError("NIfTI affine is missing or degenerate", file=path, expected="a valid qform/sform")
    times = None
    if data.ndim == 4:
        meta = read_sidecar(path)
        times, why = frame_times_from_sidecar(meta, data.shape[3], file=path)
        if why:
            warnings.append(why)
    return Volume(data=data, affine=affine, frame_times_s=times, series_uid=uid), warnings
