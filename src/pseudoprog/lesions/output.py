"""Write the lesions of a case: ``lesions.json`` and one NIfTI label map per timepoint (native T1c grid).

Label maps use ``10·n + c`` for the n-th lesion of the timepoint (in ``lesions.json`` order) and
component ``c`` (1 enhancing, 2 core, 3 FLAIR abnormality outside both), so one file holds every
lesion and can be opened over the T1c in any viewer. Files are written whole or not at all
(temporary name, then rename). Patient identifiers are not written.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ..files import write_json, write_nifti
from .analysis import CaseLesions, new_lesions_not_searched


def _measurement(m) -> dict[str, Any]:
    d = dataclasses.asdict(m)
    d["bidimensional_product_mm2"] = m.bidimensional_product_mm2
    for key in ("enhancing_volume_mm3", "core_volume_mm3", "flair_volume_mm3"):
        d[key.replace("_mm3", "_ml")] = None if d[key] is None else d[key] / 1000.0
    return d


def lesions_document(result: CaseLesions) -> dict[str, Any]:
    """A JSON-ready description of every timepoint's lesions, the tracking events and the transforms."""
    tps = []
    for date in sorted(result.timepoints):
        tl = result.timepoints[date]
        lesions = []
        for les in result.lesion_objects(date):
            loc = tl.locations.get(les.id)
            found = next(s for s in tl.lesions if s.lesion_id == les.id)
            lesions.append(
                {
                    "id": les.id,
                    "new": les.new,
                    "component": les.component,
                    "method": found.method,
                    # what found it, with the confidence for the program's own findings and its local contrast
                    "found_by": found.found_by or found.method,
                    "confidence": found.confidence,
                    "contrast_local_sd": found.contrast_sd,
                    "measurement": _measurement(les.measurement),
                    "location_vs_rt": les.location_vs_rt.value,
                    "location_detail": None
                    if loc is None
                    else {
                        "fraction_at_80_percent": loc.fraction_in_high,
                        "fraction_at_50_percent": loc.fraction_in_marginal,
                        "reference_dose_gy": loc.reference_dose_gy,
                        "reason": loc.reason,
                    },
                    "markers": {k: {"value": v.value, "unit": v.unit} for k, v in les.markers.items()},
                }
            )
        tps.append(
            {
                "date": date.isoformat(),
                "brain_mask": {
                    "method": tl.brain_method,
                    "volume_ml": float(tl.brain.sum()) * tl.reference.voxel_volume_mm3 / 1000,
                    # Plausibility (align.brainmask.check_brain_mask): image borders that cut it, and what to check.
                    "cut_by_field_of_view": [] if tl.brain_check is None else list(tl.brain_check.cut),
                    "warnings": [] if tl.brain_check is None else list(tl.brain_check.warnings),
                    # Why the mask must have left part of the imaged brain out ("" when it did not).
                    "missing_brain": "" if tl.brain_check is None else tl.brain_check.missing_brain,
                },
                # Why new lesions were not (or only in part) looked for at this scan: automatic detection refused it
                # or judged itself not reliable (only lesions known from other scans were looked for, at their
                # places), or searched a brain mask that left brain out. None: the scan was searched.
                "new_lesions_not_searched": new_lesions_not_searched(tl),
                "registration_to_baseline": None if tl.to_baseline is None else tl.to_baseline.to_dict(),
                "registrations_to_t1c": {k: v.to_dict() for k, v in tl.registrations.items()},
                "lesions": lesions,
                "notes": list(tl.notes),
                "label_map": f"masks/{date.isoformat()}_lesions.nii.gz",
            }
        )
    return {
        "timepoints": tps,
        "tracking_events": [e.to_dict() for e in result.events],
        "not_assessed": [{"timepoint": d.isoformat() if d else None, "reason": r} for d, r in result.skipped],
        "dose_note": result.dose_note,
        "label_map_legend": "value = 10 * (lesion position in the timepoint's list, from 1) + component "
        "(1 enhancing, 2 core, 3 FLAIR abnormality outside both)",
    }


def write_lesions(result: CaseLesions, out_dir: str | Path) -> dict[str, Path]:
    """Write ``lesions.json`` and ``masks/<date>_lesions.nii.gz``; returns what was written."""
    out = Path(out_dir)
    written: dict[str, Path] = {}
    for date in sorted(result.timepoints):
        tl = result.timepoints[date]
        labels = np.zeros(tl.reference.spatial_shape, dtype=np.int16)
        for n, les in enumerate(tl.lesions, start=1):
            if les.flair is not None:
                labels[les.flair & ~(les.enhancing | les.core) & (labels == 0)] = 10 * n + 3
            labels[les.core] = 10 * n + 2
            labels[les.enhancing] = 10 * n + 1
        path = out / "masks" / f"{date.isoformat()}_lesions.nii.gz"
        write_nifti(path, labels, tl.reference.affine, dtype=np.int16)
        written[f"label_map_{date.isoformat()}"] = path
    doc = lesions_document(result)
    path = out / "lesions.json"
    write_json(path, doc)
    written["lesions_json"] = path
    return written
