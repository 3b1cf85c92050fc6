"""DICOM SEG of lesion masks: overlays its source series exactly, reads back, passes dcmtk and dciodvfy."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest

from pseudoprog.case import LesionMask
from pseudoprog.report.dicom_seg import lesion_tracking_uid, write_lesion_seg

from .conftest import dciodvfy_errors, dcmdump_ok, truth_masks

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _write(dicom_source, tmp_path, masks=None):
    case, tp, source = dicom_source
    masks = masks if masks is not None else truth_masks("pseudoprogression", tp.date)
    written = write_lesion_seg(masks, source, tmp_path / "seg.dcm", case_id=case.id, software_version="test")
    return case, tp, source, masks, written


def test_seg_round_trip_overlays_the_source_series_exactly(dicom_source, tmp_path):
    _case, _tp, source, masks, written = _write(dicom_source, tmp_path)
    assert [(s.number, s.part) for s in written.segments] == [(1, "enhancing"), (2, "core")]
    seg = hd.seg.segread(written.path)
    # Every frame sits where the source image it derives from sits.
    by_uid = {str(ds.SOPInstanceUID): ds for ds in source.datasets}
    shared = seg.SharedFunctionalGroupsSequence[0]
    orientation = shared.PlaneOrientationSequence[0].ImageOrientationPatient
    for frame in seg.PerFrameFunctionalGroupsSequence:
        ref = str(frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        src = by_uid[ref]
        assert np.allclose(frame.PlanePositionSequence[0].ImagePositionPatient, src.ImagePositionPatient, atol=1e-4)
        assert np.allclose(orientation, src.ImageOrientationPatient, atol=1e-6)
        assert np.allclose(shared.PixelMeasuresSequence[0].PixelSpacing, src.PixelSpacing, atol=1e-6)
    # The pixels read back per source image are the masks, voxel for voxel.
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[str(ds.SOPInstanceUID) for ds in source.datasets],
        segment_numbers=[1, 2],
        assert_missing_frames_are_empty=True,
    )
    expected = source.to_frames(np.stack([masks[0].enhancing, masks[0].core], axis=-1))
    assert np.array_equal(pixels.astype(bool), expected)
    # In world coordinates: the lesion's centroid from highdicom's own geometry equals the mask's.
    volume = seg.get_volume(combine_segments=False)
    idx = np.argwhere(volume.array[..., 0] > 0)
    world_seg = (volume.affine @ np.c_[idx, np.ones(len(idx))].T)[:3].mean(axis=1)
    ijk = np.argwhere(masks[0].enhancing)
    world_mask = (LPS @ masks[0].affine @ np.c_[ijk, np.ones(len(ijk))].T)[:3].mean(axis=1)
    assert np.allclose(world_seg, world_mask, atol=1e-3)


def test_seg_references_the_source_study_and_frame_of_reference(dicom_source, tmp_path):
    case, _tp, source, _masks, written = _write(dicom_source, tmp_path)
    ds = pydicom.dcmread(written.path)
    src = source.datasets[0]
    assert ds.StudyInstanceUID == src.StudyInstanceUID
    assert ds.FrameOfReferenceUID == src.FrameOfReferenceUID
    assert ds.SeriesInstanceUID != src.SeriesInstanceUID
    segment = ds.SegmentSequence[0]
    assert segment.SegmentLabel == "L1 enhancing"
    assert segment.TrackingUID == lesion_tracking_uid(case.id, "L1") == written.segments[0].tracking_uid


def test_a_mask_off_the_source_grid_is_carried_onto_it(dicom_source, tmp_path):
    case, tp, source = dicom_source
    truth = truth_masks("pseudoprogression", tp.date)[0]
    shifted = truth.affine.copy()
    shifted[:3, 3] += truth.affine[:3, 0]  # the same array one voxel further along i
    written = write_lesion_seg([LesionMask("L1", truth.enhancing, shifted)], source, tmp_path / "s.dcm",
                               case_id=case.id, software_version="test")
    seg = hd.seg.segread(written.path)
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[str(ds.SOPInstanceUID) for ds in source.datasets], segment_numbers=[1]
    )[..., 0]
    expected = np.zeros_like(truth.enhancing)
    expected[1:] = truth.enhancing[:-1]
    assert np.array_equal(pixels.astype(bool), source.to_frames(expected))


def test_seg_passes_dcmdump_and_dciodvfy(dicom_source, tmp_path):
    *_, written = _write(dicom_source, tmp_path)
    assert "=SegmentationStorage" in dcmdump_ok(written.path)
    assert dciodvfy_errors(written.path) == []


def test_bad_inputs_are_refused(dicom_source, tmp_path):
    _case, tp, source = dicom_source
    m = truth_masks("pseudoprogression", tp.date)[0]
    with pytest.raises(ValueError, match="no lesion mask"):
        write_lesion_seg([], source, tmp_path / "a.dcm", case_id="X", software_version="t")
    with pytest.raises(ValueError, match="repeat"):
        write_lesion_seg([m, m], source, tmp_path / "a.dcm", case_id="X", software_version="t")
    empty = LesionMask("L1", np.zeros_like(m.enhancing), m.affine)
    with pytest.raises(ValueError, match="empty"):
        write_lesion_seg([empty], source, tmp_path / "a.dcm", case_id="X", software_version="t")
    assert not (tmp_path / "a.dcm").exists()
