"""Header values decoded once per run (ingest.dicom's memo of identical element bytes) equal pydicom's own decoding.

Inside a run's file index, an element whose bytes were decoded before (in another file of the series) is not
decoded again: its earlier value is reused for the frame records. These tests read real multi-vendor DICOM
(Siemens mosaics, Siemens XA enhanced, GE, Philips classic/enhanced/gzip, Canon; explicit and implicit VR)
both ways and require the same frame records, and each reused value equal to a fresh decoding of that file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataelem import RawDataElement

from pseudoprog.case import SeriesKind
from pseudoprog.errors import InputError
from pseudoprog.ingest import dicom
from pseudoprog.phantoms.writers import SyntheticSeries, write_dicom
from tests.conftest import shared_data
from tests.ingest.test_dicom import INFO

# (folder under ../shared/data, at most this many files of it, in name order)
FOLDERS = (
    ("real-dicom-multivendor/dcm_qa/In/Orientation", 20),  # Siemens mosaics (CSA header), JPEG 2000 / lossless
    ("real-dicom-multivendor/dcm_qa_xa30/In", 20),  # Siemens XA enhanced multi-frame
    ("real-dicom-multivendor/dcm_qa_ge/In", 20),  # GE DWI: private b-values and gradients
    ("real-dicom-multivendor/dcm_qa_nih/In/20180918GE/mr_0004", 60),  # GE EPI time series
    ("real-dicom-multivendor/dcm_qa_philips_enh/In", 80),  # Philips classic (gzip) and enhanced
    ("real-dicom-multivendor/dcm_qa_philips_dwi/In/cl/DICOM", 80),  # Philips DWI
    ("real-dicom-multivendor/dcm_qa_canon_61/In", 20),  # Canon enhanced
    ("real-glioma-dicom-remind/3DAXT1postcontrast_MRI", 40),  # implicit VR little endian
    ("qiba-dce-dro-v6/DICOM", 40),  # no preamble
)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(("sub", "limit"), FOLDERS, ids=[f[0].split("/", 1)[-1] for f in FOLDERS])
def test_frame_records_equal_with_and_without_the_run_index(sub, limit):
    folder = shared_data(*sub.split("/"))
    files = _files(folder)[:limit]
    plain: dict[Path, list[dicom.FrameRecord]] = {}
    for path in files:  # no index: every value through pydicom's own decoding, file by file
        try:
            ds = dicom.read_header(path)
        except InputError:
            continue
        if ds is not None and "Rows" in ds and dicom._skip_reason(ds) is None:
            plain[path] = dicom._frame_records(path, ds)
    assert plain, f"no image files under {sub}"
    with dicom.file_index() as index:
        dicom.scan_folder_files(list(plain))
        assert index.converted, "the run decoded no element twice: nothing was reused"
        assert {p: index.frames[p] for p in plain} == plain
        reused = 0
        for path in plain:  # every value left undecoded in a header equals what pydicom makes of it afresh
            ds = index.headers[path]
            assert ds is not None
            encoding = dicom._encoding_key(ds)
            fresh = dicom.dcmread(path, force=True)
            for tag in list(ds.keys()):
                elem = ds.get_item(tag, keep_deferred=True)
                if not isinstance(elem, RawDataElement) or elem.value is None:
                    continue
                key = dicom._raw_key(ds, elem, encoding)
                assert key is not None and key in index.converted, f"{path.name} {tag} neither decoded nor reused"
                if index.converted[key] is dicom._SEQUENCE:
                    continue
                assert fresh[tag].value == index.converted[key], f"{path.name} {tag}"
                assert ds[tag].value == index.converted[key], f"{path.name} {tag}"
                reused += 1
        assert reused > 0 or len(plain) == 1  # one enhanced object: nothing to reuse


def test_a_bad_value_is_named_in_its_file_even_when_its_neighbours_decode(tmp_path):
    """The memo never hides a file's broken element: identical good bytes elsewhere do not vouch for other bytes."""
    rng = np.random.default_rng(0)
    series = SyntheticSeries(
        name="AX T2",
        kind=SeriesKind.T2,
        data=rng.uniform(10, 1000, size=(16, 12, 4)).astype(np.float32),
        affine=np.diag([1.0, 1.0, 3.0, 1.0]),
        echo_time_ms=90.0,
        repetition_time_ms=4000.0,
    )
    write_dicom(series, tmp_path, INFO, series_number=2)
    files = _files(tmp_path)
    bad = files[2]
    raw = bytearray(bad.read_bytes())
    at = raw.find(b"\x08\x00\x3e\x10")  # (0008,103E) SeriesDescription: VR 'LO' → 'ZZ' (unknown)
    assert at > 0 and raw[at + 4 : at + 6] == b"LO"
    raw[at + 4 : at + 6] = b"ZZ"
    bad.write_bytes(bytes(raw))
    with dicom.file_index(), pytest.raises(InputError) as err:
        dicom.scan_folder_files(files)
    assert err.value.file is not None and Path(err.value.file) == bad
    assert "0008,103E" in (err.value.field or "")


def test_readers_outside_the_scan_reuse_the_runs_parse(tmp_path, monkeypatch):
    """Masks, RTDOSE, PET and spectroscopy readers take their datasets from the run's index: no second parse."""
    import pydicom

    rng = np.random.default_rng(1)
    series = SyntheticSeries(
        name="AX T1",
        kind=SeriesKind.T1,
        data=rng.uniform(10, 1000, size=(8, 6, 3)).astype(np.float32),
        affine=np.eye(4),
    )
    write_dicom(series, tmp_path, INFO, series_number=4)
    files = _files(tmp_path)
    outside = dicom.read_dataset(files[0], stop_before_pixels=True)  # no run: read from disk, as dcmread does
    assert outside.SOPInstanceUID == pydicom.dcmread(files[0]).SOPInstanceUID
    with dicom.file_index() as index:
        dicom.scan_folder_files(files)
        parses: list[str] = []
        real = pydicom.dcmread
        monkeypatch.setattr(pydicom, "dcmread", lambda fp, *a, **k: parses.append(str(fp)) or real(fp, *a, **k))
        for path in files:
            assert dicom.read_dataset(path, stop_before_pixels=True) is index.headers[path]
        assert parses == []
