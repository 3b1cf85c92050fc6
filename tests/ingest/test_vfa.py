"""Variable-flip-angle sets: from separate single-flip-angle series (DICOM or NIfTI + sidecars) or one series."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pseudoprog.case import SeriesKind
from pseudoprog.ingest import load_series, scan_images
from pseudoprog.phantoms.writers import StudyInfo, SyntheticSeries, write_dicom, write_nifti

INFO = StudyInfo(
    patient_id="V-1",
    patient_name="TEST^VFA",
    birth_date=dt.date(1970, 1, 1),
    sex="O",
    study_date=dt.date(2026, 1, 5),
    study_seed="tests/vfa",
)
TR_MS, TE_MS = 5.0, 2.0
FLIPS = (15.0, 2.0, 10.0, 5.0)  # written out of order on purpose


def _t1_s() -> np.ndarray:
    """A known native-T1 map (s): a gradient from 0.6 s to 2.0 s across i."""
    return np.broadcast_to(np.linspace(0.6, 2.0, 12)[:, None, None], (12, 10, 4)).copy()


def _spgr(flip_deg: float, t1_s: np.ndarray, m0: float = 4000.0) -> np.ndarray:
    e1 = np.exp(-TR_MS / 1000.0 / t1_s)
    a = np.deg2rad(flip_deg)
    return (m0 * np.sin(a) * (1 - e1) / (1 - e1 * np.cos(a))).astype(np.float32)


def _affine() -> np.ndarray:
    aff = np.diag([1.5, 1.5, 5.0, 1.0])
    aff[:3, 3] = [-9.0, -7.5, -10.0]
    return aff


def _single_flip_series(flip: float, name: str = "t1_fl3d_vibe") -> SyntheticSeries:
    # The way scanners write each flip angle: the same protocol name, one series per flip angle.
    return SyntheticSeries(
        name=name,
        kind=SeriesKind.T1,
        data=_spgr(flip, _t1_s()),
        affine=_affine(),
        echo_time_ms=TE_MS,
        repetition_time_ms=TR_MS,
        flip_angle_deg=flip,
        scanning_sequence="GR",
        sequence_variant="SP",
    )


def _write_dicom(series: SyntheticSeries, folder: Path, number: int) -> Path:
    """write_dicom, with a SeriesInstanceUID of its own per series number (as a scanner gives each series)."""
    out = write_dicom(series, folder, INFO, series_number=number)
    uid = pydicom.uid.generate_uid(entropy_srcs=[f"tests/vfa/{folder}/{number}"])
    for path in out.iterdir():
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = uid
        ds.save_as(path)
    return out


def _despot1_t1_s(data: np.ndarray, flips: tuple[float, ...]) -> np.ndarray:
    """Linear DESPOT1 fit, voxel by voxel: S/sin a = E1 S/tan a + M0 (1 - E1)."""
    a = np.deg2rad(np.asarray(flips))
    y = data / np.sin(a)
    x = data / np.tan(a)
    xm, ym = x.mean(-1, keepdims=True), y.mean(-1, keepdims=True)
    slope = ((x - xm) * (y - ym)).sum(-1) / ((x - xm) ** 2).sum(-1)
    return -TR_MS / 1000.0 / np.log(slope)


def _check_set(folder: Path, *, assembled: bool = True) -> None:
    found = scan_images(folder)
    vfa = [s for s in found.series if s.kind is SeriesKind.VFA_T1]
    assert len(found.series) == 1 and len(vfa) == 1, [(s.kind, s.description) for s in found.series]
    s = vfa[0]
    assert s.params.flip_angles_deg == tuple(sorted(FLIPS))
    assert s.n_frames == len(FLIPS) and s.shape == (12, 10, 4, len(FLIPS))
    if assembled:
        assert "variable-flip-angle set" in s.classification_reason
    volume, _ = load_series(s)
    assert volume.data.shape == (12, 10, 4, len(FLIPS))
    np.testing.assert_allclose(volume.affine, _affine(), atol=1e-4)
    expected = np.stack([_spgr(f, _t1_s()) for f in sorted(FLIPS)], axis=-1)
    np.testing.assert_allclose(volume.data, expected, atol=expected.max() / 65000 + 1e-3)
    # Same data → same T1: the set fits back to the truth.
    np.testing.assert_allclose(_despot1_t1_s(volume.data.astype(float), tuple(sorted(FLIPS))), _t1_s(), rtol=2e-3)


def test_single_flip_angle_dicom_series_are_one_vfa_set(tmp_path):
    for n, flip in enumerate(FLIPS):
        _write_dicom(_single_flip_series(flip), tmp_path, 10 + n)
    _check_set(tmp_path)


def test_single_flip_angle_nifti_files_with_sidecars_are_one_vfa_set(tmp_path):
    for flip in FLIPS:
        write_nifti(_single_flip_series(flip, name=f"sub-01_flip-{int(flip)}_T1w"), tmp_path)
    _check_set(tmp_path)


def test_one_dicom_series_with_several_flip_angles_is_ordered_by_flip_angle(tmp_path):
    data = np.stack([_spgr(f, _t1_s()) for f in FLIPS], axis=-1)
    series = SyntheticSeries(
        name="t1_vfa",
        kind=SeriesKind.VFA_T1,
        data=data,
        affine=_affine(),
        echo_time_ms=TE_MS,
        repetition_time_ms=TR_MS,
        frame_times_s=np.arange(len(FLIPS), dtype=float),
    )
    out = write_dicom(series, tmp_path, INFO, series_number=3)
    for path in out.iterdir():  # one flip angle per frame, and no frame timing: one series of several flips
        ds = pydicom.dcmread(path)
        ds.FlipAngle = FLIPS[int(ds.TemporalPositionIdentifier) - 1]
        for key in ("TemporalPositionIdentifier", "TriggerTime", "NumberOfTemporalPositions"):
            if key in ds:
                delattr(ds, key)
        ds.save_as(path)
    _check_set(tmp_path, assembled=False)


def test_series_that_differ_in_tr_or_repeat_a_flip_angle_are_not_assembled(tmp_path):
    _write_dicom(_single_flip_series(2.0), tmp_path, 1)
    other = _single_flip_series(10.0)
    other = SyntheticSeries(**{**other.__dict__, "repetition_time_ms": 8.0})
    _write_dicom(other, tmp_path / "b", 2)
    found = scan_images(tmp_path)
    assert [s.kind for s in found.series] == [SeriesKind.T1, SeriesKind.T1]
    _write_dicom(_single_flip_series(2.0), tmp_path / "c", 3)
    _write_dicom(_single_flip_series(10.0), tmp_path / "d", 4)  # 2°, 2°, 10° at TR 5 ms: which 2°?
    found = scan_images(tmp_path)
    assert not any(s.kind is SeriesKind.VFA_T1 for s in found.series)
    assert any("repeat a flip angle" in w for w in found.warnings)


def test_vfa_set_written_by_the_phantom_is_one_set_in_inspect(tmp_path):
    """The DCE phantom writes each flip angle as its own series (VFA_FA02, _FA10, _FA15)."""
    for fmt, writer in (("dicom", write_dicom), ("nifti", write_nifti)):
        folder = tmp_path / fmt
        for n, flip in enumerate((2.0, 10.0, 15.0)):
            s = _single_flip_series(flip, name=f"VFA_FA{flip:02.0f}")
            if fmt == "dicom":
                writer(s, folder, INFO, series_number=n + 1)  # type: ignore[call-arg]
            else:
                writer(s, folder)  # type: ignore[call-arg]
        found = scan_images(folder).series
        assert [s.kind for s in found] == [SeriesKind.VFA_T1]
        assert found[0].params.flip_angles_deg == (2.0, 10.0, 15.0)
        if fmt == "nifti":
            assert json.loads((folder / "VFA_FA02.json").read_text())["FlipAngle"] == 2.0


@pytest.mark.parametrize("flips", [(2.0, 10.0)])
def test_a_contrast_enhanced_series_never_joins_a_vfa_set(tmp_path, flips):
    _write_dicom(_single_flip_series(flips[0]), tmp_path, 1)
    post = SyntheticSeries(**{**_single_flip_series(flips[1]).__dict__, "contrast": True, "name": "t1_post"})
    _write_dicom(post, tmp_path / "b", 2)
    kinds = sorted(s.kind.value for s in scan_images(tmp_path).series)
    assert "VFA_T1" not in kinds
