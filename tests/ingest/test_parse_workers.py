"""Worker processes parse a case's large DICOM folders (issue 19): same series, pixels and errors as one process.

The workers are used when the run's process runs one thread and forks; the thresholds (folder size, number of
files) are lowered here so a small phantom takes the worker path.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from pseudoprog.case import SeriesKind
from pseudoprog.errors import InputError
from pseudoprog.forked import beside
from pseudoprog.ingest import dicom, load_series, parse_workers, scan_images
from pseudoprog.phantoms.writers import StudyInfo, SyntheticSeries, write_dicom

INFO = StudyInfo(
    patient_id="T-1",
    patient_name="TEST^PHANTOM",
    birth_date=dt.date(1970, 1, 1),
    sex="O",
    study_date=dt.date(2026, 1, 5),
    study_seed="tests/parse-workers",
)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the workers are forked")


@pytest.fixture
def small_thresholds(monkeypatch):
    monkeypatch.setattr(parse_workers, "BIG_FOLDER", 20)
    monkeypatch.setattr(parse_workers, "MIN_FILES", 20)
    monkeypatch.setattr(parse_workers, "CHUNK", 7)
    monkeypatch.setattr(dicom, "CHUNK", 7)
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # whatever else this test process runs


def _case(folder: Path) -> Path:
    rng = np.random.default_rng(3)
    write_dicom(
        SyntheticSeries(
            name="T1c", kind=SeriesKind.T1C, data=rng.uniform(50, 900, (8, 8, 5)).astype(np.float32),
            affine=np.diag([2, 2, 4, 1.0]),
        ),
        folder, INFO, series_number=2,
    )
    write_dicom(
        SyntheticSeries(
            name="ep2d_perf", kind=SeriesKind.DSC, data=rng.uniform(100, 500, (8, 8, 4, 12)).astype(np.float32),
            affine=np.diag([2, 2, 5, 1.0]), frame_times_s=np.arange(12) * 1.5, echo_time_ms=30,
            repetition_time_ms=1500, flip_angle_deg=60, scanning_sequence="GR\\EP",
        ),
        folder, INFO, series_number=5,
    )
    return folder


def _scan(folder: Path, workers: int):
    with dicom.file_index(workers=workers) as index:
        scan = scan_images(folder)
        volumes = {s.uid: load_series(s)[0] for s in scan.series}
        return scan, volumes, index.parsed_by_workers


def test_workers_give_the_series_and_pixels_of_one_process(tmp_path, small_thresholds):
    folder = _case(tmp_path / "case")
    alone, alone_volumes, none = _scan(folder, 0)
    shared, shared_volumes, by_workers = _scan(folder, 2)
    assert none == 0 and by_workers == 48  # the DSC folder's 4 × 12 files
    assert [(s.uid, s.kind, s.shape, s.description) for s in shared.series] == [
        (s.uid, s.kind, s.shape, s.description) for s in alone.series
    ]
    for uid, volume in alone_volumes.items():
        np.testing.assert_array_equal(shared_volumes[uid].data, volume.data)
        np.testing.assert_array_equal(shared_volumes[uid].affine, volume.affine)
        if volume.frame_times_s is not None:
            np.testing.assert_array_equal(shared_volumes[uid].frame_times_s, volume.frame_times_s)
    assert shared.warnings == alone.warnings


def test_a_corrupt_file_a_worker_meets_is_named_as_one_process_names_it(tmp_path, small_thresholds):
    folder = _case(tmp_path / "case")
    dsc = next(p for p in folder.rglob("*") if p.is_dir() and len(list(p.iterdir())) == 48)
    victim = sorted(dsc.iterdir())[9]
    victim.write_bytes(victim.read_bytes()[:300])
    with pytest.raises(InputError) as alone:
        _scan(folder, 0)
    with pytest.raises(InputError) as shared:
        _scan(folder, 2)
    assert str(shared.value) == str(alone.value)
    assert victim.name in str(shared.value)


def _die(names):  # a worker killed mid-task (out of memory, a signal)
    os._exit(3)


def test_a_worker_that_dies_leaves_the_files_to_this_process(tmp_path, small_thresholds, monkeypatch, caplog):
    folder = _case(tmp_path / "case")
    alone, alone_volumes, _ = _scan(folder, 0)
    monkeypatch.setattr(parse_workers, "parse_chunk", _die)  # the forked workers inherit the patch
    shared, shared_volumes, by_workers = _scan(folder, 2)
    assert by_workers == 0
    assert [s.uid for s in shared.series] == [s.uid for s in alone.series]
    for uid, volume in alone_volumes.items():
        np.testing.assert_array_equal(shared_volumes[uid].data, volume.data)
    assert "parses the remaining files itself" in caplog.text


def test_no_workers_while_the_process_runs_other_threads(tmp_path, monkeypatch):
    monkeypatch.setattr(parse_workers, "BIG_FOLDER", 20)
    monkeypatch.setattr(parse_workers, "MIN_FILES", 20)
    monkeypatch.setattr(threading, "active_count", lambda: 3)  # e.g. the reading-room service's request threads
    folder = _case(tmp_path / "case")
    _scan_result, _volumes, by_workers = _scan(folder, 2)
    assert by_workers == 0


def _pid_and(value):
    return os.getpid(), value


def test_work_beside_runs_in_a_child_and_returns_its_result(monkeypatch):
    monkeypatch.setenv("PSEUDOPROG_CASE_THREADS", "2")
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    pid, value = beside(lambda: _pid_and({"a": [1, 2]}))()
    assert value == {"a": [1, 2]} and pid != os.getpid()


def test_work_beside_that_fails_in_the_child_fails_here_as_inline(monkeypatch):
    monkeypatch.setenv("PSEUDOPROG_CASE_THREADS", "2")
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    calls = []

    def work():
        calls.append(os.getpid())
        raise ValueError("the same error as inline")

    with pytest.raises(ValueError, match="the same error as inline"):
        beside(work)()
    assert calls == [os.getpid()]  # the child's attempt was in the child; the parent's here


def test_work_beside_runs_inline_with_one_thread_per_case(monkeypatch):
    monkeypatch.setenv("PSEUDOPROG_CASE_THREADS", "1")
    pid, _ = beside(lambda: _pid_and(None))()
    assert pid == os.getpid()


def test_a_refused_fork_leaves_the_work_to_this_process(tmp_path, small_thresholds, monkeypatch):
    def no_fork():
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    folder = _case(tmp_path / "case")
    _result, volumes, by_workers = _scan(folder, 2)
    assert by_workers == 0 and volumes
    monkeypatch.setenv("PSEUDOPROG_CASE_THREADS", "2")
    assert beside(lambda: 42)() == 42
