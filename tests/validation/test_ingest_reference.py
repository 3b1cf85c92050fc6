"""Ingest of public reference data: QIBA DCE DRO v6 DICOM, vendor MR spectroscopy, TCGA NIfTI."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoprog.case import SeriesKind
from pseudoprog.ingest import load_series, scan_images
from tests.conftest import shared_data

pytestmark = pytest.mark.validation


def test_qiba_dce_v6_loads_as_one_dynamic_series_with_header_timing():
    folder = shared_data("qiba-dce-dro-v6", "DICOM")
    result = scan_images(folder)
    assert len(result.series) == 1
    series = result.series[0]
    assert series.kind is SeriesKind.DCE
    assert series.n_frames == 1321
    assert series.params.repetition_time_ms == 5 and series.params.flip_angle_deg == 30
    assert series.params.field_strength_t == 1.5
    volume, warnings = load_series(series)
    # 80 rows x 50 columns, one slice; i runs along the 50 columns.
    assert volume.data.shape == (50, 80, 1, 1321)
    assert volume.spacing_mm == pytest.approx((1.0, 1.0, 5.0))
    times = volume.frame_times_s
    assert times is not None
    assert times[0] == 0 and times[-1] == pytest.approx(660.0)
    np.testing.assert_allclose(np.diff(times), 0.5, atol=1e-9)
    # The first frame has no TriggerTime: it was filled from the instance number, and we said so.
    assert any("TriggerTime" in w for w in warnings)
    # Geometry: ImagePositionPatient (-131.39, -135.93, 0.466) LPS with identity orientation → RAS x, y negated.
    np.testing.assert_allclose(volume.affine[:3, 3], [131.38983, 135.92853, 0.46610], atol=1e-4)
    # The vascular strip (rows 70-79) is where the signal rises most: a check on the pixel layout.
    late = volume.data[:, :, 0, -1] - volume.data[:, :, 0, 0]
    assert late[:, 70:].mean() > late[:, 10:70].mean()


def test_vendor_spectroscopy_dicom_is_classified_as_mrs():
    folder = shared_data("mrs-suspect-testdata", "siemens")
    series = scan_images(folder).series
    kinds = {s.description or s.files[0].name: s.kind for s in series}
    assert all(kind is SeriesKind.MRS for kind in kinds.values()), kinds
    formats = sorted(s.source_format for s in series)
    assert formats == ["dicom", "dicom", "mrs"]  # XA DICOM, CSA .IMA, and the .rda text format


def test_lcmodel_outputs_are_recognised_as_spectroscopy():
    series = scan_images(shared_data("mrs-suspect-testdata", "lcmodel")).series
    assert {s.files[0].suffix for s in series} >= {".TABLE", ".COORD"}
    assert all(s.kind is SeriesKind.MRS for s in series)


def test_tcga_nifti_series_are_classified_from_their_names():
    folder = shared_data("tcga-lgg-brats-toolkit", "TCGA-FG-6692_raw")
    series = scan_images(folder).series
    by_kind = {s.kind: s for s in series}
    assert set(by_kind) == {SeriesKind.T1, SeriesKind.T1C, SeriesKind.T2, SeriesKind.FLAIR}
    flair, _ = load_series(by_kind[SeriesKind.FLAIR])
    assert flair.data.shape == (208, 256, 26)
    assert flair.spacing_mm == pytest.approx((0.898, 0.898, 5.5), abs=1e-3)


def test_tcga_brain_masks_load_as_masks():
    folder = shared_data("tcga-lgg-brats-toolkit", "TCGA-DU-7294", "masks_hdbet_native-space")
    series = scan_images(folder).series
    assert len(series) == 4 and all(s.kind is SeriesKind.SEG for s in series)
