"""NIfTI with BIDS-style JSON sidecars, read through nibabel.

BIDS stores times in seconds (EchoTime 0.03); the domain stores them in ms with the unit in the
field name, so the conversion happens here and only here.
"""

from __future__ import annotations

import json
import math
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


# Plausible BIDS times in seconds (the sidecar's unit): a TE above 1 s, a TI above 10 s or a TR above 100 s is
# not a scan anyone runs; such a value is almost always milliseconds written into a seconds field.
_PLAUSIBLE_SECONDS = {"EchoTime": 1.0, "InversionTime": 10.0, "RepetitionTime": 100.0}


def _number(value: Any, *, file: Path, key: str) -> float | None:
    """A sidecar number (``None`` when absent or null); anything else, or a non-finite value, is named."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"'{key}' is {value!r:.60}", file=sidecar_path(file), field=key, expected="a finite number")
    return float(value)


def _numbers(value: Any, *, file: Path, key: str) -> tuple[float, ...]:
    """A number or a list of numbers as a tuple (empty when absent)."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(v for v in (_number(item, file=file, key=key) for item in items) if v is not None)


def _texts(value: Any, *, file: Path, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in items):
        raise InputError(
            f"'{key}' is {value!r:.60}", file=sidecar_path(file), field=key, expected="text or a list of text"
        )
    return tuple(items)


def _seconds_to_ms(value: Any, *, file: Path, key: str) -> float | None:
    seconds = _numbers(value, file=file, key=key)
    if not seconds:
        return None
    # BIDS says seconds. A value outside the plausible range in seconds is refused rather than guessed,
    # because a silent unit mistake is the error users of other tools report.
    limit = _PLAUSIBLE_SECONDS.get(key)
    for v in seconds:
        if v < 0 or (limit is not None and v > limit):
            hint = "; it looks like milliseconds, and BIDS sidecars give seconds" if v > (limit or 0) else ""
            raise InputError(
                f"'{key}' = {v:g} s is outside the plausible range (0–{limit:g} s){hint}",
                file=sidecar_path(file),
                field=key,
                expected=f"seconds between 0 and {limit:g}",
            )
    return seconds[0] * 1000.0


def params_from_sidecar(meta: dict[str, Any], *, file: Path) -> AcquisitionParams:
    echo = meta.get("EchoTime")
    echo_list = _numbers(echo, file=file, key="EchoTime") if isinstance(echo, list) else ()
    bvals = _numbers(meta.get("bval"), file=file, key="bval")
    bval_file = file.with_name(stem(file) + ".bval")
    if not bvals and bval_file.exists():
        try:
            bvals = tuple(float(b) for b in bval_file.read_text().split())
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError("b-value file holds something other than numbers", file=bval_file) from exc
    flips = meta.get("FlipAngle")
    flip_list = _numbers(flips, file=file, key="FlipAngle") if isinstance(flips, list) else ()
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
    manufacturer = _texts(meta.get("Manufacturer"), file=file, key="Manufacturer")
    agent = _texts(meta.get("ContrastBolusIngredient"), file=file, key="ContrastBolusIngredient")
    return AcquisitionParams(
        echo_time_ms=_seconds_to_ms(echo, file=file, key="EchoTime"),
        echo_times_ms=tuple(e * 1000 for e in echo_list) if len(echo_list) > 1 else (),
        repetition_time_ms=tr_ms,
        inversion_time_ms=_seconds_to_ms(meta.get("InversionTime"), file=file, key="InversionTime"),
        flip_angle_deg=_number(flips, file=file, key="FlipAngle")
        if not isinstance(flips, list)
        else (flip_list[0] if flip_list else None),
        flip_angles_deg=flip_list if len(flip_list) > 1 else (),
        field_strength_t=_number(meta.get("MagneticFieldStrength"), file=file, key="MagneticFieldStrength"),
        b_values_s_per_mm2=bvals if any(b > 0 for b in bvals) else (),
        scanning_sequence=_join(meta.get("ScanningSequence")),
        sequence_variant=_join(meta.get("SequenceVariant")),
        image_type=_texts(meta.get("ImageType"), file=file, key="ImageType"),
        manufacturer=manufacturer[0] if manufacturer else None,
        contrast_agent="\\".join(agent) if agent else None,
        slice_thickness_mm=_number(meta.get("SliceThickness"), file=file, key="SliceThickness"),
        spacing_between_slices_mm=_number(meta.get("SpacingBetweenSlices"), file=file, key="SpacingBetweenSlices"),
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
    _check_budget(img, path)
    zooms = img.header.get_zooms()
    spacing = (float(zooms[0]), float(zooms[1]), float(zooms[2]) if len(zooms) > 2 else 1.0)
    if not all(math.isfinite(v) and v > 0 for v in spacing):
        raise InputError(f"voxel size {spacing} mm", file=path, field="pixdim", expected="positive finite sizes (mm)")
    return tuple(int(s) for s in img.shape), spacing


# Memory budget for one image as float32 (the array load_nifti builds): a header declaring more is refused
# before any voxel is read (a corrupt dim[] field can claim terabytes).
MAX_IMAGE_BYTES = 4 * 1024**3


def _check_budget(img: Any, path: Path) -> None:
    n = 1
    for dim in img.shape:
        n *= int(dim)
    if n * 4 > MAX_IMAGE_BYTES or n <= 0:
        raise InputError(
            f"declares {'x'.join(str(int(d)) for d in img.shape)} voxels, outside the memory budget of "
            f"{MAX_IMAGE_BYTES // 1024**3} GiB",
            file=path,
            field="dim",
        )


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
            times = np.asarray(_numbers(meta[key], file=file, key=key), dtype=float)
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
        _check_budget(img, path)
        data = np.asarray(img.get_fdata(dtype=np.float32))
    except InputError:
        raise
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
    if not np.isfinite(data).all():
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise InputError(
            f"holds {bad} NaN or infinite voxel value(s) (after scl_slope/scl_inter)",
            file=path,
            field="voxel data",
            expected="finite values (set background to 0, not NaN)",
        )
    times = None
    if data.ndim == 4:
        meta = read_sidecar(path)
        times, why = frame_times_from_sidecar(meta, data.shape[3], file=path)
        if why:
            warnings.append(why)
    return Volume(data=data, affine=affine, frame_times_s=times, series_uid=uid), warnings
