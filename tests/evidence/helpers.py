"""Small case builders for the evidence tests (no images: reported values only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pseudoprog.case import (
    Case,
    ClinicalStatus,
    Diagnosis,
    DiagnosisType,
    Lesion,
    LesionMeasurement,
    LocationVsRT,
    MarkerStatus,
    Patient,
    Timepoint,
    Treatment,
    TreatmentType,
)
from pseudoprog.markers import make_marker

RT_END = dt.date(2026, 3, 13)


def glioma_case(
    *,
    weeks_after_rt: float = 20.4,
    markers: Mapping[str, float] | None = None,
    mgmt: MarkerStatus = MarkerStatus.UNKNOWN,
    clinical: ClinicalStatus = ClinicalStatus.UNKNOWN,
    location: LocationVsRT = LocationVsRT.IN_FIELD,
) -> Case:
    """A glioblastoma after 60 Gy chemoradiation with an enlarging lesion ``weeks_after_rt`` after RT."""
    scan = RT_END + dt.timedelta(days=round(7 * weeks_after_rt))
    prior_scan = RT_END + dt.timedelta(days=21)
    marks = {k: make_marker(k, v, source="reported") for k, v in (markers or {}).items()}
    return Case(
        patient=Patient("T-1", 58),
        diagnosis=Diagnosis(DiagnosisType.GLIOBLASTOMA, idh=MarkerStatus.WILDTYPE, mgmt=mgmt),
        treatments=(
            Treatment(TreatmentType.SURGERY, dt.date(2026, 1, 5), extent="gross_total"),
            Treatment(TreatmentType.CHEMORADIATION, dt.date(2026, 2, 2), RT_END, dose_gy=60, fractions=30),
        ),
        timepoints=(
            Timepoint(
                prior_scan,
                lesions=(Lesion("L1", LesionMeasurement(long_mm=10, perp_mm=8), location_vs_rt=location),),
            ),
            Timepoint(
                scan,
                clinical_status=clinical,
                markers=marks,
                lesions=(Lesion("L1", LesionMeasurement(long_mm=15, perp_mm=12), location_vs_rt=location),),
            ),
        ),
    )
