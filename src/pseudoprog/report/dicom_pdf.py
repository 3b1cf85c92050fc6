"""The report as a DICOM Encapsulated PDF instance (PS3.3 A.45.1), for PACS beside the SEG, SR and maps.

Written with pydicom: highdicom has no Encapsulated Document class.
"""

from __future__ import annotations

import datetime as dt

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian, generate_uid


def set_document(ds: Dataset, pdf: bytes) -> None:
    """Put ``pdf`` into ``ds`` as its Encapsulated Document (padded to even length; the length keeps the true size)."""
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(pdf)


def encapsulated_pdf(pdf: bytes, *, like: Dataset, title: str) -> Dataset:
    """The report as an Encapsulated PDF instance in the study of ``like`` (a SEG/SR/image of the latest study)."""
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "StudyID",
        "AccessionNumber",
        "ReferringPhysicianName",
    ):
        ds.__setattr__(keyword, getattr(like, keyword, "") or "")
    now = dt.datetime.now(dt.UTC)
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 950
    ds.SeriesDescription = "pseudoprog report"
    ds.InstanceNumber = 1
    ds.Manufacturer = "pseudoprog"
    ds.ConversionType = "WSD"
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    set_document(ds, pdf)
    if "SOPInstanceUID" in like and "SOPClassUID" in like:
        ref = Dataset()
        ref.ReferencedSOPClassUID = like.SOPClassUID
        ref.ReferencedSOPInstanceUID = like.SOPInstanceUID
        ds.SourceInstanceSequence = [ref]
    return ds
