"""Regression tests of the parser crashes of issue 18 (and those the fuzz harness found): each is our InputError
naming the file and the field, never another exception."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from pseudoprog.errors import InputError
from pseudoprog.ingest import load_series, scan_images
from tests.conftest import shared_data

REMIND = ("real-glioma-dicom-remind", "3DAXT1postcontrast_MRI")


def _two_slices(tmp_path: Path, change=None, *, which: int = 0) -> Path:
    """Two real slices of the ReMIND T1c, one of them changed by ``change(ds)``."""
    src = shared_data(*REMIND)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, name in enumerate(("1-001.dcm", "1-002.dcm")):
        ds = pydicom.dcmread(src / name)
        if change is not None and i == which:
            change(ds)
        ds.save_as(folder / name, enforce_file_format=False)
    return folder


def _read_all(folder: Path) -> None:
    for series in scan_images(folder).series:
        if series.shape is not None:
            load_series(series)


def _refused(folder: Path, field: str, file: str = "1-001.dcm") -> InputError:
    with pytest.raises(InputError) as err:
        _read_all(folder)
    assert err.value.file is not None and err.value.file.endswith(file), err.value
    assert field in (err.value.field or ""), err.value
    return err.value


def test_the_unchanged_slices_read(tmp_path):
    _read_all(_two_slices(tmp_path))


@pytest.mark.parametrize(
    ("keyword", "value", "field"),
    [
        ("ImagePositionPatient", "12.5", "ImagePositionPatient"),  # 'DSfloat' object is not iterable
        ("ImageOrientationPatient", "1", "ImageOrientationPatient"),
        ("PixelSpacing", "0.5", "PixelSpacing"),
        ("PixelSpacing", ["0", "0"], "PixelSpacing"),  # zero spacing
        ("ImagePositionPatient", ["1", "nan", "3"], "ImagePositionPatient"),
        ("RescaleSlope", "nan", "RescaleSlope"),
        ("RescaleIntercept", "inf", "RescaleIntercept"),
        ("SeriesNumber", ["3", "4"], "SeriesNumber"),  # MultiValue where one value is expected
        ("Rows", 65535, "Rows/Columns"),  # declared size against the file size and the memory budget
    ],
)
def test_malformed_attribute_is_an_input_error_naming_file_and_field(tmp_path, keyword, value, field):
    def change(ds):
        setattr(ds, keyword, value)
        if keyword == "Rows":
            ds.Columns = 65535

    _refused(_two_slices(tmp_path, change), field)


def test_missing_position_on_one_slice_names_that_slice(tmp_path):
    def change(ds):
        del ds.ImagePositionPatient

    _refused(_two_slices(tmp_path, change, which=1), "ImagePositionPatient", file="1-002.dcm")


def test_unknown_vr_is_named(tmp_path):
    folder = _two_slices(tmp_path)
    path = folder / "1-001.dcm"
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    raw = bytearray(path.read_bytes())
    at = raw.find(b"\x08\x00\x3e\x10")  # (0008,103E) SeriesDescription, explicit VR 'LO'
    assert at > 0
    raw[at + 4 : at + 6] = b"ZZ"
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError) as err:
        _read_all(folder)
    assert err.value.file is not None and err.value.file.endswith("1-001.dcm")


def test_nan_voxels_are_named(tmp_path):
    folder = _two_slices(tmp_path)
    path = folder / "1-002.dcm"
    ds = pydicom.dcmread(path)
    ds.RescaleSlope = "1e39"  # finite in the header, infinite once applied in float32
    ds.save_as(path, enforce_file_format=False)
    with pytest.raises(InputError, match="NaN or infinite") as err:
        _read_all(folder)
    assert err.value.file is not None and "PixelData" in (err.value.field or "")


# ---- NIfTI and sidecars (crashes the fuzz harness found) ------------------------------------------------------


def _nifti(tmp_path: Path, meta: dict, *, four_d: bool = True, data=None) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    shape = (6, 5, 4, 3) if four_d else (6, 5, 4)
    arr = np.ones(shape, np.float32) if data is None else data
    nib.save(nib.Nifti1Image(arr, np.diag([1.5, 1.5, 3.0, 1.0])), str(folder / "dsc.nii"))
    (folder / "dsc.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize(
    ("meta", "field"),
    [
        ({"FrameTimesStart": {"a": 1}}, "FrameTimesStart"),
        ({"FrameTimesStart": ""}, "FrameTimesStart"),
        ({"MagneticFieldStrength": ""}, "MagneticFieldStrength"),
        ({"ImageType": -1}, "ImageType"),
        ({"ImageType": [1, "x"]}, "ImageType"),
        ({"bval": "abc"}, "bval"),
        ({"EchoTime": [0.03, "x"]}, "EchoTime"),
        ({"FlipAngle": [1, "x"]}, "FlipAngle"),
        ({"EchoTime": 2.5}, "EchoTime"),  # 2.5 s: not a TE anyone uses (milliseconds in a seconds field)
        ({"RepetitionTime": 1500}, "RepetitionTime"),
        ({"InversionTime": -1}, "InversionTime"),
    ],
)
def test_bad_sidecar_values_are_named(tmp_path, meta, field):
    with pytest.raises(InputError) as err:
        _read_all(_nifti(tmp_path, meta))
    assert err.value.file is not None and err.value.file.endswith("dsc.json") and err.value.field == field


def test_plausible_sidecar_reads(tmp_path):
    _read_all(_nifti(tmp_path, {"EchoTime": 0.03, "RepetitionTime": 1.5, "InversionTime": 2.5}))


def test_nan_nifti_voxels_are_named(tmp_path):
    data = np.ones((6, 5, 4), np.float32)
    data[1, 1, 1] = np.nan
    with pytest.raises(InputError, match="NaN or infinite") as err:
        _read_all(_nifti(tmp_path, {}, four_d=False, data=data))
    assert err.value.file is not None and err.value.file.endswith("dsc.nii")


def test_damaged_tarquin_number_is_named(tmp_path):
    from pseudoprog.spectroscopy.results import read_fit_result

    src = shared_data("mrs-suspect-testdata", "tarquin", "tarquin_results.txt").read_bytes()
    raw = bytearray(src)
    raw[96] = 101  # the fuzz harness's find: a concentration turned into 'e0.000'
    path = tmp_path / "tarquin_results.txt"
    path.write_bytes(bytes(raw))
    try:
        read_fit_result(path)
    except InputError as err:
        assert err.file is not None and err.file.endswith("tarquin_results.txt")
