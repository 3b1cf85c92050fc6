"""DICOM Parametric Map of one quantitative map (rCBV, CBF, Ktrans, ADC ...) on its source series' frames.

The pixels are stored as 32-bit floats in the map's own unit, with a Real World Value Mapping
(identity slope and intercept) that names the quantity and its UCUM unit, so a PACS viewer shows
real values (an ADC of 1.1e-3 mm²/s, not a scaled integer). Voxels where the map has no value are
stored as 0 and the mapping's explanation says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

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
    pm = hd.pm.ParametricMap(
        source_images=list(source.datasets),
        pixel_array=source.to_frames(values),
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
        # LINEAR_EXACT: map values (an ADC of 1e-3 mm²/s) need window widths below 1.
        voi_lut_transformations=[
            hd.VOILUTTransformation(window_center=p2 + width / 2, window_width=width, voi_lut_function="LINEAR_EXACT")
        ],
        series_description=f"pseudoprog {label}",
        content_label=label.upper().replace(" ", "_")[:16],
        content_description=f"{label} map ({ucum.meaning})"[:64],
    )
    # Frame Anatomy is a mandatory functional group of the Parametric Map IOD: the brain, unpaired.
    anatomy = Dataset()
    anatomy.AnatomicRegionSequence = [hd.sr.CodedConcept.from_code(codes.SCT.Brain)]
    anatomy.FrameLaterality = "U"
    pm.SharedFunctionalGroupsSequence[0].FrameAnatomySequence = [anatomy]
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
