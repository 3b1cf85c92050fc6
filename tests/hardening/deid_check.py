"""What identifies a source case, and a check that a folder of outputs keeps none of it (bytes, text, names)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pydicom

_UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")
_DATE_KEYWORDS = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "PatientBirthDate")


def source_identity(case_dir: Path) -> dict[str, set[str]]:
    """The identifying values of a case folder's DICOM files and case.yaml: identity, dates (both spellings), UIDs."""
    identity: set[str] = set()
    dates: set[dt.date] = set()
    uids: set[str] = set()
    for path in sorted(case_dir.rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        identity.update(v for v in (str(ds.get("PatientID", "")), str(ds.get("PatientName", ""))) if v)
        uids.update(str(ds.get(k)) for k in _UID_KEYWORDS if ds.get(k))
        for key in _DATE_KEYWORDS:
            if ds.get(key):
                dates.add(dt.datetime.strptime(str(ds.get(key))[:8], "%Y%m%d").date())
    for text in re.findall(r"\d{4}-\d{2}-\d{2}", (case_dir / "case.yaml").read_text()):
        dates.add(dt.date.fromisoformat(text))
    spelled = {d.isoformat() for d in dates} | {d.strftime("%Y%m%d") for d in dates}
    return {"identity": identity, "dates": spelled, "uids": uids}


def file_texts(folder: Path) -> dict[str, bytes]:
    """Every file's bytes under ``folder`` (PDFs also as their extracted text), keyed by relative path."""
    out: dict[str, bytes] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        out[rel] = path.read_bytes()
        if path.suffix == ".pdf" and shutil.which("pdftotext"):
            text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout
            out[rel + " (text)"] = text
    return out


def assert_no_identity(folder: Path, source: dict[str, set[str]], *, uids: bool = True) -> int:
    """Fail if any file (its bytes, its PDF text or its name) under ``folder`` holds a value of ``source``.

    Returns how many files were checked (a caller asserts it is not zero).
    """
    values = [*source["identity"], *source["dates"], *(source["uids"] if uids else ())]
    texts = file_texts(folder)
    for rel, raw in texts.items():
        for value in values:
            assert value.encode() not in raw, f"{rel} keeps {value!r} of the source"
            assert value not in rel, f"the file name {rel} keeps {value!r} of the source"
    return len(texts)


def assert_dciodvfy_clean(folder: Path) -> int:
    """dciodvfy reports no error on any DICOM object under ``folder``; returns how many were checked (0: absent)."""
    if not shutil.which("dciodvfy"):
        return 0
    n = 0
    for path in sorted(folder.rglob("*.dcm")):
        check = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
        errors = [line for line in (check.stdout + check.stderr).splitlines() if line.startswith("Error")]
        assert not errors, f"{path.name}: {errors[:3]}"
        n += 1
    return n
