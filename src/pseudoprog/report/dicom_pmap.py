"""DICOM Parametric Map of one quantitative map (rCBV, CBF, Ktrans, ADC ...) on its source series' frames.

The pixels are stored as 32-bit floats in the map's own unit, with a Real World Value Mapping
(identity slope and intercept) that names the quantity and its UCUM unit, so a PACS viewer shows
real values (an ADC of 1.1e-3 mm²/s, not a scaled integer). Voxels where the map has no value are
stored as 0 and the mapping's explanation says so.
"""

from __future__ import annotations

import copy
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.charset import convert_encodings
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_sequence
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.valuerep import DA, DT, TM

from ..files import write_atomic
from .dicom_source import DEVICE_SERIAL, MANUFACTURER, MODEL_NAME, SourceStack, encode_dataset

# pseudoprog unit string (pseudoprog.markers / MapOutput.unit) → UCUM code.
UNITS: dict[str, Code] = {
    "ratio": codes.UCUM.NoUnits,
    "fraction": codes.UCUM.NoUnits,
    "1": codes.UCUM.NoUnits,
    "ml/100g/min": Code("ml/(100.g)/min", "UCUM", "milliliter per 100 gram per minute"),
    "ml/100g": Code("ml/(100.g)", "UCUM", "milliliter per 100 gram"),
    "1/min": Code("/min", "UCUM", "per minute"),
    "mm2/s": Code("mm2/s", "UCUM", "square millimeter per second"),
    "s": Code("s", "UCUM", "second"),
    "ms": Code("ms", "UCUM", "millisecond"),
}

# Map name → (quantity code, label). DCM codes from PS3.16 (CID 7180 / 4107 family).
QUANTITIES: dict[str, tuple[Code, str]] = {
    "rcbv": (codes.DCM.RelativeRegionalBloodVolume, "rCBV"),
    "rcbf": (codes.DCM.RelativeRegionalBloodFlow, "rCBF"),
    "cbv": (codes.DCM.AbsoluteRegionalBloodVolume, "CBV"),
    "cbf": (codes.DCM.AbsoluteRegionalBloodFlow, "CBF"),
    "asl_cbf": (codes.DCM.AbsoluteRegionalBloodFlow, "ASL CBF"),
    "ktrans": (codes.DCM.Ktrans, "Ktrans"),
    "ve": (codes.DCM.Ve, "ve"),
    "vp": (codes.DCM.Vp, "vp"),
    "adc": (codes.DCM.ApparentDiffusionCoefficient, "ADC"),
}


@dataclass(frozen=True)
class WrittenMap:
    path: Path
    name: str
    sop_instance_uid: str
    series_instance_uid: str
    unit: str
    value_range: tuple[float, float]
    resampled: bool  # True when the map was carried onto the source grid


def write_parametric_map(
    data: np.ndarray,
    affine: np.ndarray,
    source: SourceStack,
    path: Path,
    *,
    name: str,
    unit: str,
    software_version: str,
    series_number: int = 910,
) -> WrittenMap:
    """Write one 3D map as a Parametric Map referencing its source series.

    Parameters
    ----------
    data, affine
        The map (i, j, k) and its RAS+ affine; carried onto the source grid if not already on it.
    source
        The series the map was computed from (DSC for rCBV, DWI for ADC ...).
    path
        Where to write the ``.dcm`` (atomically).
    name
        A key of :data:`QUANTITIES` (``rcbv``, ``cbf``, ``ktrans``, ``adc`` ...).
    unit
        A key of :data:`UNITS` (the map's unit as pseudoprog writes it).
    software_version
        pseudoprog's version, recorded in SoftwareVersions.
    series_number
        SeriesNumber of the new series.

    Raises
    ------
    ValueError
        If the name or unit is unknown, the map is not 3D, or it holds no finite value.
    """
    if name not in QUANTITIES:
        raise ValueError(f"no DICOM quantity is defined for map {name!r}; known: {', '.join(QUANTITIES)}")
    if unit not in UNITS:
        raise ValueError(f"unit {unit!r} of map {name!r} has no UCUM code; known: {', '.join(UNITS)}")
    if data.ndim != 3:
        raise ValueError(f"a parametric map must be 3D, got shape {data.shape}")
    if series_number < 1:
        raise ValueError(f"series_number must be positive, got {series_number}")
    resampled = not source.same_grid(affine, data.shape)
    on_grid = source.map_on_grid(data.astype(np.float32), affine).astype(np.float32)
    finite = np.isfinite(on_grid)
    if not finite.any():
        raise ValueError(f"map {name!r} holds no finite value on the source grid")
    values = np.where(finite, on_grid, 0.0).astype(np.float32)
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1.0
    quantity, label = QUANTITIES[name]
    ucum = UNITS[unit]
    mapping = hd.pm.RealWorldValueMapping(
        lut_label=label[:16],
        lut_explanation=f"{label} in {ucum.meaning}; 0 where not computed"[:64],
        unit=ucum,
        value_range=(lo, hi),
        slope=1.0,
        intercept=0.0,
        quantity_definition=quantity,
    )
    p2, p98 = (float(v) for v in np.percentile(values[finite], [2, 98]))
    width = p98 - p2 if p98 > p2 else hi - lo
    # LINEAR_EXACT: map values (an ADC of 1e-3 mm²/s) need window widths below 1.
    window = hd.VOILUTTransformation(window_center=p2 + width / 2, window_width=width, voi_lut_function="LINEAR_EXACT")
    frames = source.to_frames(values)
    names: dict[str, Any] = {
        "series_number": series_number,
        "series_description": f"pseudoprog {label}",
        "content_label": label.upper().replace(" ", "_")[:16],
        "content_description": f"{label} map ({ucum.meaning})"[:64],
    }
    template = _template_for(source, software_version)
    if template is not None:
        pm: Dataset = _map_from_template(template, frames, mapping, window, **names)
    else:  # highdicom did not store one frame per source slice: nothing to share
        pm = highdicom_map(frames, source, mapping, window, software_version=software_version, **names)
    write_atomic(path, encode_dataset(pm))
    return WrittenMap(
        path=path,
        name=name,
        sop_instance_uid=str(pm.SOPInstanceUID),
        series_instance_uid=str(pm.SeriesInstanceUID),
        unit=unit,
        value_range=(lo, hi),
        resampled=resampled,
    )


@dataclass(frozen=True, eq=False)
class _SourceTemplate:
    """A Parametric Map highdicom built on one source series, whose per-frame part every map on it shares.

    Every map written on a source has the same per-frame functional groups (plane positions, derivation
    references), source references and equipment; only the pixels, the value mapping, the window and the
    instance's identity differ. highdicom builds those groups in ~0.1 s per map and pydicom re-encodes them
    on every save, so they are built once per source and kept encoded (``RawDataElement``: written as is).
    """

    dataset: Dataset  # highdicom's map on frames labelled 0..n-1; per-map attributes are replaced
    frame_order: np.ndarray  # frame f of the written map is source frame frame_order[f]
    software_version: str


# Per source stack (one per series during a report); weak, so a finished report frees them.
_TEMPLATES: weakref.WeakKeyDictionary[SourceStack, _SourceTemplate] = weakref.WeakKeyDictionary()
_TEMPLATES_LOCK = threading.Lock()
# Top-level sequences identical on every map of one source: kept encoded in the template.
_SHARED_SEQUENCES = ("PerFrameFunctionalGroupsSequence", "SourceImageSequence", "ReferencedSeriesSequence")


def highdicom_map(
    frames: np.ndarray,
    source: SourceStack,
    mapping: hd.pm.RealWorldValueMapping,
    window: hd.VOILUTTransformation,
    *,
    software_version: str,
    series_number: int,
    series_description: str,
    content_label: str,
    content_description: str,
) -> hd.pm.ParametricMap:
    """The Parametric Map highdicom builds from (k, rows, columns) float32 frames on the source series."""
    pm = hd.pm.ParametricMap(
        source_images=list(source.datasets),
        pixel_array=frames,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=software_version,
        device_serial_number=DEVICE_SERIAL,
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[window],
        series_description=series_description,
        content_label=content_label,
        content_description=content_description,
    )
    # Frame Anatomy is a mandatory functional group of the Parametric Map IOD: the brain, unpaired.
    anatomy = Dataset()
    anatomy.AnatomicRegionSequence = [hd.sr.CodedConcept.from_code(codes.SCT.Brain)]
    anatomy.FrameLaterality = "U"
    pm.SharedFunctionalGroupsSequence[0].FrameAnatomySequence = [anatomy]
    return pm


def _template_for(source: SourceStack, software_version: str) -> _SourceTemplate | None:
    with _TEMPLATES_LOCK:  # the reading-room service writes reports in threads
        cached = _TEMPLATES.get(source)
    if cached is not None and cached.software_version == software_version:
        return cached
    n = source.shape[2]
    # Frame k holds the value k, so the written pixels tell the order highdicom stored the frames in.
    labelled = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, source.shape[1], source.shape[0]))
    placeholder = hd.pm.RealWorldValueMapping(
        lut_label="frame",
        lut_explanation="frame index",
        unit=codes.UCUM.NoUnits,
        value_range=(0.0, float(n)),
        slope=1.0,
        intercept=0.0,
    )
    window = hd.VOILUTTransformation(window_center=n / 2, window_width=float(n), voi_lut_function="LINEAR_EXACT")
    pm = highdicom_map(
        np.ascontiguousarray(labelled),
        source,
        placeholder,
        window,
        software_version=software_version,
        series_number=1,
        series_description="",
        content_label="FRAME",
        content_description="",
    )
    written = np.frombuffer(pm.FloatPixelData, dtype="<f4").reshape(n, -1)
    frame_order = written[:, 0].astype(np.intp)
    if not np.array_equal(np.sort(frame_order), np.arange(n)):
        return None
    encodings = convert_encodings(pm.get("SpecificCharacterSet"))
    for keyword in _SHARED_SEQUENCES:
        if keyword in pm:
            pm[keyword] = _encoded(pm[keyword], encodings)
    template = _SourceTemplate(dataset=pm, frame_order=frame_order, software_version=software_version)
    with _TEMPLATES_LOCK:
        _TEMPLATES[source] = template
    return template


def _encoded(element: DataElement, encodings: list[str]) -> RawDataElement:
    """A sequence element as explicit-VR little-endian bytes that pydicom writes unchanged."""
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_sequence(buffer, element, encodings)
    value = buffer.getvalue()
    return RawDataElement(element.tag, "SQ", len(value), value, 0, False, True)


def _map_from_template(
    template: _SourceTemplate,
    frames: np.ndarray,
    mapping: hd.pm.RealWorldValueMapping,
    window: hd.VOILUTTransformation,
    *,
    series_number: int,
    series_description: str,
    content_label: str,
    content_description: str,
) -> Dataset:
    """The template with this map's pixels, value mapping, window and a new identity: what highdicom would build."""
    pm = Dataset()
    for element in template.dataset.elements():  # shared, never modified: replaced ones get new elements below
        pm.add(element)  # type: ignore[arg-type]  # (a RawDataElement is accepted as is)
    pm.file_meta = copy.deepcopy(template.dataset.file_meta)
    now = datetime.now()
    sop_instance_uid = hd.UID()
    pm.SOPInstanceUID = pm.file_meta.MediaStorageSOPInstanceUID = sop_instance_uid
    pm.SeriesInstanceUID = hd.UID()
    pm.SeriesNumber = series_number
    pm.SeriesDescription = series_description
    pm.ContentLabel = content_label
    pm.ContentDescription = content_description
    pm.InstanceCreationDate = pm.ContentDate = DA(now.date())
    pm.InstanceCreationTime = pm.ContentTime = TM(now.time())
    equipment = copy.deepcopy(template.dataset.ContributingEquipmentSequence)
    for item in equipment:
        if "ContributionDateTime" in item:
            item.ContributionDateTime = DT(now)
    pm.ContributingEquipmentSequence = equipment
    dimension_organization = hd.UID()
    for keyword in ("DimensionOrganizationSequence", "DimensionIndexSequence"):
        sequence = copy.deepcopy(template.dataset[keyword].value)
        for item in sequence:
            item.DimensionOrganizationUID = dimension_organization
        pm[keyword] = DataElement(template.dataset[keyword].tag, "SQ", sequence)
    shared = copy.deepcopy(template.dataset.SharedFunctionalGroupsSequence)
    shared[0].RealWorldValueMappingSequence = [mapping]
    shared[0].FrameVOILUTSequence = [window]
    pm.SharedFunctionalGroupsSequence = shared
    pm.FloatPixelData = np.ascontiguousarray(frames[template.frame_order], dtype="<f4").tobytes()
    # Written in the encoding the kept sequences are in, so pydicom writes them as they are instead of decoding
    # them to look for ambiguous VRs (the template's own were resolved by highdicom; the new items have none).
    pm.set_original_encoding(False, True, convert_encodings(pm.get("SpecificCharacterSet")))
    return pm
