"""``assess`` parses every DICOM file once and reads its pixels at most once (issue 19).

pydicom.dcmread is counted per file (a header parse; one that also reads the pixels counts as both) and so is
pydicom's deferred read of an element left on disk (a pixel read without a second header parse).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pydicom
import pydicom.filereader
import pytest

from pseudoprog.flow import assess
from pseudoprog.ingest import dicom
from pseudoprog.phantoms.anatomy import Grid

pytestmark = pytest.mark.e2e
SMALL_GRID = Grid(shape=(64, 72, 24), spacing_mm=(3.0, 3.0, 6.0))


def _key(fp: object) -> str:
    name = fp if isinstance(fp, (str, os.PathLike)) else getattr(fp, "name", fp)
    return str(Path(str(name)).resolve())


@pytest.fixture(scope="module")
def counted(tmp_path_factory):
    from pseudoprog.phantoms.patient import write_synthetic_case

    folder = tmp_path_factory.mktemp("read-once")
    case_dir = write_synthetic_case(
        folder / "case", scenario="true_progression", fmt="dicom", seed=7, grid=SMALL_GRID,
        sequences=("structural", "dsc", "dce"),
    )
    headers: Counter[str] = Counter()
    pixels: Counter[str] = Counter()
    real_dcmread = pydicom.dcmread
    real_deferred = pydicom.filereader.read_deferred_data_element

    def dcmread(fp, *args, **kwargs):
        headers[_key(fp)] += 1
        if not kwargs.get("stop_before_pixels") and not kwargs.get("defer_size"):
            pixels[_key(fp)] += 1
        return real_dcmread(fp, *args, **kwargs)

    def deferred(fileobj_type, filename_or_obj, timestamp, raw_data_elem):
        if raw_data_elem.tag == 0x7FE00010:
            pixels[_key(filename_or_obj)] += 1
        return real_deferred(fileobj_type, filename_or_obj, timestamp, raw_data_elem)

    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(pydicom, "dcmread", dcmread)
        # The small grid's slices (9 KB) would be read with their headers; defer them to count their reads.
        mp.setattr(dicom, "_DEFER_BYTES", 1024)
        mp.setattr(pydicom.filereader, "read_deferred_data_element", deferred)
        result = assess(case_dir, folder / "out")
    finally:
        mp.undo()
    files = {str(p.resolve()) for p in case_dir.rglob("*.dcm")}
    return result, files, headers, pixels, folder / "out"


def test_every_dicom_file_is_parsed_once(counted):
    _result, files, headers, _pixels, _out = counted
    seen = {k: v for k, v in headers.items() if k in files}
    assert set(seen) == files  # every file of the case was looked at ...
    assert max(seen.values()) == 1, Counter(seen.values())  # ... and parsed once


def test_pixels_are_read_at_most_once_per_file(counted):
    _result, files, _headers, pixels, _out = counted
    seen = {k: v for k, v in pixels.items() if k in files}
    assert seen, "the dynamic series' pixels were read"
    assert max(seen.values()) == 1, Counter(seen.values())


def test_the_dicom_outputs_were_written_from_the_loaded_headers(counted):
    result, _files, _headers, _pixels, out = counted
    assert any(rel.endswith(".dcm") for rel in result.outputs.values()) or list(out.rglob("*.dcm"))


def test_the_index_is_closed_after_the_run(counted):
    assert dicom.active_index() is None
