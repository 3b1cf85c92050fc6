"""SUV from PET DICOM headers: the phantom's SUV comes back; bad headers are refused by name."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pseudoprog.errors import InputError
from pseudoprog.ingest import load_series, scan_images
from pseudoprog.ingest.pet import name_tracer, suv_parameters


def _copy_with(folder: Path, tmp_path: Path, **changes) -> list[Path]:
    out = tmp_path / "pet"
    shutil.copytree(folder, out)
    files = sorted(out.glob("*.dcm"))
    for f in files:
        ds = pydicom.dcmread(f)
        for key, value in changes.items():
            if key.startswith("rp_"):
                setattr(ds.RadiopharmaceuticalInformationSequence[0], key[3:], value)
            elif value is None:
                delattr(ds, key)
            else:
                setattr(ds, key, value)
        ds.save_as(f)
    return files


def test_phantom_suv_roundtrip(pet_dicom) -> None:
    phantom, folder = pet_dicom
    series = scan_images(folder.parent).series[0]
    volume, warnings = load_series(series)
    params = suv_parameters(series.files)
    assert warnings == [] and params.warnings == ()
    assert (params.tracer, params.tracer_class, params.radionuclide) == ("FET", "amino_acid", "F-18")
    assert params.uptake_time_s == pytest.approx(1800.0)
    suv = volume.data * params.suv_per_bq_ml
    np.testing.assert_allclose(suv, phantom.suv, atol=2e-3)  # uint16 quantisation of the stored values


def test_admin_decay_correction_uses_undecayed_dose(pet_dicom, tmp_path: Path) -> None:
    _, folder = pet_dicom
    start = suv_parameters(sorted(folder.glob("*.dcm")))
    admin = suv_parameters(_copy_with(folder, tmp_path, DecayCorrection="ADMIN"))
    assert admin.suv_per_bq_ml / start.suv_per_bq_ml == pytest.approx(math.pow(2.0, -1800.0 / 6586.2))


def test_series_time_after_acquisition_uses_earliest(pet_dicom, tmp_path: Path) -> None:
    _, folder = pet_dicom
    params = suv_parameters(_copy_with(folder, tmp_path, SeriesTime="120000"))
    assert params.uptake_time_s == pytest.approx(1800.0)
    assert any("earliest acquisition" in w for w in params.warnings)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"PatientWeight": None}, "PatientWeight"),
        ({"Units": "CNTS"}, "Units"),
        ({"DecayCorrection": "NONE"}, "DecayCorrection"),
        ({"rp_RadionuclideTotalDose": "200"}, "RadionuclideTotalDose"),
        ({"Modality": "MR"}, "Modality"),
    ],
)
def test_unusable_headers_are_refused_by_name(pet_dicom, tmp_path: Path, changes: dict, field: str) -> None:
    _, folder = pet_dicom
    with pytest.raises(InputError, match=field):
        suv_parameters(_copy_with(folder, tmp_path, **changes))


@pytest.mark.parametrize(
    ("text", "tracer"),
    [
        ("O-(2-[18F]fluoroethyl)-L-tyrosine", "FET"),
        ("FET", "FET"),
        ("Fludeoxyglucose F^18^", "FDG"),
        ("18F-FDG", "FDG"),
        ("L-[methyl-11C]methionine", "MET"),
        ("MET", "MET"),
        ("6-[18F]fluoro-L-DOPA", "FDOPA"),
        ("metastasis protocol", None),
        ("Water", None),
    ],
)
def test_tracer_names(text: str, tracer: str | None) -> None:
    assert name_tracer(text)[0] == tracer
