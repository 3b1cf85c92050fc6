"""Multi-vendor DICOM ingest against dcm2niix's reference conversions (../shared/data/real-dicom-multivendor).

Every series of the folder: voxel grid and affine (within 0.01 mm), pixel values frame by frame (so frame count
and order), RepetitionTime / EchoTime, slice timing, b-values and gradient directions, compared with the
dcm2niix NIfTI / JSON / bval / bvec of the same series. dcm2niix writes its own voxel order (rows flipped, LAS,
LSP, PSL, RAS …); both images are brought to the reference's axis order with nibabel's orientation tools before
comparing, which is exact (a permutation and flips), never a resampling.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pseudoprog.case import SeriesKind
from pseudoprog.ingest import dicom, load_series, scan_images
from pseudoprog.ingest.series import dicom_stack
from tests.conftest import shared_data

pytestmark = pytest.mark.validation

ROOT = ("real-dicom-multivendor",)


@dataclass(frozen=True)
class Case:
    folder: str  # In/ folder under the repository subfolder
    ref: str  # Ref/ stem
    description: str | None = None  # which series of the folder (None: the only one)
    kind: SeriesKind | None = None
    tr_from_ref: bool = True  # False where the reference TR is known wrong (said in the case)
    slice_timing: bool = True  # False where our headers do not carry it (said in the case)
    has_nifti: bool = True
    frames_in_ref_order: bool = True  # False where dcm2niix orders frames otherwise (said in the case)
    ref_units_scaled: bool = False
    # Our frame n for each Ref frame, where dcm2niix orders frames differently (said in the case).
    ref_frame_order: tuple[int, ...] | None = (
        None  # the Ref is in other pixel units (said in the case): compared up to one factor
    )


CASES = {
    "siemens-mosaic-ax": Case("dcm_qa/In/Orientation/ax/axint35", "dcm_qa/Ref/ax_int_35sl_8"),
    "siemens-mosaic-cor": Case("dcm_qa/In/Orientation/cor/corint35", "dcm_qa/Ref/cor_int_35sl_18"),
    "siemens-mosaic-sag": Case("dcm_qa/In/Orientation/sag/sagint35", "dcm_qa/Ref/sag_int_35sl_24"),
    # Multiband copies: the first volume's (0019,1029) MosaicRefAcqTimes are the single-band reference times (in
    # AxInt36mb every second value wrapped past midnight, 86 397 492.5 ms; in AxAsc36mb2a spanning 4.88 s with a
    # 3 s TR); the second volume's are the multiband times, which we take (as dcm2niix does).
    "siemens-mosaic-jpeg2000": Case("dcm_qa/In/Orientation/axmb/AxInt36mb", "dcm_qa/Ref/fMRI_MB_int_26"),
    "siemens-mosaic-jpeg-lossless": Case("dcm_qa/In/Orientation/axmb/AxAsc36mb2a", "dcm_qa/Ref/fMRI_MB_asc_25"),
    "siemens-xa30-enhanced-t1": Case(
        "dcm_qa_xa30/In/5_anat-T1w_acq-tfl", "dcm_qa_xa30/Ref/5_anat-T1w_acq-tfl", kind=SeriesKind.T1
    ),
    "siemens-xa30-enhanced-asl": Case(
        "dcm_qa_xa30/In/25_asl_2d_tra", "dcm_qa_xa30/Ref/25_asl_2d_tra", kind=SeriesKind.ASL
    ),
    "siemens-xa30-enhanced-adc": Case(
        "dcm_qa_xa30/In/11_DWI_dir80_PA", "dcm_qa_xa30/Ref/11_DWI_dir80_PA", kind=SeriesKind.ADC
    ),
    "siemens-xa30-enhanced-tracew": Case(
        "dcm_qa_xa30/In/12_DWI_dir80_PA", "dcm_qa_xa30/Ref/12_DWI_dir80_PA", kind=SeriesKind.DWI
    ),
    # GE classic EPI: the RTIA timer (0021,105E) is zero in every file; the slice times are the continuous-
    # acquisition estimate from the protocol block's interleaved slice order (ingest/ge.py), as dcm2niix's.
    "ge-epi-timeseries": Case(
        "dcm_qa_nih/In/20180918GE/mr_0004", "dcm_qa_nih/Ref/DCM2NIIX_regression_test_4"
    ),
    "ge-dwi-private-tags": Case(
        "dcm_qa_ge/In/01_Ax_DWI_TENSOR_R2", "dcm_qa_ge/Ref/Ax_DWI_TENSOR_R2_1", kind=SeriesKind.DWI
    ),
    # The Ref .nii.gz is not in the stored snapshot: JSON, bval and bvec only. dcm2niix orders the classic
    # volumes by private tags 2005,1412/1413 (upstream README); we order by b-value, then acquisition.
    "philips-classic-dwi": Case(
        "dcm_qa_philips_dwi/In/cl",
        "dcm_qa_philips_dwi/Ref/701_DTI_Biobank_2mm_MB3S2_EPI_cl",
        kind=SeriesKind.DWI,
        has_nifti=False,
        frames_in_ref_order=False,
    ),
    "philips-enhanced-asl-pwi": Case(
        "dcm_qa_philips_enh/In/enh", "dcm_qa_philips_enh/Ref/1901_WIP_3DpCASL_enh_real", description="3DpCASL"
    ),
    # dcm2niix reports RepetitionTime 51 s for the Philips source ASL (protocol TR 4250 ms,
    # In/txt_protocols/3DpCASL.txt): the reference TR is wrong there, so it is checked against the protocol.
    # Its pixels are in Philips floating-point units (see the classic source below). Frame order: we sort by
    # temporal position, then label/control within it (frames 0, 120, 1, 121, 2, 122 of the file), which is the
    # order of dcm2niix's own classic Ref of this series; its enhanced Ref keeps file order (all three of one
    # label state, then the other three), so the Ref's frame m is our frame (0, 2, 4, 1, 3, 5)[m].
    "philips-enhanced-asl-source": Case(
        "dcm_qa_philips_enh/In/enh",
        "dcm_qa_philips_enh/Ref/1903_WIP_SOURCE_-_3DpCASL_enh",
        description="WIP SOURCE - 3DpCASL",
        tr_from_ref=False,
        ref_units_scaled=True,
        ref_frame_order=(0, 2, 4, 1, 3, 5),
    ),
    "philips-classic-asl-pwi": Case(
        "dcm_qa_philips_enh/In/cl", "dcm_qa_philips_enh/Ref/1901_WIP_3DpCASL_cl", description="3DpCASL"
    ),
    # dcm2niix's Refs of the source ASL (classic and enhanced) are in Philips floating-point units (x21 762
    # against ours, which are RescaleSlope units as its 1901 Refs are): compared up to one factor.
    "philips-classic-asl-source": Case(
        "dcm_qa_philips_enh/In/cl",
        "dcm_qa_philips_enh/Ref/1903_WIP_SOURCE_-_3DpCASL_cl",
        description="WIP SOURCE - 3DpCASL",
        tr_from_ref=False,
        ref_units_scaled=True,
    ),
    "canon-enhanced-dti": Case(
        "dcm_qa_canon_61/In/enh", "dcm_qa_canon_61/Ref/3000_DTI_PA-ortho_enh", kind=SeriesKind.DWI
    ),
}
PHILIPS_ASL_PROTOCOL_TR_MS = 4250.0  # In/txt_protocols/3DpCASL.txt


def _ref(stem: str, suffix: str) -> Path:
    return shared_data(*ROOT, stem + suffix)


def _series(case: Case):
    result = scan_images(shared_data(*ROOT, case.folder))
    series = [s for s in result.series if case.description is None or s.description == case.description]
    assert len(series) == 1, [s.description for s in result.series]
    return series[0], result.warnings


def _to_ref_axes(data: np.ndarray, affine: np.ndarray, ref_affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Our array and affine re-indexed (permutation + flips only) into the reference's voxel order."""
    ours, theirs = nib.orientations.io_orientation(affine), nib.orientations.io_orientation(ref_affine)
    transform = nib.orientations.ornt_transform(ours, theirs)
    moved = nib.orientations.apply_orientation(data, transform)
    new_affine = affine @ nib.orientations.inv_ornt_aff(transform, data.shape[:3])
    return moved, new_affine


@pytest.mark.parametrize("name", sorted(CASES))
def test_series_matches_dcm2niix(name: str) -> None:
    case = CASES[name]
    series, _ = _series(case)
    meta = json.loads(_ref(case.ref, ".json").read_text())
    if case.kind is not None:
        assert series.kind is case.kind, series.classification_reason
    # Repetition and echo time (the JSON is in seconds).
    if case.tr_from_ref:
        assert series.params.repetition_time_ms == pytest.approx(meta["RepetitionTime"] * 1000, abs=0.5)
    else:
        assert meta["RepetitionTime"] * 1000 != pytest.approx(PHILIPS_ASL_PROTOCOL_TR_MS)  # the known Ref error
        assert series.params.repetition_time_ms == pytest.approx(PHILIPS_ASL_PROTOCOL_TR_MS)
    assert series.params.echo_time_ms == pytest.approx(meta["EchoTime"] * 1000, abs=0.01)

    _h, frames, label = dicom_stack(series)
    layout = dicom.layout_stack(frames, label=label)
    if case.has_nifti:
        ref_img = nib.load(str(_ref(case.ref, ".nii.gz" if _ref_exists(case.ref, ".nii.gz") else ".nii")))
        ref = np.asarray(ref_img.get_fdata(dtype=np.float32))
        volume, _ = load_series(series)
        data, affine = _to_ref_axes(volume.data, volume.affine, ref_img.affine)
        if case.ref_frame_order is not None:
            data = data[..., list(case.ref_frame_order)]
        assert data.shape == ref.shape
        np.testing.assert_allclose(affine, ref_img.affine, atol=0.01)
        # Pixel values frame by frame: the frame order is right only if every frame matches.
        if case.ref_units_scaled:
            factor = float(np.abs(ref).max() / np.abs(data).max())
            assert factor > 1.0
            data = data * factor
        scale = float(np.abs(ref).max()) or 1.0
        np.testing.assert_allclose(data, ref, atol=1e-3 * scale, rtol=1e-3)
        if "SliceTiming" in meta and case.slice_timing:
            times = dicom.slice_times_ms(layout, repetition_time_ms=series.params.repetition_time_ms)
            assert times is not None, "slice timing missing"
            per_slice = np.broadcast_to(times[None, None, :], volume.data.shape[:3])
            moved, _ = _to_ref_axes(np.ascontiguousarray(per_slice), volume.affine, ref_img.affine)
            np.testing.assert_allclose(moved[0, 0, :], np.asarray(meta["SliceTiming"]) * 1000, atol=3.0)
    bval_file = _ref_path(case.ref, ".bval")
    if bval_file is not None:
        ref_b = np.array(bval_file.read_text().split(), float)
        bvals, grads = dicom.stack_diffusion(layout)
        # Same b-values per frame; the order of equal-b frames may differ (Philips: dcm2niix sorts by
        # private tags, not acquisition order), so the multiset is compared, then the vectors below.
        assert len(bvals) == len(ref_b)
        np.testing.assert_allclose(np.sort(bvals), np.sort(ref_b), atol=0.5)
        if case.frames_in_ref_order:
            np.testing.assert_allclose(bvals, ref_b, atol=0.5)
        bvec_file = _ref_path(case.ref, ".bvec")
        if bvec_file is not None:
            assert grads is not None, "gradient directions missing"
            if case.has_nifti:
                ref_affine = ref_img.affine
            else:  # no Ref NIfTI: dcm2niix's voxel axes are ours with the rows flipped (true of every Ref above)
                ref_affine = dicom.stack_affine(layout, label=label)[0] @ np.diag([1.0, -1.0, 1.0, 1.0])
            ours = _fsl_bvecs(grads, ref_affine)
            ref_v = np.loadtxt(bvec_file).T
            weighted = bvals > 50
            if case.frames_in_ref_order:
                cos = np.abs(np.sum(ours * ref_v, axis=1))[weighted]
            else:  # each of our directions must be one of the Ref's at the same b (order differs, see above)
                cos = np.array(
                    [
                        max(abs(float(ours[n] @ ref_v[m])) for m in np.flatnonzero(np.abs(ref_b - bvals[n]) < 0.5))
                        for n in np.flatnonzero(weighted)
                    ]
                )
            assert cos.min() > 0.999  # the sign of a diffusion gradient carries no information


def _fsl_bvecs(gradients_lps: np.ndarray, ref_affine: np.ndarray) -> np.ndarray:
    """Patient-LPS gradient directions in the Ref's FSL bvec convention (voxel axes, x flipped if det > 0)."""
    rot = ref_affine[:3, :3] / np.linalg.norm(ref_affine[:3, :3], axis=0)
    vox = (rot.T @ (np.diag([-1.0, -1.0, 1.0]) @ gradients_lps.T)).T
    if np.linalg.det(rot) > 0:
        vox[:, 0] *= -1
    return vox


def _ref_exists(stem: str, suffix: str) -> bool:
    return _ref_path(stem, suffix) is not None


def _ref_path(stem: str, suffix: str) -> Path | None:
    path = shared_data(*ROOT).joinpath(stem + suffix)
    return path if path.exists() else None


def test_dicomdir_and_non_image_objects_are_skipped_with_a_note() -> None:
    result = scan_images(shared_data(*ROOT, "dcm_qa_philips_dwi", "In", "cl"))
    assert [s.kind for s in result.series] == [SeriesKind.DWI]
    notes = " ".join(result.warnings)
    assert "DICOMDIR" in notes
    assert "1.2.840.10008.5.1.4.1.1.11.1" in notes  # the presentation state PS_0545
    assert "1.3.46.670589.11.0.0.12" in notes  # Philips private objects XX_0546/0547
