"""The domain: what every stage of the flow passes forward.

Plain, typed, frozen dataclasses. A stage never mutates its input; it returns new objects
(``dataclasses.replace``). Units are in the field names (``_mm``, ``_mm3``, ``_s``, ``_ms``, ``_gy``)
so a voxel count can never be mistaken for a volume and an echo time never for seconds.
Images themselves travel as :class:`Volume` (array + affine + frame times); a :class:`Series`
only describes where an image is and what it is, so a whole case history can be held in memory
without loading every pixel.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------------------
# Vocabularies (the values case.yaml accepts; see README "The case folder")
# ---------------------------------------------------------------------------------------------


class DiagnosisType(StrEnum):
    GLIOBLASTOMA = "glioblastoma"
    ASTROCYTOMA = "astrocytoma"
    OLIGODENDROGLIOMA = "oligodendroglioma"
    LOW_GRADE_GLIOMA = "low_grade_glioma"
    METASTASIS = "metastasis"

    @property
    def is_glioma(self) -> bool:
        return self is not DiagnosisType.METASTASIS


class MarkerStatus(StrEnum):
    """Molecular marker status (IDH, MGMT, 1p/19q)."""

    POSITIVE = "positive"  # generic, e.g. 1p19q codeleted
    NEGATIVE = "negative"
    WILDTYPE = "wildtype"
    MUTANT = "mutant"
    METHYLATED = "methylated"
    UNMETHYLATED = "unmethylated"
    UNKNOWN = "unknown"


class TreatmentType(StrEnum):
    SURGERY = "surgery"
    BIOPSY = "biopsy"
    CHEMORADIATION = "chemoradiation"
    RADIOTHERAPY = "radiotherapy"
    SRS = "srs"
    FSRT = "fsrt"
    WBRT = "wbrt"
    CHEMOTHERAPY = "chemotherapy"
    IMMUNOTHERAPY = "immunotherapy"
    BEVACIZUMAB = "bevacizumab"
    TARGETED = "targeted"
    OTHER = "other"

    @property
    def is_radiation(self) -> bool:
        return self in _RADIATION

    @property
    def is_systemic(self) -> bool:
        return self in _SYSTEMIC


_RADIATION = frozenset(
    {
        TreatmentType.CHEMORADIATION,
        TreatmentType.RADIOTHERAPY,
        TreatmentType.SRS,
        TreatmentType.FSRT,
        TreatmentType.WBRT,
    }
)
_SYSTEMIC = frozenset(
    {
        TreatmentType.CHEMORADIATION,
        TreatmentType.CHEMOTHERAPY,
        TreatmentType.IMMUNOTHERAPY,
        TreatmentType.BEVACIZUMAB,
        TreatmentType.TARGETED,
    }
)


class ClinicalStatus(StrEnum):
    IMPROVED = "improved"
    STABLE = "stable"
    WORSE = "worse"  # neurological worsening attributed to tumour unless `worse_other_cause`
    WORSE_OTHER_CAUSE = "worse_other_cause"
    UNKNOWN = "unknown"


class LocationVsRT(StrEnum):
    """Where a lesion lies against the radiation dose distribution (clinical_rules.md §3.4)."""

    IN_FIELD = "in_field"  # inside the 80 % isodose line
    MARGINAL = "marginal"  # at the 50-80 % edge
    OUT_OF_FIELD = "out_of_field"
    UNKNOWN = "unknown"


class FlairChange(StrEnum):
    """Non-enhancing (T2/FLAIR) change against the reference scan (RANO §1.3)."""

    DECREASED = "decreased"
    STABLE = "stable"
    INCREASED = "increased"  # significant increase not explained by other causes
    INCREASED_OTHER_CAUSE = "increased_other_cause"
    UNKNOWN = "unknown"


class HistologyResult(StrEnum):
    """What a biopsy or resection at a timepoint showed (RANO 2010 12-week rule, clinical_rules.md §1.3.3)."""

    TUMOUR = "tumour"  # unequivocal viable tumour (e.g. > 70 % tumour-cell nuclei, rising MIB-1)
    TREATMENT_EFFECT = "treatment_effect"  # radiation necrosis / pseudoprogression, no viable tumour
    MIXED = "mixed"  # tumour and treatment effect together
    NONDIAGNOSTIC = "nondiagnostic"


class Indication(StrEnum):
    """Why this scan is being read; only the first is pseudoprog's question (clinical_rules.md §4.1)."""

    NEW_OR_ENLARGING_ENHANCEMENT = "new_or_enlarging_enhancement"
    SURVEILLANCE = "surveillance"
    INITIAL_DIAGNOSIS = "initial_diagnosis"
    METASTASIS_SCREENING = "metastasis_screening"
    EMERGENCY = "emergency"


class SeriesKind(StrEnum):
    T1 = "T1"
    T1C = "T1c"
    T2 = "T2"
    FLAIR = "FLAIR"
    DWI = "DWI"
    ADC = "ADC"
    DSC = "DSC"
    DCE = "DCE"
    VFA_T1 = "VFA_T1"
    ASL = "ASL"
    M0 = "M0"
    MRS = "MRS"
    PET = "PET"
    RTDOSE = "RTDOSE"
    RTSTRUCT = "RTSTRUCT"
    SEG = "SEG"
    T1C_DELAYED = "T1c_delayed"  # late post-contrast T1 for treatment response assessment maps
    OTHER = "other"


# ---------------------------------------------------------------------------------------------
# Patient and clinical history
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Patient:
    id: str
    age_years: float | None = None
    sex: str | None = None  # "M" | "F" | "O" | None
    dicom_ids: tuple[str, ...] = ()  # the scanner's PatientID(s) when they are not ``id`` (case.yaml patient.dicom_id)


@dataclass(frozen=True)
class Diagnosis:
    type: DiagnosisType
    idh: MarkerStatus = MarkerStatus.UNKNOWN
    mgmt: MarkerStatus = MarkerStatus.UNKNOWN
    codeletion_1p19q: MarkerStatus = MarkerStatus.UNKNOWN
    who_grade: int | None = None
    primary: str | None = None  # metastasis only: lung | breast | melanoma | renal | colorectal | ...
    date: dt.date | None = None

    @property
    def is_metastasis(self) -> bool:
        return self.type is DiagnosisType.METASTASIS


@dataclass(frozen=True)
class Treatment:
    """One treatment course. Single-day treatments (surgery, SRS) have ``start == date`` and no end."""

    type: TreatmentType
    start: dt.date
    end: dt.date | None = None
    dose_gy: float | None = None
    fractions: int | None = None
    agent: str | None = None
    extent: str | None = None  # surgery: gross_total | subtotal | partial | biopsy
    isodose_percent: float | None = None  # SRS prescription isodose
    target: str | None = None  # which lesion(s) the course treated, e.g. "L1"
    end_assumed: str | None = None  # why ``end`` was assumed (a radiation course given without its end date)

    @property
    def last_day(self) -> dt.date:
        """The day the treatment ended (the start for single-day treatments)."""
        return self.end or self.start

    @property
    def dose_per_fraction_gy(self) -> float | None:
        if self.dose_gy is None or not self.fractions:
            return None
        return self.dose_gy / self.fractions


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AcquisitionParams:
    """Acquisition parameters read from headers; the unit is in every name (BIDS seconds are converted)."""

    echo_time_ms: float | None = None
    echo_times_ms: tuple[float, ...] = ()  # multi-echo (dual-echo DSC) when more than one
    repetition_time_ms: float | None = None
    inversion_time_ms: float | None = None
    flip_angle_deg: float | None = None
    flip_angles_deg: tuple[float, ...] = ()  # variable-flip-angle T1 mapping
    field_strength_t: float | None = None
    b_values_s_per_mm2: tuple[float, ...] = ()
    scanning_sequence: str | None = None  # DICOM (0018,0020), e.g. "GR", "SE", "EP", "IR"
    sequence_variant: str | None = None
    image_type: tuple[str, ...] = ()
    manufacturer: str | None = None
    contrast_agent: str | None = None
    contrast_dose_ml: float | None = None
    contrast_flow_rate_ml_s: float | None = None
    slice_thickness_mm: float | None = None
    spacing_between_slices_mm: float | None = None
    temporal_resolution_s: float | None = None
    # Anything else a stage may need (ASL labelling, PET dose and decay, spectroscopy fields ...)
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Series:
    """An image series found in a timepoint's image folder: what it is, where it is, how it was acquired.

    The pixels are read on demand with :func:`pseudoprog.ingest.load_series`.
    """

    uid: str  # SeriesInstanceUID, or a stable id derived from the NIfTI file name
    kind: SeriesKind
    description: str
    source_format: str  # "dicom" | "nifti" | "mrs" (vendor spectroscopy) | "other"
    files: tuple[Path, ...]
    modality: str = "MR"
    shape: tuple[int, ...] = ()  # (i, j, k[, t]) as loaded
    spacing_mm: tuple[float, float, float] | None = None
    n_frames: int = 1  # time points of a dynamic series
    params: AcquisitionParams = field(default_factory=AcquisitionParams)
    classification_reason: str = ""
    kind_from_user: bool = False  # True when case.yaml overrode the classification
    sop_class_uid: str | None = None
    frame_of_reference_uid: str | None = None
    study_instance_uid: str | None = None
    series_number: int | None = None

    @property
    def is_dynamic(self) -> bool:
        return self.n_frames > 1


@dataclass(frozen=True, eq=False)
class Volume:
    """An image array with its geometry.

    ``data`` is indexed ``(i, j, k)`` or ``(i, j, k, t)``; ``affine`` maps ``(i, j, k, 1)`` to
    RAS+ world coordinates in mm (the NIfTI convention; DICOM LPS is converted on reading).
    ``frame_times_s`` gives the acquisition time of every frame of a dynamic series, from the
    first frame (so it starts at 0).
    """

    data: np.ndarray
    affine: np.ndarray
    frame_times_s: np.ndarray | None = None
    series_uid: str | None = None

    def __post_init__(self) -> None:
        if self.data.ndim not in (3, 4):
            raise ValueError(f"Volume data must be 3D or 4D, got shape {self.data.shape}")
        if self.affine.shape != (4, 4):
            raise ValueError(f"Volume affine must be 4x4, got {self.affine.shape}")
        if self.frame_times_s is not None and (self.data.ndim != 4 or len(self.frame_times_s) != self.data.shape[3]):
            raise ValueError("frame_times_s must have one entry per frame of a 4D volume")

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        s = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(s[0]), float(s[1]), float(s[2]))

    @property
    def voxel_volume_mm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        return (int(self.data.shape[0]), int(self.data.shape[1]), int(self.data.shape[2]))

    @property
    def is_dynamic(self) -> bool:
        return self.data.ndim == 4

    def volume_mm3(self, mask: np.ndarray) -> float:
        """Physical volume of a boolean mask on this grid, in mm³."""
        if mask.shape != self.spatial_shape:
            raise ValueError(f"mask shape {mask.shape} does not match image {self.spatial_shape}")
        return float(np.count_nonzero(mask)) * self.voxel_volume_mm3


# ---------------------------------------------------------------------------------------------
# Lesions, measurements and markers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LesionMeasurement:
    """Sizes of one lesion at one timepoint, always in physical units.

    ``source`` says where the numbers came from: ``"reported"`` (case.yaml) or the stage/method
    that measured them (``"lesions.rano_bidimensional"``).
    """

    long_mm: float | None = None  # longest in-plane (axial) diameter
    perp_mm: float | None = None  # longest diameter perpendicular to it, same slice
    longest_diameter_mm: float | None = None  # RANO-BM unidimensional
    enhancing_volume_mm3: float | None = None
    core_volume_mm3: float | None = None  # non-enhancing core: necrosis / cavity
    flair_volume_mm3: float | None = None
    measurable: bool | None = None
    measurability_reason: str = ""
    slice_index: int | None = None  # the axial slice the bidimensional product was taken on
    source: str = "reported"
    # The two diameters' end points (RAS+ mm), for drawing them where the images are read (the DICOM SR's lines).
    long_line_mm: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    perp_line_mm: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None

    @property
    def bidimensional_product_mm2(self) -> float | None:
        if self.long_mm is None or self.perp_mm is None:
            return None
        return self.long_mm * self.perp_mm


@dataclass(frozen=True)
class Marker:
    """One quantitative value (rCBV max, ADC mean, Cho/NAA ...) with its unit and provenance.

    Names and units come from :data:`pseudoprog.markers.MARKERS`.
    """

    name: str
    value: float
    unit: str
    source: str  # "reported" or the stage that computed it, e.g. "perfusion.dsc"
    lesion_id: str | None = None  # None: refers to the timepoint's index lesion
    quality: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"crlb_percent": 8}
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lesion:
    id: str
    enhancing: bool = True
    measurement: LesionMeasurement = field(default_factory=LesionMeasurement)
    location_vs_rt: LocationVsRT = LocationVsRT.UNKNOWN
    new: bool = False  # first seen at this timepoint
    target: bool | None = None  # chosen as a target lesion (None: let the criteria decide)
    component: str | None = None  # solid | cystic | necrotic_rim | cavity_wall | nodule_in_cyst
    markers: Mapping[str, Marker] = field(default_factory=dict)
    equivocal: bool = False  # a new lesion the reader is not sure of (RANO-BM: continue, back-date if confirmed)
    unequivocal_progression: bool = False  # a non-target lesion the reader calls unequivocally progressed
    # Measured from the images: what found it (automatic detection's pass, a reader's seed, a click at its place on
    # another scan), the confidence for the program's own findings and how clearly it enhances (lesions.segment).
    found_by: str | None = None


@dataclass(frozen=True, eq=False)
class LesionMask:
    """The voxels of one lesion at one timepoint, on a reference grid (the timepoint's T1c).

    Produced by the lesions stage (or imported from NIfTI / DICOM SEG / RTSTRUCT); the map stages
    resample it to their own grid with :func:`pseudoprog.align.resample.resample_mask`.
    """

    lesion_id: str
    enhancing: np.ndarray  # bool (i, j, k)
    affine: np.ndarray  # RAS+ mm of the grid the masks are on
    core: np.ndarray | None = None  # non-enhancing core: necrosis / cavity
    flair: np.ndarray | None = None  # FLAIR / T2 abnormality (including the lesion)
    source: str = ""  # "lesions.segmentation", "imported:SEG", "phantom truth" ...

    @property
    def voxel_volume_mm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))


@dataclass(frozen=True)
class LesionSeed:
    """Where a reader says a lesion is (case.yaml ``lesions[].seed``), for semi-automatic segmentation.

    ``space`` is ``"mm"`` (RAS world millimetres, as a viewer shows them) or ``"voxel"`` (indices
    ``i, j, k`` of the timepoint's post-contrast T1). Exactly one of ``point`` (searched within
    ``radius_mm``) or ``box`` (two opposite corners) is given.
    """

    lesion_id: str
    space: str = "mm"
    point: tuple[float, float, float] | None = None
    box: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    radius_mm: float = 10.0


@dataclass(frozen=True)
class MaskSource:
    """A lesion mask drawn elsewhere (case.yaml ``lesions[].mask`` or ``timepoints[].mask``).

    ``lesion_id`` None: a label map of the whole timepoint whose enhancing components are the
    lesions. The file is NIfTI, DICOM SEG or RTSTRUCT in the session's world space.
    """

    path: Path
    lesion_id: str | None = None
    label: int | None = None  # NIfTI label value of this lesion (default: any non-zero)
    segment: int | None = None  # DICOM SEG segment number
    roi: str | None = None  # RTSTRUCT ROI name
    enhancing_labels: tuple[int, ...] = ()  # timepoint label maps (NIfTI): default any non-zero
    core_labels: tuple[int, ...] = ()
    flair_labels: tuple[int, ...] = ()


# ---------------------------------------------------------------------------------------------
# Timepoints and the case
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timepoint:
    date: dt.date
    clinical_status: ClinicalStatus = ClinicalStatus.UNKNOWN
    steroids_mg_dexamethasone: float | None = None
    image_dir: Path | None = None
    series: tuple[Series, ...] = ()
    lesions: tuple[Lesion, ...] = ()
    markers: Mapping[str, Marker] = field(default_factory=dict)
    flair_change: FlairChange = FlairChange.UNKNOWN
    histology: str | None = None  # biopsy/resection result at this date, if any (free text)
    notes: str = ""
    seeds: tuple[LesionSeed, ...] = ()  # semi-automatic segmentation (lesions stage)
    masks: tuple[MaskSource, ...] = ()  # imported lesion masks (lesions stage)
    histology_result: HistologyResult | None = None  # the same result, coded for the response criteria
    # The session's contrast agent and field strength as case.yaml gives them: NIfTI sidecars often lack them, and
    # the DCE relaxivity depends on both (perfusion/data/dce_constants.yaml).
    contrast_agent: str | None = None
    field_strength_t: float | None = None
    # Why new lesions were not looked for on this scan's images (the lesions stage sets it when automatic detection
    # refused the scan and only the known lesions were looked for at their places): the criteria then call no
    # response and no stable disease at this scan, which both need "no new lesion".
    new_lesions_not_searched: str | None = None

    def series_of(self, kind: SeriesKind) -> tuple[Series, ...]:
        return tuple(s for s in self.series if s.kind is kind)

    def best_series(self, kind: SeriesKind) -> Series | None:
        """Of several series of one kind, the one with the most voxels (the 3D acquisition, not a scout)."""
        found = self.series_of(kind)
        if not found:
            return None
        return max(found, key=lambda s: math.prod(s.shape) if s.shape else 0)

    def reference_t1c(self) -> Series | None:
        """The session's post-contrast T1 that lesions are segmented, measured and drawn on: the one rule for it."""
        return self.best_series(SeriesKind.T1C)


@dataclass(frozen=True)
class Case:
    patient: Patient
    diagnosis: Diagnosis
    treatments: tuple[Treatment, ...]
    timepoints: tuple[Timepoint, ...]  # sorted by date
    indication: Indication = Indication.NEW_OR_ENLARGING_ENHANCEMENT
    root: Path | None = None  # the case folder
    rtdose: Path | None = None  # RT dose (DICOM RTDOSE) for location against the field
    series_overrides: Mapping[str, SeriesKind] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.patient.id

    @property
    def latest(self) -> Timepoint:
        return self.timepoints[-1]

    def treatments_of(self, *types: TreatmentType) -> tuple[Treatment, ...]:
        return tuple(t for t in self.treatments if t.type in types)

    def radiation_courses(self) -> tuple[Treatment, ...]:
        return tuple(t for t in self.treatments if t.type.is_radiation)

    def end_of_radiotherapy(self, before: dt.date | None = None) -> dt.date | None:
        """Last day of the most recent radiation course that ended on or before ``before``."""
        ends = [t.last_day for t in self.radiation_courses() if before is None or t.last_day <= before]
        return max(ends) if ends else None

    def weeks_since_radiotherapy(self, on: dt.date) -> float | None:
        end = self.end_of_radiotherapy(before=on)
        return None if end is None else (on - end).days / 7.0
