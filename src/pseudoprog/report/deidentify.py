"""De-identification of every DICOM object pseudoprog writes: the PS3.15 Basic Application Level Confidentiality
Profile (Annex E, Table E.1-1), applied at the one place DICOM outputs are encoded (``dicom_source.encode_dataset``).

pydicom offers the tools (``remove_private_tags``, ``generate_uid``) but no profile; the dicognito and deid
packages implement profiles but are not dependencies here, so the actions of the Basic Profile that concern the
attributes our SEG, SR and Parametric Map objects can carry are listed below, with their Table E.1-1 action:

- X (remove) / Z (empty) / D (dummy) for the patient, study, equipment and staff identifiers;
- U: every UID that is not a DICOM-defined one (1.2.840.10008.*) is replaced by a UID derived from it and a
  per-run secret, so references between the objects of one run stay consistent and cannot be reversed;
- dates and times: shifted by a whole number of days (``dates="shift"``, the default; intervals between
  studies survive) or replaced by dummies (``dates="remove"``: 19000101 / 000000, as type 1 dates may not be
  empty);
- private attributes removed; PatientIdentityRemoved = YES and the De-identification Method recorded.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import generate_uid

DATE_OPTIONS = ("shift", "remove")
PSEUDONYM_PREFIX = "ANON-"

# PS3.15 Table E.1-1, Basic Profile actions for the attributes our outputs can carry (copied from the source
# images by highdicom: patient and study modules, equipment, staff).
_REMOVE = (
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientAge",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientMotherBirthName",
    "PatientBirthName",
    "PatientBirthTime",
    "PatientSize",
    "PatientWeight",
    "PatientComments",
    "AdditionalPatientHistory",
    "EthnicGroup",
    "MilitaryRank",
    "Occupation",
    "MedicalRecordLocator",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
    "PerformingPhysicianName",
    "OperatorsName",
    "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy",
    "RequestingPhysician",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "AdmittingDiagnosesDescription",
    "StudyDescription",
    "RequestAttributesSequence",
    "IssuerOfPatientID",
    "PatientInsurancePlanCodeSequence",
    "CurrentPatientLocation",
    "PatientState",
)
_EMPTY = ("PatientBirthDate", "PatientSex", "ReferringPhysicianName", "AccessionNumber", "StudyID")
_KEEP_UID_ROOT = "1.2.840.10008."  # DICOM-defined UIDs (SOP classes, transfer syntaxes, coding schemes)


@dataclass
class Deidentifier:
    """The per-run settings: the secret behind UIDs and pseudonyms, and how dates are treated."""

    dates: str = "shift"
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    shift_days: int | None = None

    def __post_init__(self) -> None:
        if self.dates not in DATE_OPTIONS:
            raise ValueError(f"dates must be one of {', '.join(DATE_OPTIONS)}, got {self.dates!r}")
        if self.shift_days is None:  # between 1 and 3 years back, from the secret: not guessable from the output
            self.shift_days = -(365 + int(hashlib.sha256(self.secret.encode()).hexdigest(), 16) % 730)

    def pseudonym(self, value: str) -> str:
        """A stable pseudonym of an identifier within this run (never the identifier itself)."""
        return PSEUDONYM_PREFIX + hashlib.sha256((self.secret + value).encode()).hexdigest()[:12].upper()

    def uid(self, value: str) -> str:
        return str(generate_uid(entropy_srcs=[self.secret, value]))

    def _date(self, text: str) -> str:
        if self.dates == "remove":
            return "19000101"
        try:
            day = dt.datetime.strptime(text[:8], "%Y%m%d").date()
        except ValueError:
            return "19000101"
        assert self.shift_days is not None
        return (day + dt.timedelta(days=self.shift_days)).strftime("%Y%m%d") + text[8:]

    def apply(self, ds: Dataset) -> Dataset:
        """De-identify ``ds`` in place (nested sequences included) and return it."""
        ds.remove_private_tags()
        for elem in list(ds.iterall()):
            vr, value = elem.VR, elem.value
            if (
                value is None
                or (isinstance(value, str) and not value)
                or elem.keyword in ("SOPClassUID", "TransferSyntaxUID")
            ):
                continue
            if vr == "UI":
                values = list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]
                new = [v if str(v).startswith(_KEEP_UID_ROOT) else self.uid(str(v)) for v in values]
                elem.value = new if len(new) > 1 else new[0]
            elif vr == "DA":
                elem.value = self._date(str(value))
            elif vr == "DT":
                elem.value = self._date(str(value)) if self.dates == "shift" else "19000101000000"
            elif vr == "TM" and self.dates == "remove":
                elem.value = "000000"
        self._identity(ds)
        for elem in list(ds.iterall()):
            if elem.VR == "SQ":
                for item in elem.value:
                    self._identity(item)
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "PS3.15 Basic Application Confidentiality Profile"  # LO: at most 64
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = (
            "113100",
            "DCM",
            "Basic Application Confidentiality Profile",
        )
        ds.DeidentificationMethodCodeSequence = [code]
        if "file_meta" in ds.__dict__ and "MediaStorageSOPInstanceUID" in ds.file_meta and "SOPInstanceUID" in ds:
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        return ds

    def _identity(self, ds: Dataset) -> None:
        for keyword in _REMOVE:
            if keyword in ds:
                delattr(ds, keyword)
        for keyword in _EMPTY:
            if keyword in ds:
                setattr(ds, keyword, "")
        if "PatientID" in ds:
            ds.PatientID = self.pseudonym(str(ds.PatientID))
        if "PatientName" in ds:
            ds.PatientName = "ANONYMOUS"


_ACTIVE: contextvars.ContextVar[Deidentifier | None] = contextvars.ContextVar("pseudoprog_deidentify", default=None)


def active() -> Deidentifier | None:
    """The de-identification in force for DICOM outputs written now (``None``: outputs keep identity)."""
    return _ACTIVE.get()


@contextmanager
def deidentifying(deid: Deidentifier | None) -> Iterator[None]:
    """Apply ``deid`` to every DICOM object encoded inside the block."""
    token = _ACTIVE.set(deid)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
