"""PET against the phantom of known uptake: SUV from the DICOM headers, registration to a T1c, TBR within 2 %.

The PET is written as DICOM (Bq/ml, decay-corrected to the series start, FET, 200 MBq, 72 kg, 30 min uptake),
read back, moved by a known rigid transform (as if acquired on another day), registered to a synthetic T1c
with mutual information, and the TBR measured against the automatic contralateral background. Truth: lesion
SUV 2.6, background SUV 1.0 → TBR 2.6.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pseudoprog.case import LesionMask, Volume
from pseudoprog.ingest import load_series, scan_images
from pseudoprog.ingest.pet import suv_parameters
from pseudoprog.pet.lesion import assess_pet
from pseudoprog.phantoms.pet import make_pet_phantom, write_pet_dicom
from tests.pet.conftest import synthetic_t1c

pytestmark = pytest.mark.validation


def _run(tmp_path: Path, *, noise_sd: float) -> tuple[dict, float]:
    phantom = make_pet_phantom(noise_sd=noise_sd, seed=7)
    write_pet_dicom(phantom, tmp_path / "img" / "pet")
    series = scan_images(tmp_path / "img").series[0]
    volume, _ = load_series(series)
    move = np.eye(4)
    move[:3, :3] = Rotation.from_euler("xyz", [2.0, -3.0, 4.0], degrees=True).as_matrix()
    move[:3, 3] = [4.0, -3.0, 2.0]
    moved = Volume(volume.data, move @ volume.affine)
    t1c, lesion = synthetic_t1c(spacing=2.0, shape=(96, 108, 72))
    out = assess_pet(moved, suv_parameters(series.files), [LesionMask("L1", lesion, t1c.affine)], t1c=t1c)
    return {m.name: m for m in out.markers}, phantom.tbr


def test_tbr_within_two_percent_noise_free(tmp_path: Path) -> None:
    markers, truth = _run(tmp_path, noise_sd=0.0)
    assert markers["pet_tbr_max"].value == pytest.approx(truth, rel=0.02)
    assert markers["pet_tbr_mean"].value == pytest.approx(truth, rel=0.02)
    assert markers["pet_suv_max"].value == pytest.approx(2.6, rel=0.01)
    q = markers["pet_tbr_max"].quality
    assert q["background_suv_mean"] == pytest.approx(1.0, rel=0.01)
    assert q["tracer"] == "FET" and q["registered"] is True
    assert q["registration_shift_mm"] == pytest.approx(np.linalg.norm([4.0, -3.0, 2.0]), abs=1.0)


def test_tbr_mean_within_two_percent_with_noise(tmp_path: Path) -> None:
    # 5 % noise (SD 0.05 SUV): the mean-based ratio stays within 2 %; the maximum is biased upwards by noise
    # (the maximum of ~270 noisy voxels), as in real PET, and is only checked to be above the truth.
    markers, truth = _run(tmp_path, noise_sd=0.05)
    assert markers["pet_tbr_mean"].value == pytest.approx(truth, rel=0.02)
    assert markers["pet_tbr_max"].value > truth
    assert markers["pet_tbr_max"].quality["background_suv_mean"] == pytest.approx(1.0, rel=0.01)
