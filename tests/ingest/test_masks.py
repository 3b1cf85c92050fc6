"""Importing lesion masks: NIfTI (resampled), DICOM SEG (highdicom) and RTSTRUCT (rasterised contours)."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from pseudoprog.align.itk import LPS_FROM_RAS
from pseudoprog.errors import InputError
from pseudoprog.ingest.masks import RTSTRUCT_SOP_CLASS, read_mask
from tests.lesions.helpers import ellipsoid_mask


def test_nifti_mask_on_another_grid_is_resampled_with_its_volume(tmp_path):
    ref_affine = np.diag([1.0, 1.0, 2.0, 1.0])
    ref_shape = (60, 60, 30)
    fine, fine_affine = ellipsoid_mask((120, 120, 120), (0.5, 0.5, 0.5), (30.0, 30.0, 30.0), (10.0, 8.0, 9.0))
    labels = fine.astype(np.int16) * 4
    nib.save(nib.Nifti1Image(labels, fine_affine), str(tmp_path / "m.nii.gz"))
    mask, fmt = read_mask(tmp_path / "m.nii.gz", ref_affine, ref_shape, label=4)
    assert fmt == "nifti"
    vol_ref = mask.sum() * 2.0
    vol_fine = fine.sum() * 0.125
    assert vol_ref == pytest.approx(vol_fine, rel=0.05)
    with pytest.raises(InputError, match="empty"):
        read_mask(tmp_path / "m.nii.gz", ref_affine, ref_shape, label=1)


def _rtstruct(path: Path, contours_lps: list[np.ndarray], name: str = "GTV") -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTSTRUCT_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = RTSTRUCT_SOP_CLASS
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    roi = Dataset()
    roi.ROINumber = 1
    roi.ROIName = name
    ds.StructureSetROISequence = [roi]
    rc = Dataset()
    rc.ReferencedROINumber = 1
    seq = []
    for pts in contours_lps:
        c = Dataset()
        c.ContourGeometricType = "CLOSED_PLANAR"
        c.NumberOfContourPoints = len(pts)
        c.ContourData = [float(v) for v in pts.ravel()]
        seq.append(c)
    rc.ContourSequence = seq
    ds.ROIContourSequence = [rc]
    ds.save_as(str(path), enforce_file_format=True)


def test_rtstruct_contours_with_a_hole_are_rasterised(tmp_path):
    ref_affine = np.diag([1.0, 1.0, 2.0, 1.0])
    ref_shape = (40, 40, 10)
    contours = []
    for k in (3, 4, 5):
        z = 2.0 * k
        outer = np.array([[5, 5, z], [25, 5, z], [25, 25, z], [5, 25, z]], dtype=float)
        inner = np.array([[10, 10, z], [20, 10, z], [20, 20, z], [10, 20, z]], dtype=float)
        for ras in (outer, inner):
            lps = (LPS_FROM_RAS[:3, :3] @ ras.T).T
            contours.append(lps)
    _rtstruct(tmp_path / "rs.dcm", contours)
    mask, fmt = read_mask(tmp_path / "rs.dcm", ref_affine, ref_shape)
    assert fmt == "rtstruct"
    assert set(np.nonzero(mask.any(axis=(0, 1)))[0]) == {3, 4, 5}
    assert mask[7, 7, 4] and not mask[15, 15, 4]  # the inner contour is a hole
    area = mask[:, :, 4].sum()
    assert area == pytest.approx(20 * 20 - 10 * 10, rel=0.15)
    with pytest.raises(InputError, match="no ROI named"):
        read_mask(tmp_path / "rs.dcm", ref_affine, ref_shape, roi="CTV")


def test_dicom_seg_on_the_t1c_is_read_back(phantom_cases, tmp_path):
    from pseudoprog.case import SeriesKind
    from pseudoprog.ingest import load_case, load_series

    case = load_case(phantom_cases("pseudoprogression", "dicom"))
    t1c = case.timepoints[0].series_of(SeriesKind.T1C)[0]
    vol, _ = load_series(t1c)
    truth = np.zeros(vol.spatial_shape, dtype=bool)
    truth[40:60, 70:90, 20:26] = True
    sources = sorted((pydicom.dcmread(str(f)) for f in t1c.files), key=lambda d: int(d.InstanceNumber))
    inv = np.linalg.inv(vol.affine)
    frames = []
    for ds in sources:
        rows, cols = int(ds.Rows), int(ds.Columns)
        r, c = np.mgrid[0:rows, 0:cols]
        ipp = np.asarray(ds.ImagePositionPatient, float)
        iop = np.asarray(ds.ImageOrientationPatient, float)
        dr, dc = (float(v) for v in ds.PixelSpacing)
        lps = ipp[:, None] + iop[:3, None] * (c.ravel() * dc) + iop[3:, None] * (r.ravel() * dr)
        ras = LPS_FROM_RAS[:3, :3] @ lps
        ijk = np.rint(inv[:3, :3] @ ras + inv[:3, 3:4]).astype(int)
        frames.append(truth[ijk[0], ijk[1], ijk[2]].reshape(rows, cols))
    desc = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="L1",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=np.stack(frames).astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[desc],
        series_instance_uid=hd.UID(),
        series_number=99,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="1",
        device_serial_number="1",
    )
    seg.save_as(str(tmp_path / "seg.dcm"))
    mask, fmt = read_mask(tmp_path / "seg.dcm", vol.affine, vol.spatial_shape, segment=1)
    assert fmt == "seg"
    assert np.array_equal(mask, truth)


def test_a_file_that_is_no_mask_is_refused(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InputError, match="neither NIfTI nor readable DICOM"):
        read_mask(tmp_path / "x.txt", np.eye(4), (4, 4, 4))
    with pytest.raises(InputError, match="does not exist"):
        read_mask(tmp_path / "missing.nii.gz", np.eye(4), (4, 4, 4))
