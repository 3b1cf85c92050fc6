"""DICOM Segmentation (SEG) of the lesion masks of one timepoint, on the source T1c's frames.

One binary segment per lesion part (enhancing, non-enhancing core, FLAIR abnormality); segments may
overlap (the FLAIR abnormality contains the lesion). The tracking UID of a lesion is derived from
the case and lesion id, so the same lesion carries the same tracking UID at every timepoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from ..case import LesionMask
from ..files import write_atomic
from .dicom_source import DEVICE_SERIAL, MANUFACTURER, MODEL_NAME, SourceStack, encode_dataset

# Neutral codes on purpose: whether enhancing tissue is tumour or treatment effect is the question
# being asked, so the SEG does not call it "neoplasm".
_CATEGORY = codes.SCT.MorphologicallyAbnormalStructure
_PARTS = {
    "enhancing": ("enhancing", codes.SCT.Lesion),
    "core": ("non-enhancing core", codes.SCT.Lesion),
    "flair": ("FLAIR abnormality", codes.SCT.Edema),
}


@dataclass(frozen=True)
class SegmentInfo:
    number: int
    lesion_id: str
    part: str  # "enhancing" | "core" | "flair"
    tracking_uid: str


@dataclass(frozen=True)
class WrittenSeg:
    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    segments: tuple[SegmentInfo, ...]
    dataset: hd.seg.Segmentation


def lesion_tracking_uid(case_id: str, lesion_id: str, part: str = "enhancing") -> str:
    """A UID stable across timepoints and runs for one part of one lesion of one case."""
    return str(generate_uid(entropy_srcs=["pseudoprog-lesion", case_id, lesion_id, part]))


def write_lesion_seg(
    masks: Sequence[LesionMask],
    source: SourceStack,
    path: Path,
    *,
    case_id: str,
    software_version: str,
    series_number: int = 900,
) -> WrittenSeg:
    """Write the lesion masks of one timepoint as a binary SEG referencing the source series.

    Parameters
    ----------
    masks
        Lesion masks; each is carried onto the source grid if it is not already on it.
    source
        The source series' datasets and grid (normally the timepoint's T1c).
    path
        Where to write the ``.dcm`` (atomically).
    case_id
        Used for the lesions' tracking UIDs (never written as a name).
    software_version
        pseudoprog's version, recorded in SoftwareVersions.
    series_number
        SeriesNumber of the SEG series.

    Raises
    ------
    ValueError
        If there is no mask, a lesion id repeats, or every mask is empty.
    """
    if not masks:
        raise ValueError("no lesion mask to write")
    ids = [m.lesion_id for m in masks]
    if len(set(ids)) != len(ids):
        raise ValueError(f"lesion ids repeat: {ids}")
    if series_number < 1:
        raise ValueError(f"series_number must be positive, got {series_number}")
    arrays: list[np.ndarray] = []
    descriptions: list[hd.seg.SegmentDescription] = []
    infos: list[SegmentInfo] = []
    for mask in masks:
        algorithm_type = "MANUAL" if mask.source.startswith("imported") else "AUTOMATIC"
        algorithm = (
            None
            if algorithm_type == "MANUAL"
            else hd.AlgorithmIdentificationSequence(
                name=(mask.source or "pseudoprog lesions")[:64],
                family=codes.DCM.Segmentation,
                version=software_version,
            )
        )
        for part, array in (("enhancing", mask.enhancing), ("core", mask.core), ("flair", mask.flair)):
            if array is None:
                continue
            on_grid = source.mask_on_grid(array, mask.affine)
            if not on_grid.any():
                continue
            label, prop = _PARTS[part]
            tracking_uid = lesion_tracking_uid(case_id, mask.lesion_id, part)
            number = len(descriptions) + 1
            descriptions.append(
                hd.seg.SegmentDescription(
                    segment_number=number,
                    segment_label=f"{mask.lesion_id} {label}",
                    segmented_property_category=_CATEGORY,
                    segmented_property_type=prop,
                    algorithm_type=algorithm_type,
                    algorithm_identification=algorithm,
                    tracking_uid=tracking_uid,
                    tracking_id=f"{mask.lesion_id} {label}",
                )
            )
            arrays.append(on_grid)
            infos.append(SegmentInfo(number, mask.lesion_id, part, tracking_uid))
    if not arrays:
        raise ValueError("every lesion mask is empty on the source grid: no segment to write")
    pixels = source.to_frames(np.stack(arrays, axis=-1).astype(np.uint8))
    seg = hd.seg.Segmentation(
        source_images=list(source.datasets),
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=software_version,
        device_serial_number=DEVICE_SERIAL,
        series_description="pseudoprog lesion masks",
        content_label="LESIONS",
        content_description="lesion masks (decision support)",
    )
    write_atomic(path, encode_dataset(seg))
    return WrittenSeg(
        path=path,
        sop_class_uid=str(seg.SOPClassUID),
        sop_instance_uid=str(seg.SOPInstanceUID),
        series_instance_uid=str(seg.SeriesInstanceUID),
        segments=tuple(infos),
        dataset=seg,
    )
