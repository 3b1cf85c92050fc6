"""Write synthetic series as NIfTI + BIDS JSON sidecars, or as classic DICOM MR objects with realistic headers.

The DICOM form is what a PACS export looks like: one file per slice (and per dynamic), a study and
series UID, frame of reference, position and orientation, acquisition parameters, timing
(TemporalPositionIdentifier, TriggerTime, AcquisitionTime) and, for post-contrast series, the
contrast tags. Identifiers are synthetic; UIDs are derived from the seed so a rebuilt phantom is
byte-identical.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from .. import files
from ..case import SeriesKind

UID_PREFIX = "1.2.826.0.1.3680043.10.1507."  # a prefix reserved for this project's synthetic objects


@dataclass
class SyntheticSeries:
    """A series a sequence generator produced: pixels, geometry, timing and the headers it needs."""

    name: str  # file stem / series description, e.g. "T1c", "DSC"
    kind: SeriesKind
    data: np.ndarray  # (i, j, k) or (i, j, k, t), float
    affine: np.ndarray
    frame_times_s: np.ndarray | None = None
    echo_time_ms: float | None = None
    repetition_time_ms: float | None = None
    inversion_time_ms: float | None = None
    flip_angle_deg: float | None = None
    contrast: bool = False
    scanning_sequence: str = "SE"
    sequence_variant: str = "NONE"
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "M", "ND")
    b_values_s_per_mm2: tuple[float, ...] = ()  # one per frame for DWI
    extra_json: Mapping[str, Any] = field(default_factory=dict)  # extra BIDS sidecar fields


def _uid(seed_text: str) -> str:
    return generate_uid(prefix=UID_PREFIX, entropy_srcs=[seed_text])


def write_nifti(series: SyntheticSeries, folder: Path) -> Path:
    """Write the series as ``<name>.nii.gz`` (float32) with its BIDS JSON sidecar (and ``.bval`` for DWI)."""
    path = files.write_nifti(folder / f"{series.name}.nii.gz", series.data, series.affine, dtype=np.float32)
    meta: dict[str, Any] = {
        "SeriesDescription": series.name,
        "MagneticFieldStrength": 3.0,
        "Manufacturer": "pseudoprog phantom",
    }
    if series.echo_time_ms is not None:
        meta["EchoTime"] = series.echo_time_ms / 1000.0
    if series.repetition_time_ms is not None:
        meta["RepetitionTime"] = series.repetition_time_ms / 1000.0
    if series.inversion_time_ms is not None:
        meta["InversionTime"] = series.inversion_time_ms / 1000.0
    if series.flip_angle_deg is not None:
        meta["FlipAngle"] = series.flip_angle_deg
    if series.contrast:
        meta["ContrastBolusIngredient"] = "GADOLINIUM"
    if series.frame_times_s is not None:
        meta["FrameTimesStart"] = [float(t) for t in series.frame_times_s]
    meta.update(series.extra_json)
    files.write_json(folder / f"{series.name}.json", meta)
    if series.b_values_s_per_mm2:
        (folder / f"{series.name}.bval").write_text(" ".join(f"{b:g}" for b in series.b_values_s_per_mm2) + "\n")
    return path


@dataclass(frozen=True)
class StudyInfo:
    """Who and when, for the DICOM headers (all synthetic)."""

    patient_id: str
    patient_name: str
    birth_date: dt.date
    sex: str
    study_date: dt.date
    study_seed: str  # for deterministic UIDs
    field_strength_t: float = 3.0


def _base_dataset(info: StudyInfo, series: SyntheticSeries, series_number: int) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = MRImageStorage
    ds.Modality = "MR"
    ds.Manufacturer = "pseudoprog phantom"
    ds.ManufacturerModelName = "synthetic"
    ds.InstitutionName = "pseudoprog"
    ds.PatientName = info.patient_name
    ds.PatientID = info.patient_id
    ds.PatientBirthDate = info.birth_date.strftime("%Y%m%d")
    ds.PatientSex = info.sex
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = info.study_date.strftime("%Y%m%d")
    ds.StudyTime = "090000"
    ds.SeriesTime = f"{9 + series_number // 60:02d}{series_number % 60:02d}00"
    ds.AccessionNumber = info.study_seed[-8:].upper()
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.StudyDescription = "MRI BRAIN WITH AND WITHOUT CONTRAST"
    ds.StudyInstanceUID = _uid(info.study_seed + "/study")
    ds.SeriesInstanceUID = _uid(f"{info.study_seed}/series/{series.name}")
    ds.FrameOfReferenceUID = _uid(info.study_seed + "/for")
    ds.PositionReferenceIndicator = ""
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series.name
    ds.ProtocolName = series.name
    ds.BodyPartExamined = "HEAD"
    ds.PatientPosition = "HFS"
    ds.MagneticFieldStrength = info.field_strength_t
    ds.ImagingFrequency = 42.577 * info.field_strength_t
    ds.ScanningSequence = series.scanning_sequence
    ds.SequenceVariant = series.sequence_variant
    ds.MRAcquisitionType = "2D"
    ds.ImageType = list(series.image_type)
    if series.echo_time_ms is not None:
        ds.EchoTime = f"{series.echo_time_ms:g}"
    if series.repetition_time_ms is not None:
        ds.RepetitionTime = f"{series.repetition_time_ms:g}"
    if series.inversion_time_ms is not None:
        ds.InversionTime = f"{series.inversion_time_ms:g}"
    if series.flip_angle_deg is not None:
        ds.FlipAngle = f"{series.flip_angle_deg:g}"
    if series.contrast:
        ds.ContrastBolusAgent = "Gadobutrol"
        ds.ContrastBolusVolume = "7.5"
        ds.ContrastBolusTotalDose = "7.5"
        ds.ContrastFlowRate = "4"
        ds.ContrastBolusIngredient = "GADOLINIUM"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    return ds


def write_dicom(series: SyntheticSeries, folder: Path, info: StudyInfo, *, series_number: int) -> Path:
    """Write one classic MR object per slice and frame; returns the series folder."""
    out = folder / f"{series_number:03d}_{series.name}"
    out.mkdir(parents=True, exist_ok=True)
    data = series.data if series.data.ndim == 4 else series.data[..., None]
    n_i, n_j, n_k, n_t = data.shape
    # RAS → LPS for the headers; columns of the pixel matrix run along i.
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ series.affine
    spacing_i = float(np.linalg.norm(lps[:3, 0]))
    spacing_j = float(np.linalg.norm(lps[:3, 1]))
    spacing_k = float(np.linalg.norm(lps[:3, 2]))
    row_cos = lps[:3, 0] / spacing_i
    col_cos = lps[:3, 1] / spacing_j
    # One rescale per series keeps the uint16 range while preserving the real values.
    finite = data[np.isfinite(data)]
    lo = float(min(0.0, finite.min())) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    slope = max((hi - lo) / 65000.0, 1e-6)
    base = _base_dataset(info, series, series_number)
    base.Rows, base.Columns = n_j, n_i
    base.PixelSpacing = [f"{spacing_j:.6g}", f"{spacing_i:.6g}"]
    base.SliceThickness = f"{spacing_k:.6g}"
    base.SpacingBetweenSlices = f"{spacing_k:.6g}"
    base.ImageOrientationPatient = [f"{v:.6f}" for v in (*row_cos, *col_cos)]
    base.RescaleSlope = f"{slope:.8g}"
    base.RescaleIntercept = f"{lo:.8g}"
    base.RescaleType = "US"
    if n_t > 1:
        base.NumberOfTemporalPositions = n_t
        if series.frame_times_s is not None and n_t > 1:
            base.TemporalResolution = f"{1000 * float(np.median(np.diff(series.frame_times_s))):g}"
    start_s = 9 * 3600 + series_number * 60
    instance = 0
    for t in range(n_t):
        for k in range(n_k):
            instance += 1
            ds = Dataset()
            ds.update(base)
            ds.file_meta = FileMetaDataset()
            ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
            ds.SOPInstanceUID = _uid(f"{info.study_seed}/{series.name}/{t}/{k}")
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.InstanceNumber = instance
            position = lps[:3, 3] + k * lps[:3, 2]
            ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
            ds.SliceLocation = f"{float(np.dot(position, np.cross(row_cos, col_cos))):.6f}"
            if n_t > 1:
                time_s = float(series.frame_times_s[t]) if series.frame_times_s is not None else float(t)
                ds.TemporalPositionIdentifier = t + 1
                ds.TriggerTime = f"{1000 * time_s:.3f}"
                acq = start_s + time_s
                ds.AcquisitionTime = f"{int(acq // 3600):02d}{int(acq % 3600 // 60):02d}{acq % 60:09.6f}"
                if series.b_values_s_per_mm2:
                    ds.DiffusionBValue = float(series.b_values_s_per_mm2[t])
            else:
                ds.AcquisitionTime = f"{int(start_s // 3600):02d}{int(start_s % 3600 // 60):02d}00"
            frame = np.nan_to_num(data[:, :, k, t], nan=lo)
            stored = np.clip(np.round((frame - lo) / slope), 0, 65535).astype(np.uint16)
            ds.PixelData = stored.T.tobytes()  # rows = j, columns = i
            pydicom.dcmwrite(out / f"IM{instance:05d}.dcm", ds, enforce_file_format=True)
    return out
