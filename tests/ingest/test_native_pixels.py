"""Uncompressed pixel data read straight from the bytes gives exactly pydicom's ``pixel_array``."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

from pseudoprog.ingest.dicom import _native_pixels, decode_pixels
from tests.conftest import shared_data


def _written(
    tmp_path: Path,
    name: str,
    values: np.ndarray,
    *,
    allocated: int,
    stored: int,
    signed: int,
    syntax: str,
    frames: int = 1,
) -> Path:
    """A file whose pixel data holds ``values`` as stored words (high bits as given: garbage above BitsStored)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.Rows, ds.Columns = values.shape[-2:]
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = allocated, stored, stored - 1, signed
    order = ">" if syntax == ExplicitVRBigEndian else "<"
    data = values.astype(f"{order}{'i' if signed else 'u'}{allocated // 8}").tobytes()
    ds.PixelData = data + (b"\0" if len(data) % 2 else b"")
    ds["PixelData"].VR = "OB" if allocated == 8 else "OW"
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True, little_endian=order == "<", implicit_vr=syntax == ImplicitVRLittleEndian)
    return path


@pytest.mark.parametrize(
    ("allocated", "stored", "signed", "syntax", "frames"),
    [
        (16, 16, 0, ExplicitVRLittleEndian, 1),
        (16, 12, 0, ExplicitVRLittleEndian, 1),  # garbage above bit 12 is masked, as pydicom does
        (16, 12, 1, ImplicitVRLittleEndian, 1),  # a 12-bit signed value is sign-extended
        (16, 16, 1, ExplicitVRBigEndian, 1),
        (8, 8, 0, ExplicitVRLittleEndian, 1),  # odd length: padded with one byte
        (32, 32, 1, ExplicitVRLittleEndian, 1),
        (16, 10, 1, ExplicitVRLittleEndian, 3),  # multi-frame
    ],
)
def test_native_decoding_equals_pydicom(tmp_path, allocated, stored, signed, syntax, frames):
    rng = np.random.default_rng(allocated * 100 + stored + signed)
    shape = (frames, 5, 7) if frames > 1 else (5, 7)
    lo, hi = (-(2 ** (allocated - 1)), 2 ** (allocated - 1)) if signed else (0, 2**allocated)
    words = rng.integers(lo, hi, size=shape, dtype=np.int64)  # every bit pattern, unused high bits included
    path = _written(
        tmp_path, "x.dcm", words, allocated=allocated, stored=stored, signed=signed, syntax=syntax, frames=frames
    )
    expected = pydicom.dcmread(path).pixel_array
    native = _native_pixels(pydicom.dcmread(path, defer_size=256))
    assert native is not None  # the fast path was taken
    assert native.dtype == expected.dtype and native.shape == expected.shape
    np.testing.assert_array_equal(native, expected)


def test_short_pixel_data_goes_to_pydicom(tmp_path):
    path = _written(
        tmp_path, "x.dcm", np.zeros((4, 4)), allocated=16, stored=16, signed=0, syntax=ExplicitVRLittleEndian
    )
    ds = pydicom.dcmread(path)
    ds.Rows = 40  # the header promises more pixels than the file holds
    assert _native_pixels(ds) is None
    with pytest.raises(Exception):  # noqa: B017 - pydicom's own error, whatever its type
        decode_pixels(ds)


def test_real_scanners_files_decode_as_pydicom():
    """Every uncompressed image of the real multi-vendor and ReMIND series: the same array as pydicom's."""
    checked = 0
    for folder in (shared_data("real-dicom-multivendor"), shared_data("real-glioma-dicom-remind")):
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in ("", ".dcm"))
        for path in itertools.islice(files, 0, None, 3):
            try:
                ds = pydicom.dcmread(path, defer_size=256)
            except pydicom.errors.InvalidDicomError:
                continue
            native = _native_pixels(ds) if "PixelData" in ds else None
            if native is None:
                continue
            expected = pydicom.dcmread(path).pixel_array
            assert native.dtype == expected.dtype and np.array_equal(native, expected), path.name
            checked += 1
    assert checked >= 50


@pytest.mark.parametrize(
    ("dtype", "values", "rescale"),
    [
        (np.int16, [-32768, -1, 0, 32767], None),
        (np.uint16, [0, 1, 4095, 65535], None),
        (np.uint8, [0, 1, 128, 255], None),
        (np.int16, [-32768, -1, 0, 32767], (0.5, -3.25)),  # a real rescale: still the float64 arithmetic
    ],
)
def test_read_pixels_equals_rescale_arithmetic(tmp_path: Path, dtype: type, values: list[int], rescale: tuple | None):
    """A stack read without a rescale holds exactly the stored integers (the float64 arithmetic, rounded)."""
    from pseudoprog.ingest.dicom import file_index, load_stack, scan_folder, split_stacks

    rng = np.random.default_rng(0)
    info = np.iinfo(dtype)
    slices = []
    for k in range(3):
        plane = rng.integers(info.min, int(info.max) + 1, size=(6, 5)).astype(dtype)
        plane.flat[: len(values)] = values
        slices.append(plane)
        bits = np.dtype(dtype).itemsize * 8
        path = _written(
            tmp_path,
            f"s{k}.dcm",
            plane,
            allocated=bits,
            stored=bits,
            signed=int(info.min < 0),
            syntax=ExplicitVRLittleEndian,
        )
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID, ds.StudyInstanceUID = "1.2.3.4", "1.2.3"
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [0.0, 0.0, 2.0 * k], [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness, ds.InstanceNumber = [1.0, 1.0], 2.0, k + 1
        if rescale is not None:
            ds.RescaleSlope, ds.RescaleIntercept = rescale
        ds.save_as(path)
    expected = np.stack([s.T.astype(np.float64) for s in slices], axis=-1)
    if rescale is not None:
        expected = expected * rescale[0] + rescale[1]
    with file_index():
        (headers,), _ = scan_folder(tmp_path)
        ((_, frames),) = split_stacks(headers).items()
        volume, _, _ = load_stack(headers, frames, label="test", uid="1.2.3.4")
    assert volume.data.dtype == np.float32
    np.testing.assert_array_equal(volume.data, expected.astype(np.float32))
