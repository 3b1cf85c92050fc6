"""DICOM Comprehensive 3D SR (TID 1500 Measurement Report) of one timepoint.

For every lesion: its diameters, bidimensional product and volumes, and the markers computed or
reported for it, in a measurement group with the time point (date and order in the case) and the
lesion's tracking identifier (the same UID the SEG gives the lesion's enhancing segment). Where a
SEG was written, the group references the lesion's segment. At the latest timepoint one more group
holds the response call and the probability of true progression with its interval.

Concepts without a standard code (the bidimensional product, the response category values, the
probability interval) use the private coding scheme ``99PSPROG``, as DICOM PS3.16 §8 allows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from ..assessment import ProbabilityEstimate, ResponseCall
from ..case import Lesion, Marker
from ..files import write_atomic
from .dicom_pmap import UNITS
from .dicom_seg import WrittenSeg, lesion_tracking_uid
from .dicom_source import MANUFACTURER, MODEL_NAME, SourceStack, encode_dataset

SCHEME = "99PSPROG"


def local_code(value: str, meaning: str) -> Code:
    """A concept of pseudoprog's private coding scheme (value ≤ 16, meaning ≤ 64 characters)."""
    return Code(re.sub(r"[^A-Za-z0-9.]+", "-", value).strip("-").upper()[:16] or "UNKNOWN", SCHEME, meaning[:64])


_MM = codes.UCUM.Millimeter
_MM2 = codes.UCUM.SquareMillimeter
_MM3 = codes.UCUM.CubicMillimeter
_PERCENT = codes.UCUM.Percent

# Marker name → (concept, derivation). Markers not listed get a private concept of their own name.
MARKER_CONCEPTS: dict[str, tuple[Code, Code | None]] = {
    "rcbv_max": (codes.DCM.RelativeRegionalBloodVolume, codes.SCT.Maximum),
    "rcbv_mean": (codes.DCM.RelativeRegionalBloodVolume, codes.SCT.Mean),
    "rcbf_max": (codes.DCM.RelativeRegionalBloodFlow, codes.SCT.Maximum),
    "ktrans_mean": (codes.DCM.Ktrans, codes.SCT.Mean),
    "ktrans_max": (codes.DCM.Ktrans, codes.SCT.Maximum),
    "vp_mean": (codes.DCM.Vp, codes.SCT.Mean),
    "ve_mean": (codes.DCM.Ve, codes.SCT.Mean),
    "adc_mean": (codes.DCM.ApparentDiffusionCoefficient, codes.SCT.Mean),
    "asl_cbf_max": (codes.DCM.AbsoluteRegionalBloodFlow, codes.SCT.Maximum),
}


@dataclass(frozen=True)
class WrittenSR:
    path: Path
    sop_instance_uid: str
    series_instance_uid: str
    n_groups: int
    skipped: tuple[str, ...]  # values left out, with why (e.g. a unit without a UCUM code)


def _marker_measurement(marker: Marker) -> hd.sr.Measurement | None:
    unit = UNITS.get(marker.unit)
    if unit is None:
        return None
    concept, derivation = MARKER_CONCEPTS.get(marker.name, (local_code(marker.name, marker.name), None))
    return hd.sr.Measurement(name=concept, value=float(marker.value), unit=unit, derivation=derivation)


def _line_coordinates(
    line_mm: tuple[tuple[float, float, float], tuple[float, float, float]] | None, source: SourceStack
) -> list[hd.sr.CoordinatesForMeasurement | hd.sr.CoordinatesForMeasurement3D] | None:
    """Where a diameter was measured, as the SR's "inferred from" coordinates: a two-point POLYLINE on the source
    slice it lies on (column, row; a viewer draws it on that image), else in the frame of reference (SCOORD3D, LPS
    mm) when the lesion was measured on an axial reslice of an oblique or sagittal series."""
    if line_mm is None:
        return None
    ras = np.array([[*p, 1.0] for p in line_mm]).T
    ijk = (np.linalg.inv(source.affine) @ ras)[:3].T
    k = int(np.rint(ijk[0, 2]))
    on_slice = 0 <= k < source.shape[2] and bool(np.all(np.abs(ijk[:, 2] - k) < 0.05))
    if on_slice:
        # DICOM image coordinates: (0, 0) is the top-left corner of the first pixel, so its centre is (0.5, 0.5)
        columns_rows = (ijk[:, :2] + 0.5).astype(np.float32)
        region = hd.sr.SourceImageForRegion.from_source_image(source.datasets[k])
        return [hd.sr.CoordinatesForMeasurement(hd.sr.GraphicTypeValues.POLYLINE, columns_rows, region)]
    lps = (ras[:3].T * np.array([-1.0, -1.0, 1.0])).astype(np.float32)
    frame = str(source.datasets[0].FrameOfReferenceUID)
    return [hd.sr.CoordinatesForMeasurement3D(hd.sr.GraphicTypeValues3D.POLYLINE, lps, frame)]


def _lesion_measurements(lesion: Lesion, source: SourceStack) -> list[hd.sr.Measurement]:
    m = lesion.measurement
    out: list[hd.sr.Measurement] = []
    for concept, length, line in (
        (codes.SCT.LongAxis, m.long_mm, m.long_line_mm),
        (codes.SCT.ShortAxis, m.perp_mm, m.perp_line_mm),
    ):
        if length is not None:
            coordinates = _line_coordinates(line, source)
            out.append(hd.sr.Measurement(concept, float(length), _MM, referenced_coordinates=coordinates))
    if m.bidimensional_product_mm2 is not None:
        out.append(
            hd.sr.Measurement(
                name=local_code("BIDIM-PRODUCT", "Product of perpendicular diameters"),
                value=float(m.bidimensional_product_mm2),
                unit=_MM2,
            )
        )
    if m.enhancing_volume_mm3 is not None:
        out.append(hd.sr.Measurement(name=codes.SCT.Volume, value=float(m.enhancing_volume_mm3), unit=_MM3))
    if m.core_volume_mm3 is not None:
        out.append(
            hd.sr.Measurement(
                name=local_code("CORE-VOLUME", "Non-enhancing core volume"), value=float(m.core_volume_mm3), unit=_MM3
            )
        )
    if m.flair_volume_mm3 is not None:
        out.append(
            hd.sr.Measurement(
                name=local_code("FLAIR-VOLUME", "FLAIR abnormality volume"), value=float(m.flair_volume_mm3), unit=_MM3
            )
        )
    return out


def write_measurement_sr(
    source: SourceStack,
    path: Path,
    *,
    case_id: str,
    date: dt.date,
    time_point_order: int,
    lesions: Sequence[Lesion],
    markers: Sequence[Marker],
    software_version: str,
    seg: WrittenSeg | None = None,
    response: ResponseCall | None = None,
    probability: ProbabilityEstimate | None = None,
    series_number: int = 920,
) -> WrittenSR:
    """Write the TID 1500 measurement report of one timepoint.

    Parameters
    ----------
    source
        The series the measurements were made on (the timepoint's T1c); its study receives the SR.
    path
        Where to write the ``.dcm`` (atomically).
    case_id
        For the lesions' tracking UIDs (never written as a name).
    date, time_point_order
        The time point context (ISO date; 1 for the first scan of the case).
    lesions, markers
        What was measured at this timepoint. A marker without ``lesion_id`` belongs to the first lesion.
    software_version
        pseudoprog's version (recorded in the device observer and SoftwareVersions).
    seg
        The SEG written for this timepoint, whose enhancing segments the lesion groups reference.
    response, probability
        The response call and probability (given for the latest timepoint only).
    series_number
        SeriesNumber of the SR series.

    Raises
    ------
    ValueError
        If ``time_point_order`` is not positive, or there is nothing to report.
    """
    if time_point_order < 1:
        raise ValueError(f"time_point_order must be ≥ 1, got {time_point_order}")
    if series_number < 1:
        raise ValueError(f"series_number must be positive, got {series_number}")
    time_point = hd.sr.TimePointContext(time_point=date.isoformat(), time_point_order=time_point_order)
    segments = {s.lesion_id: s for s in (seg.segments if seg else ()) if s.part == "enhancing"}
    series_uid = str(source.datasets[0].SeriesInstanceUID)
    skipped: list[str] = []
    groups: list[
        hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations | hd.sr.MeasurementsAndQualitativeEvaluations
    ] = []
    for index, lesion in enumerate(lesions):
        measurements = _lesion_measurements(lesion, source)
        mine = [mk for mk in markers if mk.lesion_id == lesion.id or (mk.lesion_id is None and index == 0)]
        mine += [mk for mk in lesion.markers.values() if mk not in mine]
        for marker in mine:
            item = _marker_measurement(marker)
            if item is None:
                skipped.append(f"{lesion.id} {marker.name}: unit {marker.unit!r} has no UCUM code")
            else:
                measurements.append(item)
        if not measurements:
            skipped.append(f"{lesion.id}: no measurement")
            continue
        tracking = hd.sr.TrackingIdentifier(uid=lesion_tracking_uid(case_id, lesion.id), identifier=lesion.id)
        if seg is not None and lesion.id in segments and any(item.referenced_coordinates for item in measurements):
            # A volumetric group (TID 1411) takes no coordinates: the diameters with their lines go in an image
            # measurement group (TID 1501) of the same finding (same tracking identifier), beside the segment's.
            lines = [item for item in measurements if item.name in (codes.SCT.LongAxis, codes.SCT.ShortAxis)]
            measurements = [item for item in measurements if item not in lines]
            groups.append(_lesion_group(tracking, time_point, lines))
        if seg is not None and lesion.id in segments:
            groups.append(
                hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                    tracking_identifier=tracking,
                    referenced_segment=hd.sr.ReferencedSegment(
                        sop_class_uid=seg.sop_class_uid,
                        sop_instance_uid=seg.sop_instance_uid,
                        segment_number=segments[lesion.id].number,
                        source_series=hd.sr.SourceSeriesForSegmentation(series_uid),
                    ),
                    time_point_context=time_point,
                    finding_type=codes.SCT.Lesion,
                    measurements=measurements,
                )
            )
        else:
            groups.append(_lesion_group(tracking, time_point, measurements))
    overall = _overall_group(time_point, response, probability)
    if overall is not None:
        groups.append(overall)
    if not groups:
        raise ValueError(f"nothing to report at {date}: no lesion measurement, response call or probability")
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=str(hd.UID()), name="pseudoprog", manufacturer_name=MANUFACTURER, model_name=MODEL_NAME
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=codes.SCT.ImagingProcedure,
        imaging_measurements=groups,
    )
    evidence = list(source.datasets) + ([seg.dataset] if seg is not None else [])
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,
        is_verified=False,
        series_description="pseudoprog measurements",
        software_versions=software_version,
    )
    # Declare the private coding scheme (PS3.3 C.12.1.1.9: Coding Scheme Identification).
    scheme = Dataset()
    scheme.CodingSchemeDesignator = SCHEME
    scheme.CodingSchemeName = "pseudoprog local concepts"
    scheme.CodingSchemeResponsibleOrganization = "pseudoprog project"
    sr.CodingSchemeIdentificationSequence = [scheme]
    write_atomic(path, encode_dataset(sr))
    return WrittenSR(
        path=path,
        sop_instance_uid=str(sr.SOPInstanceUID),
        series_instance_uid=str(sr.SeriesInstanceUID),
        n_groups=len(groups),
        skipped=tuple(skipped),
    )


def _lesion_group(
    tracking: hd.sr.TrackingIdentifier, time_point: hd.sr.TimePointContext, items: list[hd.sr.Measurement]
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """An image measurement group (TID 1501) of one lesion."""
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking, time_point_context=time_point, finding_type=codes.SCT.Lesion, measurements=items
    )


def _overall_group(
    time_point: hd.sr.TimePointContext, response: ResponseCall | None, probability: ProbabilityEstimate | None
) -> hd.sr.MeasurementsAndQualitativeEvaluations | None:
    evaluations: list[hd.sr.QualitativeEvaluation] = []
    measurements: list[hd.sr.Measurement] = []
    if response is not None and response.category:
        evaluations.append(
            hd.sr.QualitativeEvaluation(
                name=codes.DCM.CurrentResponse,
                value=local_code(response.category, f"{response.category} ({response.criteria})"),
            )
        )
    if probability is not None and probability.value is not None:
        measurements.append(
            hd.sr.Measurement(
                name=local_code("P-TRUE-PROG", "Probability of true progression"),
                value=100.0 * float(probability.value),
                unit=_PERCENT,
            )
        )
        if probability.interval is not None:
            low, high = probability.interval
            measurements.append(
                hd.sr.Measurement(
                    name=local_code("P-TRUE-PROG-LOW", "Probability of true progression, interval lower bound"),
                    value=100.0 * float(low),
                    unit=_PERCENT,
                )
            )
            measurements.append(
                hd.sr.Measurement(
                    name=local_code("P-TRUE-PROG-HIGH", "Probability of true progression, interval upper bound"),
                    value=100.0 * float(high),
                    unit=_PERCENT,
                )
            )
        if probability.label:
            evaluations.append(
                hd.sr.QualitativeEvaluation(
                    name=local_code("ASSESSMENT", "Progression versus treatment effect"),
                    value=local_code(probability.label, probability.label),
                )
            )
    if not evaluations and not measurements:
        return None
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=str(hd.UID()), identifier="overall assessment"),
        time_point_context=time_point,
        measurements=measurements or None,
        qualitative_evaluations=evaluations or None,
    )
