"""``assess`` parses every DICOM file once and reads its pixels at most once (issue 19).

pydicom.dcmread is counted per file (a header parse; one that also reads the pixels counts as both) and so is
pydicom's deferred read of an element left on disk (a pixel read without a second header parse). The run is
checked twice: parsing every file itself (one thread per case, as a cohort worker runs), and with the worker
processes that parse large folders (ingest.parse_workers), whose parses the run's index counts.
"""

from __future__ import annotations

import os
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pydicom
import pydicom.filereader
import pytest

from pseudoprog.flow import assess, run
from pseudoprog.ingest import dicom
from pseudoprog.phantoms.anatomy import Grid

pytestmark = pytest.mark.e2e
SMALL_GRID = Grid(shape=(64, 72, 24), spacing_mm=(3.0, 3.0, 6.0))


def _key(fp: object) -> str:
    name = fp if isinstance(fp, (str, os.PathLike)) else getattr(fp, "name", fp)
    return str(Path(str(name)).resolve())


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    from pseudoprog.phantoms.patient import write_synthetic_case

    folder = tmp_path_factory.mktemp("read-once-case")
    return write_synthetic_case(
        folder / "case",
        scenario="true_progression",
        fmt="dicom",
        seed=7,
        grid=SMALL_GRID,
        sequences=("structural", "dsc", "dce"),
    )


def _counted_run(case_dir, folder, *, threads: str):
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

    indexes: list[dicom.FileIndex] = []
    real_index = run.file_index

    @contextmanager
    def capturing_index(*args, **kwargs):
        with real_index(*args, **kwargs) as index:
            indexes.append(index)
            yield index

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("PSEUDOPROG_CASE_THREADS", threads)
        mp.setattr(run, "file_index", capturing_index)
        mp.setattr(pydicom, "dcmread", dcmread)
        # The small grid's slices (9 KB) would be read with their headers; defer them to count their reads.
        mp.setattr(dicom, "_DEFER_BYTES", 1024)
        mp.setattr(pydicom.filereader, "read_deferred_data_element", deferred)
        result = assess(case_dir, folder / "out")
    finally:
        mp.undo()
    files = {str(p.resolve()) for p in case_dir.rglob("*.dcm")}
    by_workers = {str(p.resolve()) for p in indexes[0].parsed}
    return result, files, headers, pixels, folder / "out", by_workers


@pytest.fixture(scope="module")
def counted(case_dir, tmp_path_factory):
    """One thread per case: this process parses every file."""
    return _counted_run(case_dir, tmp_path_factory.mktemp("read-once"), threads="1")


@pytest.fixture(scope="module")
def counted_with_workers(case_dir, tmp_path_factory):
    """Two threads per case: worker processes parse the large folders (when this process runs one thread)."""
    return _counted_run(case_dir, tmp_path_factory.mktemp("read-once-workers"), threads="2")


def test_every_dicom_file_is_parsed_once(counted):
    _result, files, headers, _pixels, _out, by_workers = counted
    assert not by_workers
    seen = {k: v for k, v in headers.items() if k in files}
    assert set(seen) == files  # every file of the case was looked at ...
    assert max(seen.values()) == 1, Counter(seen.values())  # ... and parsed once


def test_pixels_are_read_at_most_once_per_file(counted):
    _result, files, _headers, pixels, _out, _by_workers = counted
    seen = {k: v for k, v in pixels.items() if k in files}
    assert seen, "the dynamic series' pixels were read"
    assert max(seen.values()) == 1, Counter(seen.values())


def test_the_dicom_outputs_were_written_from_the_loaded_headers(counted):
    result, _files, _headers, _pixels, out, _by_workers = counted
    assert any(rel.endswith(".dcm") for rel in result.outputs.values()) or list(out.rglob("*.dcm"))


def test_with_workers_each_file_is_parsed_by_one_process(counted_with_workers):
    _result, files, headers, pixels, _out, by_workers = counted_with_workers
    assert by_workers, "the DSC and DCE folders were parsed by the worker processes"
    assert by_workers <= files
    here = {k: v for k, v in headers.items() if k in files}
    assert max(here.values()) == 1, Counter(here.values())
    assert set(here) | by_workers == files  # every file parsed, in one process or the other ...
    # ... and only there: the Parametric Maps reference the dynamic series' first frame at each slice position
    # from what the worker kept of it, not by reading the file again here
    assert not set(here) & by_workers, sorted(set(here) & by_workers)[:3]
    # pixels the workers decoded are not read again here
    assert not {k for k, v in pixels.items() if v} & by_workers


def _references(out: Path) -> dict[str, list]:
    """What each DICOM output says about its source images (its own UIDs and times differ from run to run)."""
    found: dict[str, list] = {}
    for path in sorted(out.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        frames = []
        for item in getattr(ds, "PerFrameFunctionalGroupsSequence", []):
            derived = [
                (src.ReferencedSOPClassUID, src.ReferencedSOPInstanceUID)
                for d in getattr(item, "DerivationImageSequence", [])
                for src in getattr(d, "SourceImageSequence", [])
            ]
            plane = getattr(item, "PlanePositionSequence", None)
            frames.append((derived, [round(float(v), 4) for v in plane[0].ImagePositionPatient] if plane else None))
        series = [
            (s.SeriesInstanceUID, sorted(i.ReferencedSOPInstanceUID for i in s.ReferencedInstanceSequence))
            for s in getattr(ds, "ReferencedSeriesSequence", [])
        ]
        patient = [str(ds.get(k, "")) for k in ("PatientID", "PatientName", "StudyInstanceUID", "FrameOfReferenceUID")]
        found[str(path.relative_to(out))] = [patient, series, frames]
    return found


def test_with_workers_the_dicom_outputs_reference_the_same_source_frames(counted, counted_with_workers):
    alone, with_workers = _references(counted[4]), _references(counted_with_workers[4])
    assert alone, "DICOM outputs were written"
    assert any(frames and frames[0][0] for _p, _s, frames in alone.values()), "frames reference their sources"
    assert with_workers == alone


def test_with_workers_the_outputs_are_those_of_one_process(counted, counted_with_workers):
    alone, with_workers = counted[0], counted_with_workers[0]
    assert with_workers.probability_true_progression == alone.probability_true_progression
    assert with_workers.response == alone.response
    assert sorted(with_workers.outputs) == sorted(alone.outputs)
    assert [t.lesions for t in with_workers.timepoints] == [t.lesions for t in alone.timepoints]


def test_the_index_is_closed_after_the_run(counted):
    assert dicom.active_index() is None
