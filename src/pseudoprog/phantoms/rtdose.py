"""A synthetic radiotherapy dose (DICOM RTDOSE) for a phantom case, to test location against the field.

The dose is a smooth cloud centred on the treated lesion (or displaced from it): the prescription
dose inside a sphere, falling off as a logistic function of the distance (half the prescription at
``radius_mm``; 80 % → 20 % over about 2.8 × ``penumbra_mm``). It is written in the world space of
the baseline scan, as a plan fused to the baseline MRI would be.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pydicom
import yaml
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from ..align.itk import LPS_FROM_RAS
from .anatomy import Grid
from .patient import _pose_affine
from .writers import UID_PREFIX, _uid

RTDOSE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.2"


def dose_cloud(
    affine: np.ndarray,
    shape: tuple[int, int, int],
    centre_mm: tuple[float, float, float],
    *,
    prescription_gy: float,
    radius_mm: float,
    penumbra_mm: float = 3.0,
) -> np.ndarray:
    """Dose (Gy) on a grid: logistic fall-off around ``centre_mm`` (RAS world mm)."""
    if prescription_gy <= 0 or radius_mm <= 0 or penumbra_mm <= 0:
        raise ValueError("prescription_gy, radius_mm and penumbra_mm must be > 0")
    ijk = np.indices(shape, dtype=np.float32).reshape(3, -1)
    world = affine[:3, :3] @ ijk + affine[:3, 3:4]
    r = np.sqrt(((world - np.asarray(centre_mm, dtype=np.float32)[:, None]) ** 2).sum(axis=0)).reshape(shape)
    return (prescription_gy / (1.0 + np.exp((r - radius_mm) / penumbra_mm))).astype(np.float32)


def write_rtdose(
    path: str | Path,
    dose_gy: np.ndarray,
    affine: np.ndarray,
    *,
    frame_of_reference_uid: str,
    patient_id: str,
    study_date: dt.date,
    seed_text: str = "rtdose",
) -> Path:
    """Write a 3D dose grid (Gy, RAS affine, axial slices along k) as a DICOM RTDOSE object."""
    if dose_gy.ndim != 3:
        raise ValueError("dose_gy must be 3D")
    if not np.isfinite(dose_gy).all() or dose_gy.min() < 0:
        raise ValueError("dose_gy must be finite and non-negative")
    path = Path(path)
    lps = LPS_FROM_RAS @ affine
    col_step, row_step = (float(np.linalg.norm(lps[:3, a])) for a in range(2))
    row_dir, col_dir = lps[:3, 0] / col_step, lps[:3, 1] / row_step
    normal = np.cross(row_dir, col_dir)
    dz = float(lps[:3, 2] @ normal)
    scaling = float(dose_gy.max()) / 65000.0 if dose_gy.max() > 0 else 1.0
    pixels = np.rint(np.transpose(dose_gy, (2, 1, 0)) / scaling).astype(np.uint16)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(RTDOSE_SOP_CLASS)
    meta.MediaStorageSOPInstanceUID = UID(_uid(seed_text + "/sop"))
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(UID_PREFIX + "1")
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = RTDOSE_SOP_CLASS
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTDOSE"
    ds.PatientID = patient_id
    ds.PatientName = "PHANTOM^DOSE"
    ds.StudyDate = study_date.strftime("%Y%m%d")
    ds.StudyInstanceUID = _uid(seed_text + "/study")
    ds.SeriesInstanceUID = _uid(seed_text + "/series")
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    ds.ImagePositionPatient = [float(v) for v in lps[:3, 3]]
    ds.ImageOrientationPatient = [float(v) for v in (*row_dir, *col_dir)]
    ds.PixelSpacing = [float(row_step), float(col_step)]
    ds.SliceThickness = abs(dz)
    ds.GridFrameOffsetVector = [float(k * dz) for k in range(dose_gy.shape[2])]
    ds.FrameIncrementPointer = pydicom.tag.Tag(0x3004, 0x000C)
    ds.NumberOfFrames = int(dose_gy.shape[2])
    ds.Rows, ds.Columns = int(dose_gy.shape[1]), int(dose_gy.shape[0])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.DoseGridScaling = f"{scaling:.10g}"
    ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    ds.save_as(str(tmp), enforce_file_format=True)
    tmp.replace(path)
    return path


def add_rtdose_to_case(
    case_dir: str | Path,
    *,
    prescription_gy: float | None = None,
    radius_mm: float | None = None,
    offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    penumbra_mm: float = 3.0,
) -> Path:
    """Write ``rtdose/RTDOSE.dcm`` for a phantom case and reference it in its case.yaml.

    The cloud is centred on the first lesion at baseline (moved by ``offset_mm``), its plateau the
    maximum dose of the case's radiation course (or ``prescription_gy``), and a radius of the lesion's longest
    semi-axis + 20 mm unless ``radius_mm`` is given.
    """
    case_dir = Path(case_dir)
    truth = json.loads((case_dir / "truth.json").read_text())
    doc = yaml.safe_load((case_dir / "case.yaml").read_text())
    base = truth["timepoints"][0]
    grid = Grid(tuple(truth["grid"]["shape"]), tuple(truth["grid"]["spacing_mm"]))
    world_from_head = _pose_affine(grid, tuple(base["pose"])) @ np.linalg.inv(grid.affine)
    lesion = base["lesions"][0]
    centre = world_from_head @ np.array([*lesion["centre_mm_head"], 1.0])
    centre = centre[:3] + np.asarray(offset_mm)
    if prescription_gy is None:
        courses = [t for t in doc.get("treatments", []) if t.get("dose_gy")]
        if not courses:
            raise ValueError("the case has no radiation dose; give prescription_gy")
        # A radiosurgery plan prescribed to the X % isodose peaks at prescription / X %.
        prescription_gy = float(courses[-1]["dose_gy"]) / (float(courses[-1].get("isodose_percent") or 100) / 100)
    if radius_mm is None:
        radius_mm = lesion["long_mm"] / 2 + 20.0
    spacing = 3.0
    shape = (64, 72, 50)
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = [-(n - 1) * spacing / 2 for n in shape]
    dose = dose_cloud(
        affine, shape, tuple(centre), prescription_gy=prescription_gy, radius_mm=radius_mm, penumbra_mm=penumbra_mm
    )
    out = write_rtdose(
        case_dir / "rtdose" / "RTDOSE.dcm",
        dose,
        affine,
        frame_of_reference_uid=_uid(f"{truth['scenario']}/dose-frame"),
        patient_id=str(doc["patient"]["id"]),
        study_date=dt.date.fromisoformat(base["date"]),
        seed_text=f"{truth['scenario']}/{truth['seed']}/rtdose",
    )
    doc["rtdose"] = "rtdose/RTDOSE.dcm"
    (case_dir / "case.yaml").write_text(
        "# Synthetic patient written by pseudoprog (phantoms). Truth in truth.json.\n"
        + yaml.safe_dump(doc, sort_keys=False)
    )
    return out
