"""Cases with a recorded outcome as a labelled CSV in the format ``pseudoprog calibrate`` reads."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy import select

from ..files import write_atomic
from ..markers import MARKERS
from ..store import AssessmentRecord, Outcome, Patient, Store


def export_labels(store: Store, out: Path, *, deidentify: bool = False) -> int:
    """Write ``case_id, label, <marker> …`` (label 1 = true progression, 0 = treatment effect); returns the rows.

    With ``deidentify``, ``case_id`` is the patient's pseudonym of the deployment's exports (service/export.py),
    so labels and de-identified exports of one patient still match.

    Each outcome is paired with the assessment it was recorded against (else the patient's latest); the marker
    values are those the assessment weighed as evidence. A marker that was not measured is left empty.
    """
    from .export import deployment_deidentifier

    deid = deployment_deidentifier(store, "shift") if deidentify else None
    rows: list[dict[str, str]] = []
    with store.session() as s:
        for outcome, patient in s.execute(
            select(Outcome, Patient).join(Patient, Patient.id == Outcome.patient_pk).order_by(Outcome.id)
        ):
            a = None
            if outcome.assessment_id is not None:
                a = s.get(AssessmentRecord, outcome.assessment_id)
            if a is None:
                a = s.scalar(
                    select(AssessmentRecord)
                    .where(AssessmentRecord.patient_pk == patient.id)
                    .order_by(AssessmentRecord.id.desc())
                    .limit(1)
                )
            case_id = deid.pseudonym(patient.patient_id) if deid is not None else patient.patient_id
            row = {"case_id": case_id, "label": "1" if outcome.result == "progression" else "0"}
            if a is not None:
                for item in json.loads(a.assessment_json).get("evidence") or []:
                    value = item.get("value")
                    if item.get("name") in MARKERS and isinstance(value, int | float) and not isinstance(value, bool):
                        row[item["name"]] = repr(float(value))
            rows.append(row)
    markers = sorted({k for r in rows for k in r} - {"case_id", "label"})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["case_id", "label", *markers], restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out, buf.getvalue())
    return len(rows)
