"""GE protocol data block → slice order → estimated slice times (continuous acquisition)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from pseudoprog.ingest.ge import protocol_fields, slice_times_from_protocol


def _block(text: str) -> bytes:
    body = gzip.compress(text.encode("latin-1"))
    return struct.pack("<I", len(body)) + body


def _file(tmp_path, *, order: str, first: str, last: str, manufacturer: str = "GE MEDICAL SYSTEMS", mb: str = "1"):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, generate_uid()
    ds.Manufacturer = manufacturer
    ds.add_new((0x0019, 0x0010), "LO", "GEMS_ACQU_01")
    ds.add_new((0x0019, 0x1018), "LO", first)
    ds.add_new((0x0019, 0x101A), "LO", last)
    ds.add_new((0x0025, 0x0010), "LO", "GEMS_SERS_01")
    ds.add_new((0x0025, 0x101B), "OB", _block(f'TR "2000.0"\nSLICEORDER "{order}"\nNOSLC "5"\n'))
    ds.add_new((0x0043, 0x0010), "LO", "GEMS_PARM_01")
    ds.add_new((0x0043, 0x10B6), "LO", f"{mb}\\4\\19")
    return ds


Z = np.array([[0.0, 0.0, z] for z in (-20.0, -10.0, 0.0, 10.0, 20.0)])  # slices k = 0..4, inferior to superior


def test_protocol_block_fields_and_garbage():
    assert protocol_fields(_block('SLICEORDER "1"\nNOSLC "15"\n')) == {"SLICEORDER": "1", "NOSLC": "15"}
    assert protocol_fields(b"\x10\x00\x00\x00not gzip at all!") == {}
    assert protocol_fields(b"") == {}


def test_interleaved_inferior_to_superior(tmp_path):
    times = slice_times_from_protocol(_file(tmp_path, order="1", first="I", last="S"), Z, repetition_time_ms=2000)
    np.testing.assert_allclose(times, [0, 1200, 400, 1600, 800])  # ranks 0, 2, 4 then 1, 3; TR / 5 apart


def test_sequential_superior_to_inferior(tmp_path):
    times = slice_times_from_protocol(_file(tmp_path, order="0", first="S", last="I"), Z, repetition_time_ms=2000)
    np.testing.assert_allclose(times, [1600, 1200, 800, 400, 0])


@pytest.mark.parametrize(
    ("kwargs", "tr"),
    [({"manufacturer": "SIEMENS"}, 2000), ({"mb": "3"}, 2000), ({"order": "7"}, 2000), ({}, None)],
)
def test_no_estimate_where_it_cannot_be_made(tmp_path, kwargs, tr):
    args = {"order": "1", "first": "I", "last": "S", **kwargs}
    assert slice_times_from_protocol(_file(tmp_path, **args), Z, repetition_time_ms=tr) is None
