"""Worked example cases for the criteria's documentation (their doctests run with the tests).

>>> [tp.lesions[0].measurement.long_mm for tp in early_in_field_growth().timepoints]
[20.0, 30.0]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..case import Case
from ..ingest.caseyaml import parse_case


def _scan(date: str, long_mm: float, perp_mm: float) -> dict[str, Any]:
    lesion = {"id": "L1", "long_mm": long_mm, "perp_mm": perp_mm, "location_vs_rt": "in_field"}
    return {
        "date": date,
        "clinical_status": "stable",
        "steroids_mg_dexamethasone": 0,
        "flair_change": "stable",
        "lesions": [lesion],
    }


def early_in_field_growth() -> Case:
    """A glioblastoma whose in-field lesion grows from 20 × 20 to 30 × 25 mm 8 weeks after chemoradiation."""
    chemoradiation = {
        "type": "chemoradiation",
        "start": "2025-02-03",
        "end": "2025-03-14",
        "dose_gy": 60,
        "fractions": 30,
        "agent": "temozolomide",
    }
    doc = {
        "patient": {"id": "P1"},
        "diagnosis": {"type": "glioblastoma", "date": "2025-01-06"},
        "treatments": [chemoradiation],
        "timepoints": [_scan("2025-04-11", 20, 20), _scan("2025-05-09", 30, 25)],
    }
    case, _ = parse_case(doc, file=Path("case.yaml"), root=Path("."))
    return case
