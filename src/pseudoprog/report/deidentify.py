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

Free text follows the same rules (:meth:`Deidentifier.text`): the text values of DICOM objects (an SR's time
point is an ISO date in a TEXT item), every string and key of the JSON outputs, and the names of the files
written. Dates in text (``YYYY-MM-DD`` and ``YYYYMMDD``) are shifted by the same days; with ``dates="remove"``
text dates are moved so that the case's first scan falls on 1900-01-01 (no absolute date is left, the intervals
the criteria and the report need are kept). UID-shaped text is remapped like UIDs; the registered identifiers
(case id, PatientID, PatientName) are replaced by the pseudonym. :func:`deidentify_folder` applies all of it to a
finished output folder (``pseudoprog report --deidentify``, the cohort and the service's export).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

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
_TEXT_VRS = ("LO", "SH", "ST", "LT", "UT", "UC")  # free text that may hold a date or an identifier
# A UID inside text (a path, a reason): at least five numeric components, so versions and IPs are left alone.
# A component with a leading zero is not a valid UID, but scanners write them (1.2.826.0.1.3680043.2.1125.0991):
# still the study's identifier, so remapped too.
_UID_IN_TEXT = re.compile(r"(?<![\d.])\d+(?:\.\d+){4,}(?![\d.])")
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
# Not inside a number: 0.20250101 or 20250101.5 in a CSV of values is a value, not a date.
_DICOM_DATE = re.compile(r"(?<!\d)(?<!\d\.)(\d{4})(\d{2})(\d{2})(?!\d)(?!\.\d)")
_YEARS = range(1850, 2200)  # an 8-digit number outside these years is not read as a date
_PSEUDONYM_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
REMOVED_ORIGIN = dt.date(1900, 1, 1)  # dates="remove": the first scan's day in text


@dataclass
class Deidentifier:
    """The per-run settings: the secret behind UIDs and pseudonyms, and how dates are treated."""

    dates: str = "shift"
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    shift_days: int | None = None
    # Text dates with dates="remove": days added so that the first scan is REMOVED_ORIGIN (see anchor()).
    text_shift_days: int | None = None
    identifiers: dict[str, str] = field(default_factory=dict)  # identifying text → its replacement

    def __post_init__(self) -> None:
        if self.dates not in DATE_OPTIONS:
            raise ValueError(f"dates must be one of {', '.join(DATE_OPTIONS)}, got {self.dates!r}")
        if self.shift_days is None:  # between 1 and 3 years back, from the secret: not guessable from the output
            self.shift_days = -(365 + int(hashlib.sha256(self.secret.encode()).hexdigest(), 16) % 730)

    def pseudonym(self, value: str) -> str:
        """A stable pseudonym of an identifier within this run (never the identifier itself).

        Letters only: a run of digits in it could be read as a date or a UID by :meth:`text`.
        """
        digest = hashlib.sha256((self.secret + value).encode()).digest()
        return PSEUDONYM_PREFIX + "".join(_PSEUDONYM_LETTERS[b % len(_PSEUDONYM_LETTERS)] for b in digest[:12])

    def uid(self, value: str) -> str:
        return str(generate_uid(entropy_srcs=[self.secret, value]))

    def anchor(self, first_scan: dt.date) -> None:
        """The case's first scan: with dates="remove", text dates are counted from it (it becomes 1900-01-01)."""
        if self.text_shift_days is None:
            self.text_shift_days = (REMOVED_ORIGIN - first_scan).days

    def forget(self, identifier: str, *, replacement: str | None = None) -> None:
        """Replace ``identifier`` wherever it appears in text (its pseudonym unless ``replacement`` is given).

        Identifiers shorter than 3 characters are not registered: replacing them in text would mangle words.
        """
        value = str(identifier).strip()
        if len(value) < 3 or value.startswith(PSEUDONYM_PREFIX):
            return
        self.identifiers.setdefault(value, replacement or self.pseudonym(value))
        if "^" in value:  # a DICOM person name, also as it is usually printed
            spaced = " ".join(p for p in value.split("^") if p)
            if len(spaced) >= 3:
                self.identifiers.setdefault(spaced, replacement or "ANONYMOUS")

    def date(self, day: dt.date) -> dt.date:
        """A date as the de-identified outputs' text shows it."""
        if self.dates == "shift":
            assert self.shift_days is not None
            return day + dt.timedelta(days=self.shift_days)
        if self.text_shift_days is None:  # no first scan known: every date is the dummy one
            return REMOVED_ORIGIN
        return day + dt.timedelta(days=self.text_shift_days)

    def _text_date(self, match: re.Match[str], sep: str) -> str:
        try:
            day = dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return match[0]
        if day.year not in _YEARS:
            return match[0]
        return self.date(day).strftime(f"%Y{sep}%m{sep}%d")

    def text(self, value: str) -> str:
        """Free text de-identified: UIDs remapped, dates shifted (or counted from 1900-01-01), identifiers replaced."""
        out: list[str] = []
        last = 0
        for m in _UID_IN_TEXT.finditer(value):
            out.append(self._plain_text(value[last : m.start()]))
            uid = m[0]
            out.append(uid if uid.startswith(_KEEP_UID_ROOT) or len(uid) < 12 else self.uid(uid))
            last = m.end()
        out.append(self._plain_text(value[last:]))
        return "".join(out)

    def _plain_text(self, value: str) -> str:
        for identifier in sorted(self.identifiers, key=len, reverse=True):  # 'Doe^Jane' before 'Doe'
            if identifier in value:
                value = value.replace(identifier, self.identifiers[identifier])
        value = _ISO_DATE.sub(lambda m: self._text_date(m, "-"), value)
        return _DICOM_DATE.sub(lambda m: self._text_date(m, ""), value)

    def json(self, value: Any) -> Any:
        """A JSON document (dicts, lists, strings, numbers) with every string and key passed through :meth:`text`."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)) if isinstance(k, str) else k: self.json(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.json(v) for v in value]
        return value

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
        for elem in list(ds.iterall()):  # the patient's identifiers, wherever text repeats them
            if elem.keyword in ("PatientID", "PatientName", "OtherPatientIDs") and elem.value:
                self.forget(str(elem.value), replacement=None if elem.keyword != "PatientName" else "ANONYMOUS")
        for elem in list(ds.iterall()):
            vr, value = elem.VR, elem.value
            if (
                value is None
                or (isinstance(value, str) and not value)
                or elem.keyword in ("SOPClassUID", "TransferSyntaxUID", "PatientID", "PatientName")
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
            elif vr in _TEXT_VRS:  # e.g. the SR's time point (an ISO date in a TEXT item)
                if isinstance(value, (list, tuple, MultiValue)):
                    elem.value = [self.text(str(v)) for v in value]
                else:
                    elem.value = self.text(str(value))
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


# -------------------------------------------------------------------------------------- whole output folders

_TEXT_SUFFIXES = (".json", ".txt", ".csv", ".tsv", ".yaml", ".yml", ".md", ".log")
_RENDERED = ("report.html", "report.pdf")  # drawn again from the de-identified assessment
ASSESSMENT_NAME = "assessment.json"


def _first_scan(doc: Any) -> dt.date | None:
    days = []
    for tp in doc.get("timepoints") or [] if isinstance(doc, dict) else []:
        try:
            days.append(dt.date.fromisoformat(str(tp.get("date"))))
        except (TypeError, ValueError):
            continue
    return min(days) if days else None


def prepare_for_folder(deid: Deidentifier, doc: dict[str, Any], dicom_files: list[Any]) -> None:
    """Register what identifies the patient of an output folder: case id, the DICOM objects' PatientID/Name."""
    import pydicom

    if doc.get("case_id"):
        deid.forget(str(doc["case_id"]))
    for path in dicom_files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID", "PatientName"])
        except Exception:  # an unreadable object is refused below, with its name
            continue
        if ds.get("PatientID"):
            deid.forget(str(ds.PatientID))
        if ds.get("PatientName"):
            deid.forget(str(ds.PatientName), replacement="ANONYMOUS")
    first = _first_scan(doc)
    if first is not None:
        deid.anchor(first)


def deidentify_folder(source: Any, dest: Any, deid: Deidentifier, *, pdf: bool | None = None) -> dict[str, str]:
    """Write the de-identified copy of a finished output folder (``assessment.json`` and its companions).

    Every DICOM object gets :meth:`Deidentifier.apply` (UIDs remapped with one secret, so the SR's references to
    the SEG and the source images stay consistent); JSON and text files, and every file and folder name, go
    through :meth:`Deidentifier.text`; the HTML and PDF report are drawn again from the de-identified
    assessment (``pdf``: default, when the source had one). An Encapsulated PDF object carries the new PDF.
    NIfTI and PNG files are copied as they are (pseudoprog writes no identity into them). ``dest`` may be
    ``source`` (in place). Returns the written files, relative path → relative path in the source.

    Raises
    ------
    InputError
        If ``source`` has no ``assessment.json``, or a DICOM object there cannot be read.
    """
    import json
    import os
    import shutil
    from pathlib import Path

    import pydicom

    from ..errors import InputError
    from ..files import write_atomic
    from .dicom_pdf import set_document
    from .render import render_report_files

    src, dst = Path(source), Path(dest)
    doc_path = src / ASSESSMENT_NAME
    try:
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"no readable assessment ({exc})", file=doc_path) from None
    in_place = src.resolve() == dst.resolve()
    # Hidden files (a lock, a partial) are not outputs; the list is taken before anything moves.
    files = sorted(
        p
        for p in src.rglob("*")
        if p.is_file() and not p.is_symlink() and not any(part.startswith(".") for part in p.relative_to(src).parts)
    )
    prepare_for_folder(deid, doc, [p for p in files if p.suffix == ".dcm"])
    if doc.get("case_id"):
        doc["case_id"] = (
            deid.pseudonym(str(doc["case_id"]))
            if not str(doc["case_id"]).startswith(PSEUDONYM_PREFIX)
            else doc["case_id"]
        )
    written: dict[str, str] = {}
    encapsulated: list[Path] = []
    for path in files:
        rel = path.relative_to(src).as_posix()
        if rel in _RENDERED:
            if in_place:
                path.unlink()
            continue
        new_rel = deid.text(rel)
        target = dst / new_rel
        if path.suffix == ".dcm":
            try:
                ds = pydicom.dcmread(path)
            except Exception as exc:  # pydicom raises many kinds for a bad file
                raise InputError(f"DICOM object not readable ({type(exc).__name__})", file=path) from None
            if str(ds.get("MIMETypeOfEncapsulatedDocument", "")) == "application/pdf":
                encapsulated.append(target)  # its document is replaced once the new PDF exists
            payload = encode(deid.apply(ds))
        elif rel == ASSESSMENT_NAME:
            payload = (json.dumps(deid.json(doc), indent=2, ensure_ascii=False) + "\n").encode()
        elif path.suffix in _TEXT_SUFFIXES:
            raw = path.read_text(encoding="utf-8", errors="replace")
            if path.suffix == ".json":
                try:
                    payload = (json.dumps(deid.json(json.loads(raw)), indent=1, ensure_ascii=False) + "\n").encode()
                except ValueError:
                    payload = deid.text(raw).encode()
            else:
                payload = deid.text(raw).encode()
        else:
            payload = b""
            if not (in_place and new_rel == rel):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            written[new_rel] = rel
            if in_place and new_rel != rel:
                path.unlink()
            continue
        write_atomic(target, payload)
        written[new_rel] = rel
        if in_place and new_rel != rel:
            path.unlink()
    if in_place:  # folders named after a date are empty now
        for folder in sorted((p for p in src.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            if not any(folder.iterdir()):
                os.rmdir(folder)
    data = json.loads((dst / ASSESSMENT_NAME).read_text(encoding="utf-8"))
    want_pdf = pdf if pdf is not None else "report_pdf" in (data.get("outputs") or {})
    rendered = render_report_files(data, folder=dst, pdf=want_pdf)
    for name in rendered.outputs.values():
        written[name] = name
    for target in encapsulated:
        ds = pydicom.dcmread(target)
        if (dst / "report.pdf").is_file():
            set_document(ds, (dst / "report.pdf").read_bytes())
            write_atomic(target, encode(ds))
        else:  # no de-identified PDF to carry: the object would carry the identified one
            target.unlink()
            written.pop(target.relative_to(dst).as_posix(), None)
    return written


def encode(ds: Dataset) -> bytes:
    """A dataset as the bytes of a DICOM Part 10 file."""
    from io import BytesIO

    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
