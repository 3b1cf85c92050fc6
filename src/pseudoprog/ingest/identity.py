"""One patient per case: the DICOM objects of every timepoint belong to the patient named in case.yaml.

A series of another patient copied into a case folder must be refused, not assessed: its results would be
written into SEG and SR objects under that other patient's PatientID. The rules:

- every DICOM object's PatientID, and where present PatientName and PatientBirthDate, agree with each other;
- the PatientID is case.yaml's ``patient.id``, or one of ``patient.dicom_id`` (an explicit mapping, for sites
  whose case ids are not the scanner's ids);
- a StudyDate lies within ``STUDY_DATE_TOLERANCE_DAYS`` of the timepoint it sits under (a session that runs
  past midnight keeps the date it started on; more is a scan filed under the wrong timepoint).

Objects without a PatientID (anonymised exports) are not compared on it. Messages name files and fields, never
the identifiers themselves (they would end up in logs).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from ..case import Case, Timepoint
from ..errors import InputError
from .series import ScanResult

STUDY_DATE_TOLERANCE_DAYS = 1
_FIELDS = (("PatientID (0010,0020)", 0), ("PatientName (0010,0010)", 1), ("PatientBirthDate (0010,0030)", 2))


def _study_date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date() if len(text) >= 8 else None
    except ValueError:
        return None


def check_one_patient(case: Case, scans: Sequence[tuple[Timepoint, ScanResult]], *, case_file: Path) -> None:
    """Raise InputError naming the first file whose patient or study date does not fit the case."""
    first: dict[int, tuple[str, Path]] = {}
    allowed = {case.patient.id, *case.patient.dicom_ids}
    for tp, scan in scans:
        for (pid, name, birth, study), path in sorted(scan.identities, key=lambda item: str(item[1])):
            values = (pid, name, birth)
            for field, i in _FIELDS:
                if not values[i]:
                    continue
                seen = first.setdefault(i, (values[i], path))
                if values[i] != seen[0]:
                    raise InputError(
                        f"belongs to another patient: its {field.split()[0]} differs from that of {seen[1]}",
                        file=path,
                        field=field,
                        expected="every image of a case from one patient",
                    )
            if pid and pid not in allowed:
                raise InputError(
                    f"belongs to another patient: its PatientID is not the patient id of {case_file.name}",
                    file=path,
                    field="PatientID (0010,0020)",
                    expected=f"patient.id of {case_file}, or list the scanner's id under patient.dicom_id",
                )
            when = _study_date(study)
            if when is not None and abs((when - tp.date).days) > STUDY_DATE_TOLERANCE_DAYS:
                raise InputError(
                    f"has StudyDate {when.isoformat()} but sits under the timepoint of {tp.date.isoformat()}",
                    file=path,
                    field="StudyDate (0008,0020)",
                    expected=f"a study within {STUDY_DATE_TOLERANCE_DAYS} day of its timepoint's date",
                )
