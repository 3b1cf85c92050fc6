"""DICOM ingest: geometry, sorting in time and along b-values, multi-frame objects, and broken files."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from pseudoprog.case import SeriesKind
from pseudoprog.errors import InputError
from pseudoprog.ingest import load_series, scan_images
from pseudoprog.phantoms.writers import StudyInfo, SyntheticSeries, write_dicom, write_nifti

INFO = StudyInfo(
    patient_id="T-1",
    patient_name="TEST^PHANTOM",
    birth_date=__import__("datetime").date(1970, 1, 1),
    sex="O",
    study_date=__import__("datetime").date(2026, 1, 5),
    study_seed="tests/dicom",
)


def _oblique_affine() -> np.ndarray:
    angle = np.deg2rad(7.0)
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    aff = np.diag([1.2, 0.9, 4.0, 1.0])
    aff[:3, 3] = [-30.0, 12.5, -40.0]
    return rot @ aff


def _volume(shape=(20, 16, 6), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(10, 1000, size=shape).astype(np.float32)


def test_static_series_round_trips_data_and_oblique_geometry(tmp_path):
    data, affine = _volume(), _oblique_affine()
    series = SyntheticSeries(
        name="AX FLAIR",
        kind=SeriesKind.FLAIR,
        data=data,
        affine=affine,
        echo_time_ms=90.0,
        repetition_time_ms=9000.0,
        inversion_time_ms=2500.0,
        flip_angle_deg=150,
    )
    write_dicom(series, tmp_path, INFO, series_number=3)
    found = scan_images(tmp_path).series
    assert len(found) == 1 and found[0].kind is SeriesKind.FLAIR
    assert found[0].params.echo_time_ms == 90.0 and found[0].params.inversion_time_ms == 2500.0
    volume, warnings = load_series(found[0])
    assert warnings == []
    np.testing.assert_allclose(volume.affine, affine, atol=1e-4)
    # uint16 storage with a rescale slope: error at most half a quantisation step.
    step = (data.max() - 0) / 65000
    np.testing.assert_allclose(volume.data, data, atol=step)
    assert volume.spacing_mm == pytest.approx((1.2, 0.9, 4.0), abs=1e-5)


def test_slice_order_comes_from_positions_not_file_names(tmp_path):
    data = _volume()
    write_dicom(
        SyntheticSeries(name="T2", kind=SeriesKind.T2, data=data, affine=np.diag([1, 1, 3, 1.0])),
        tmp_path,
        INFO,
        series_number=1,
    )
    folder = next(tmp_path.iterdir())
    files = sorted(folder.iterdir())
    # Rename files in reverse so alphabetical order is the opposite of anatomical order; nest some deeper.
    (tmp_path / "deep" / "er").mkdir(parents=True)
    for i, f in enumerate(files):
        target = (tmp_path / "deep" / "er" if i % 2 else folder) / f"z{len(files) - i:03d}.dcm"
        shutil.move(f, target)
    volume, _ = load_series(scan_images(tmp_path).series[0])
    np.testing.assert_allclose(volume.data, data, atol=data.max() / 65000)


def test_dynamic_series_is_sorted_in_time_with_frame_times(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.uniform(100, 500, size=(8, 8, 3, 12)).astype(np.float32)
    times = np.arange(12) * 1.5
    write_dicom(
        SyntheticSeries(
            name="ep2d_perf",
            kind=SeriesKind.DSC,
            data=data,
            affine=np.diag([2, 2, 5, 1.0]),
            frame_times_s=times,
            echo_time_ms=30,
            repetition_time_ms=1500,
            flip_angle_deg=60,
            scanning_sequence="GR\\EP",
        ),
        tmp_path,
        INFO,
        series_number=5,
    )
    s = scan_images(tmp_path).series[0]
    assert s.kind is SeriesKind.DSC and s.n_frames == 12 and s.shape == (8, 8, 3, 12)
    volume, _ = load_series(s)
    np.testing.assert_allclose(volume.frame_times_s, times, atol=1e-3)
    np.testing.assert_allclose(volume.data, data, atol=data.max() / 65000)


def test_diffusion_frames_are_sorted_by_b_value(tmp_path):
    data = np.stack([np.full((6, 6, 2), v, np.float32) for v in (900.0, 300.0, 600.0)], axis=-1)
    write_dicom(
        SyntheticSeries(
            name="DWI",
            kind=SeriesKind.DWI,
            data=data,
            affine=np.eye(4),
            frame_times_s=np.arange(3.0),
            b_values_s_per_mm2=(0.0, 1000.0, 500.0),
            echo_time_ms=80,
            repetition_time_ms=5000,
        ),
        tmp_path,
        INFO,
        series_number=7,
    )
    s = scan_images(tmp_path).series[0]
    assert s.kind is SeriesKind.DWI and s.params.b_values_s_per_mm2 == (0.0, 500.0, 1000.0)
    volume, _ = load_series(s)
    assert volume.data[0, 0, 0].tolist() == pytest.approx([900.0, 600.0, 300.0], abs=0.1)


def test_enhanced_multiframe_matches_the_classic_series(tmp_path):
    highdicom = pytest.importorskip("highdicom")
    data = _volume(shape=(12, 10, 5), seed=3)
    classic = write_dicom(
        SyntheticSeries(
            name="T1 post gad",
            kind=SeriesKind.T1C,
            data=data,
            affine=_oblique_affine(),
            echo_time_ms=2.5,
            repetition_time_ms=8,
            flip_angle_deg=12,
            contrast=True,
        ),
        tmp_path / "classic",
        INFO,
        series_number=2,
    )
    datasets = [pydicom.dcmread(f) for f in sorted(classic.iterdir())]
    enhanced = highdicom.legacy.LegacyConvertedEnhancedMRImage(
        legacy_datasets=datasets,
        series_instance_uid=highdicom.UID(),
        series_number=99,
        sop_instance_uid=highdicom.UID(),
        instance_number=1,
    )
    (tmp_path / "enh").mkdir()
    enhanced.save_as(tmp_path / "enh" / "multiframe.dcm")
    ref, _ = load_series(scan_images(tmp_path / "classic").series[0])
    s = scan_images(tmp_path / "enh").series[0]
    assert s.kind is SeriesKind.T1C
    got, _ = load_series(s)
    np.testing.assert_allclose(got.affine, ref.affine, atol=1e-4)
    np.testing.assert_allclose(got.data, ref.data, atol=1e-3)


# ----------------------------------------------------------------------------------------------
# Bad image input: each gives an InputError naming the file or folder
# ----------------------------------------------------------------------------------------------


def _write_small_series(folder: Path, n_slices: int = 4) -> Path:
    return write_dicom(
        SyntheticSeries(name="T1", kind=SeriesKind.T1, data=_volume((6, 6, n_slices)), affine=np.diag([1, 1, 2, 1.0])),
        folder,
        INFO,
        series_number=1,
    )


def test_truncated_dicom_file_is_named(tmp_path):
    folder = _write_small_series(tmp_path)
    victim = sorted(folder.iterdir())[1]
    victim.write_bytes(victim.read_bytes()[:200])
    with pytest.raises(InputError) as info:
        scan_images(tmp_path)
    assert victim.name in str(info.value)


def test_garbage_with_dicom_extension_is_named(tmp_path):
    (tmp_path / "scan.dcm").write_bytes(b"this is not a dicom file at all" * 10)
    with pytest.raises(InputError, match=r"scan\.dcm"):
        scan_images(tmp_path)


def test_missing_slice_is_detected(tmp_path):
    folder = _write_small_series(tmp_path, n_slices=5)
    sorted(folder.iterdir())[2].unlink()
    s = scan_images(tmp_path).series[0]
    with pytest.raises(InputError, match="not evenly spaced"):
        load_series(s)


def test_missing_dynamic_frame_is_detected(tmp_path):
    data = np.ones((4, 4, 2, 10), np.float32)
    folder = write_dicom(
        SyntheticSeries(
            name="DCE",
            kind=SeriesKind.DCE,
            data=data,
            affine=np.eye(4),
            frame_times_s=np.arange(10.0),
            echo_time_ms=2,
            repetition_time_ms=5,
        ),
        tmp_path,
        INFO,
        series_number=4,
    )
    sorted(folder.iterdir())[7].unlink()
    s = scan_images(tmp_path).series[0]
    with pytest.raises(InputError, match="incomplete series"):
        load_series(s)


def test_empty_folder_says_no_images(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(InputError, match="no images found"):
        scan_images(tmp_path)


def test_non_image_files_are_ignored_with_a_warning(tmp_path):
    _write_small_series(tmp_path)
    (tmp_path / "README.txt").write_text("export notes")
    (tmp_path / "blob").write_bytes(b"\x00\x01binary")
    result = scan_images(tmp_path)
    assert len(result.series) == 1
    assert any("not DICOM or NIfTI" in w for w in result.warnings)


def test_corrupt_nifti_is_named(tmp_path):
    (tmp_path / "T1c.nii.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(InputError, match=r"T1c\.nii\.gz"):
        scan_images(tmp_path)


def test_bids_echo_time_in_milliseconds_is_refused(tmp_path):
    write_nifti(
        SyntheticSeries(
            name="dsc",
            kind=SeriesKind.DSC,
            data=np.ones((4, 4, 2, 12), np.float32),
            affine=np.eye(4),
            frame_times_s=np.arange(12.0),
            extra_json={"EchoTime": 30},
        ),
        tmp_path,
    )
    with pytest.raises(InputError, match=r"EchoTime.*milliseconds"):
        scan_images(tmp_path)


def test_sidecar_that_is_not_json_is_named(tmp_path):
    write_nifti(
        SyntheticSeries(name="T2", kind=SeriesKind.T2, data=np.ones((4, 4, 2), np.float32), affine=np.eye(4)), tmp_path
    )
    (tmp_path / "T2.json").write_text("{not json")
    with pytest.raises(InputError, match=r"T2\.json.*not valid JSON"):
        scan_images(tmp_path)


def test_nifti_with_degenerate_affine_is_refused(tmp_path):
    path = tmp_path / "flair.nii"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4)), str(path))
    raw = bytearray(path.read_bytes())
    raw[80:92] = bytes(12)  # pixdim[1:4] = 0: zero voxel size
    raw[252:256] = bytes(4)  # qform_code = sform_code = 0: no orientation either
    path.write_bytes(bytes(raw))
    s = scan_images(tmp_path).series[0]
    with pytest.raises(InputError, match=r"flair\.nii.*no orientation"):
        load_series(s)
