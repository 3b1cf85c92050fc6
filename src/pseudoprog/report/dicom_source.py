"""The source images a DICOM output references: one dataset per slice, in the order of the loaded volume.

SEG, Parametric Map and SR objects are derived from a source series; highdicom takes their
position, orientation, frame of reference, patient and study from it. The slices are ordered
exactly as :func:`pseudoprog.ingest.load_series` orders them (along the slice normal), so slice
``k`` of a mask or map on the series' grid is frame ``k`` of the output. A dynamic or multi-b-value
series contributes its first frame at each position (all frames of a position share the geometry).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from io import BytesIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from ..align.resample import resample_mask, resample_to_grid
from ..case import Series
from ..errors import CannotAssessError
from ..ingest import dicom
from ..ingest.series import dicom_stack

# Equipment attributes every output carries (Type 1 in the enhanced general equipment module).
MANUFACTURER = "pseudoprog"
MODEL_NAME = "pseudoprog decision support"
DEVICE_SERIAL = "pseudoprog"


# highdicom warns when a person name has one component and quotes it: 'The string "<PatientName>" is unlikely to
# represent the intended person name …'. Names are copied from the source as they are; the warning would print the
# patient's name on the console and into the service's logs.
_QUOTES_A_NAME = r"The string .* is unlikely to represent the intended person name"


def quiet_identifying_warnings() -> None:
    """Keep library warnings that quote a patient's name out of the console and the logs (idempotent)."""
    warnings.filterwarnings("ignore", message=_QUOTES_A_NAME, category=UserWarning)


quiet_identifying_warnings()  # every DICOM output (SEG, Parametric Map, SR) is built from a SourceStack


@dataclass(frozen=True, eq=False)
class SourceStack:
    """The single-frame source datasets of one series, slice ``k`` at index ``k``, and their grid."""

    series: Series
    datasets: tuple[Dataset, ...]
    affine: np.ndarray  # RAS+ mm, as loaded by pseudoprog.ingest
    shape: tuple[int, int, int]  # (i = columns, j = rows, k = slices)

    def to_frames(self, volume: np.ndarray) -> np.ndarray:
        """(i, j, k[, n]) array on this grid → (k, rows, columns[, n]) frames, as highdicom takes them."""
        if volume.shape[:3] != self.shape:
            raise ValueError(f"array shape {volume.shape[:3]} does not match the source grid {self.shape}")
        axes = (2, 1, 0, *range(3, volume.ndim))
        return np.ascontiguousarray(np.transpose(volume, axes))

    def same_grid(self, affine: np.ndarray, shape: tuple[int, ...]) -> bool:
        return tuple(shape[:3]) == self.shape and bool(np.allclose(affine, self.affine, atol=1e-3))

    def mask_on_grid(self, mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """A boolean mask carried onto this grid (unchanged when it is already on it)."""
        if self.same_grid(affine, mask.shape):
            return mask.astype(bool)
        return resample_mask(mask, affine, self.affine, self.shape)

    def map_on_grid(self, data: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """A 3D map carried onto this grid by trilinear interpolation (unchanged when already on it)."""
        if self.same_grid(affine, data.shape):
            return data
        return resample_to_grid(data, affine, self.affine, self.shape, order=1, fill=np.nan)


def load_source_stack(series: Series) -> SourceStack:
    """Read the datasets of a DICOM series, one per slice position, in the loaded volume's order.

    Raises
    ------
    CannotAssessError
        If the series is not DICOM, or lacks a FrameOfReferenceUID (a SEG needs one).
    InputError
        If its files cannot be read or its geometry is inconsistent.
    """
    if series.source_format != "dicom":
        raise CannotAssessError(
            f"series '{series.description}' is {series.source_format}, not DICOM: DICOM outputs need DICOM source "
            "images to reference"
        )
    headers, frames, label = dicom_stack(series)
    layout = dicom.layout_stack(frames, label=label)
    affine, _warnings = dicom.stack_affine(layout, label=label)
    firsts = [group[0] for group in layout.slices]
    if any(fr.frame_index is not None for fr in firsts):
        raise CannotAssessError(
            f"series '{series.description}' is an enhanced multi-frame object: DICOM outputs are written only "
            "for classic single-frame source series"
        )
    # The headers the run already read (pixels are not needed to reference a source image).
    datasets = tuple(_source_dataset(fr, headers.first) for fr in firsts)
    if not getattr(datasets[0], "FrameOfReferenceUID", None):
        raise CannotAssessError(f"series '{series.description}' has no FrameOfReferenceUID to reference")
    first = firsts[0]
    return SourceStack(series=series, datasets=datasets, affine=affine, shape=(first.columns, first.rows, len(firsts)))


def _source_dataset(frame: dicom.FrameRecord, template: Dataset) -> Dataset:
    """The dataset of the file holding ``frame``, as the run read it.

    A file this process parsed: its header, kept by the run's file index. A file a worker process parsed (the
    large dynamic series, ``ingest.parse_workers``): the worker kept what the run needs of it, not its dataset,
    so it is rebuilt from the series' representative header and the frame's own identity and plane
    (:func:`reference_header`) rather than parsed a second time. Outside a file index: read from disk.
    """
    index = dicom.active_index()
    if index is None:
        return pydicom.dcmread(frame.path)
    with index.lock:
        ds = index.headers.get(frame.path)
        by_worker = frame.path in index.parsed
    if ds is None and by_worker and frame.tile is None and frame.sop_instance_uid and frame.position is not None:
        return reference_header(template, frame)
    ds = ds if ds is not None else dicom.read_header(frame.path)
    return ds if ds is not None else pydicom.dcmread(frame.path)


# Attributes that differ from one file of a series to the next and that a reference header cannot know (the
# frame record does not carry them): left out rather than copied from another file of the series.
_PER_INSTANCE = frozenset(
    {
        "AcquisitionDate", "AcquisitionDateTime", "AcquisitionNumber", "AcquisitionTime", "ContentDate",
        "ContentTime", "ImageComments", "InstanceCreationDate", "InstanceCreationTime", "LargestImagePixelValue",
        "ReferencedImageSequence", "RescaleIntercept", "RescaleSlope", "SliceLocation", "SmallestImagePixelValue",
        "SourceImageSequence", "TemporalPositionIdentifier", "TriggerTime", "WindowCenter",
        "WindowCenterWidthExplanation", "WindowWidth",
    }
)  # fmt: skip
_PIXEL_DATA = 0x7FE00010


def reference_header(template: Dataset, frame: dicom.FrameRecord) -> Dataset:
    """The header an output needs to reference ``frame``'s file, without reading that file again.

    ``template`` is another file of the same series (patient, study, series, frame of reference and equipment
    are the series'); the file's own identity (SOP class and instance UIDs, instance number) and plane
    (position, orientation, pixel spacing, slice thickness, matrix) come from the frame record its parse left.
    Per-instance attributes the record does not hold (``_PER_INSTANCE``) and the pixel data are left out.
    """
    ds = Dataset()
    for tag in template.keys():
        if int(tag) >= _PIXEL_DATA:
            continue
        elem = template[tag]
        if elem.keyword not in _PER_INSTANCE:
            ds.add(copy.copy(elem))  # a copy: setting a value below changes the element, not the template's
    ds.SOPClassUID = frame.sop_class_uid or template.SOPClassUID
    ds.SOPInstanceUID = frame.sop_instance_uid
    if frame.instance_number is not None:
        ds.InstanceNumber = frame.instance_number
    elif "InstanceNumber" in ds:
        del ds.InstanceNumber
    ds.ImagePositionPatient = [float(v) for v in frame.position or ()]
    if frame.orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in frame.orientation]
    if frame.pixel_spacing is not None:
        ds.PixelSpacing = [float(v) for v in frame.pixel_spacing]
    if frame.slice_thickness is not None:
        ds.SliceThickness = frame.slice_thickness
    ds.Rows, ds.Columns = frame.rows, frame.columns
    return ds


def encode_dataset(dataset: Dataset) -> bytes:
    """A dataset as the bytes of a DICOM Part 10 file (to be written atomically).

    De-identification (``--deidentify``) is applied to the finished output folder (report/deidentify.py
    ``deidentify_folder``), not here.
    """
    buf = BytesIO()
    dataset.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
