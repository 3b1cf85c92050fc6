"""A PET phantom with known uptake, written as PET DICOM with the headers SUV needs.

An analytic head: scalp/skull shell of low uptake, a brain of uniform background SUV, and a spherical
lesion of known SUV in one hemisphere (optionally with a non-enhancing, low-uptake core). The DICOM
carries Units = BQML, DecayCorrection = START, the radiopharmaceutical (tracer name, radionuclide code,
half-life, injected activity, injection date-time) and the patient weight, so that reading it back through
:func:`pseudoprog.pet.suv.suv_parameters` must return the SUV that was put in: the truth is exact.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, PositronEmissionTomographyImageStorage

from .writers import _uid

# Radiopharmaceutical headers per tracer (text, radionuclide code in SNOMED-RT as PET systems write it).
_TRACERS = {
    "FET": ("O-(2-[18F]fluoroethyl)-L-tyrosine", ("C-111A1", "SRT", "^18^Fluorine"), 6586.2),
    "FDG": ("Fludeoxyglucose F^18^", ("C-111A1", "SRT", "^18^Fluorine"), 6586.2),
    "MET": ("L-[methyl-11C]methionine", ("C-105A1", "SRT", "^11^Carbon"), 1221.8),
    "FDOPA": ("6-[18F]fluoro-L-DOPA", ("C-111A1", "SRT", "^18^Fluorine"), 6586.2),
}


@dataclass(frozen=True, eq=False)
class PetPhantom:
    """The phantom's truth: SUV image, masks and the acquisition that :func:`write_pet_dicom` records."""

    suv: np.ndarray
    affine: np.ndarray  # RAS+ mm
    lesion: np.ndarray  # bool: the uptaking lesion
    brain: np.ndarray  # bool
    head: np.ndarray  # bool (brain + shell)
    lesion_suv: float
    background_suv: float

    @property
    def tbr(self) -> float:
        return self.lesion_suv / self.background_suv


def make_pet_phantom(
    *,
    shape: tuple[int, int, int] = (64, 72, 48),
    voxel_mm: float = 3.0,
    lesion_centre_mm: tuple[float, float, float] = (35.0, 10.0, 6.0),
    lesion_radius_mm: float = 12.0,
    lesion_suv: float = 2.6,
    background_suv: float = 1.0,
    shell_suv: float = 0.3,
    noise_sd: float = 0.0,
    seed: int = 0,
) -> PetPhantom:
    """Build the phantom (RAS+ grid centred on the origin).

    ``noise_sd`` adds Gaussian noise with that SD in SUV units inside the head (seeded).
    """
    if lesion_radius_mm <= 0 or voxel_mm <= 0:
        raise ValueError("lesion_radius_mm and voxel_mm must be positive")
    if lesion_suv <= 0 or background_suv <= 0 or shell_suv < 0 or noise_sd < 0:
        raise ValueError("uptake values must be positive (shell and noise non-negative)")
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = [-(n - 1) * voxel_mm / 2.0 for n in shape]
    ii, jj, kk = np.indices(shape, dtype=np.float64)
    x = affine[0, 0] * ii + affine[0, 3]
    y = affine[1, 1] * jj + affine[1, 3]
    z = affine[2, 2] * kk + affine[2, 3]
    brain = (x / 68.0) ** 2 + (y / 88.0) ** 2 + (z / 58.0) ** 2 <= 1.0
    head = (x / 78.0) ** 2 + (y / 98.0) ** 2 + (z / 68.0) ** 2 <= 1.0
    cx, cy, cz = lesion_centre_mm
    lesion = ((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= lesion_radius_mm**2) & brain
    suv = np.zeros(shape, dtype=np.float64)
    suv[head] = shell_suv
    suv[brain] = background_suv
    suv[lesion] = lesion_suv
    if noise_sd > 0:
        rng = np.random.default_rng(seed)
        suv = np.where(head, suv + rng.normal(0.0, noise_sd, shape), suv).clip(min=0.0)
    return PetPhantom(
        suv=suv,
        affine=affine,
        lesion=lesion,
        brain=brain,
        head=head,
        lesion_suv=lesion_suv,
        background_suv=background_suv,
    )


def write_pet_dicom(
    phantom: PetPhantom,
    folder: str | Path,
    *,
    tracer: str = "FET",
    weight_kg: float = 72.0,
    injected_mbq: float = 200.0,
    uptake_min: float = 30.0,
    scan_start: dt.datetime = dt.datetime(2026, 3, 2, 10, 30, 0),
    seed: str = "pet-phantom",
) -> Path:
    """Write the phantom as one PET DICOM file per axial slice; returns the series folder.

    Voxel values are activity concentrations (Bq/ml) at the series start, so that
    SUV = value × weight / (injected activity decayed over ``uptake_min``).
    """
    if tracer not in _TRACERS:
        raise ValueError(f"tracer must be one of {', '.join(_TRACERS)}, got {tracer!r}")
    if weight_kg <= 0 or injected_mbq <= 0 or uptake_min < 0:
        raise ValueError("weight_kg and injected_mbq must be positive and uptake_min non-negative")
    text, (code, scheme, meaning), half_life = _TRACERS[tracer]
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    injection = scan_start - dt.timedelta(minutes=uptake_min)
    decayed_bq = injected_mbq * 1e6 * math.pow(2.0, -uptake_min * 60.0 / half_life)
    bq_ml = phantom.suv * decayed_bq / (weight_kg * 1000.0)
    slope = max(float(bq_ml.max()) / 32000.0, 1e-6)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ phantom.affine
    spacing = np.sqrt((lps[:3, :3] ** 2).sum(axis=0))
    row_cos, col_cos = lps[:3, 0] / spacing[0], lps[:3, 1] / spacing[1]
    n_i, n_j, n_k = phantom.suv.shape

    rp = Dataset()
    rp.Radiopharmaceutical = text
    rp.RadiopharmaceuticalStartTime = injection.strftime("%H%M%S")
    rp.RadiopharmaceuticalStartDateTime = injection.strftime("%Y%m%d%H%M%S")
    rp.RadionuclideTotalDose = f"{injected_mbq * 1e6:.6g}"
    rp.RadionuclideHalfLife = f"{half_life:g}"
    rp.RadionuclidePositronFraction = "0.9686" if "18" in meaning else "0.9976"
    nuc = Dataset()
    nuc.CodeValue, nuc.CodingSchemeDesignator, nuc.CodeMeaning = code, scheme, meaning
    rp.RadionuclideCodeSequence = DicomSequence([nuc])

    for k in range(n_k):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = PositronEmissionTomographyImageStorage
        ds.SOPInstanceUID = _uid(f"{seed}/slice/{k}")
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = PositronEmissionTomographyImageStorage
        ds.Modality = "PT"
        ds.Manufacturer = "pseudoprog phantom"
        ds.PatientName = "PHANTOM^PET"
        ds.PatientID = "PET-PHANTOM"
        ds.PatientWeight = f"{weight_kg:g}"
        ds.PatientSex = "O"
        ds.StudyInstanceUID = _uid(seed + "/study")
        ds.SeriesInstanceUID = _uid(seed + "/series")
        ds.FrameOfReferenceUID = _uid(seed + "/for")
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = scan_start.strftime("%Y%m%d")
        ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = scan_start.strftime("%H%M%S")
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        ds.SeriesDescription = f"PET {tracer} brain"
        ds.Units = "BQML"
        ds.DecayCorrection = "START"
        ds.CorrectedImage = ["DECY", "ATTN", "SCAT"]
        ds.RadiopharmaceuticalInformationSequence = DicomSequence([rp])
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*row_cos, *col_cos)]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in lps[:3, 3] + k * lps[:3, 2]]
        ds.PixelSpacing = [f"{spacing[1]:.6g}", f"{spacing[0]:.6g}"]
        ds.SliceThickness = f"{spacing[2]:.6g}"
        ds.Rows, ds.Columns = n_j, n_i
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleSlope = f"{slope:.10g}"
        ds.RescaleIntercept = "0"
        pixels = np.rint(bq_ml[:, :, k].T / slope).astype(np.uint16)  # rows run along j
        ds.PixelData = pixels.tobytes()
        pydicom.dcmwrite(out / f"PT{k + 1:04d}.dcm", ds, enforce_file_format=True)
    return out
