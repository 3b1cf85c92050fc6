"""Worker processes that parse the large folders of a DICOM case (headers and pixels) beside the run.

pydicom's parse is Python, so threads cannot parse two files at once (the GIL): on the synthetic DICOM patient
the header scan alone took 1.6× the time to read every file once. A perfusion series is most of a case's files
(a DSC series of 60 dynamics × 25 slices is 1,500 files), so the run hands the files of its large folders to
worker processes, chunk by chunk, and parses the small folders (the structural series) itself meanwhile.

Each file is still parsed once, in exactly one process. A worker returns what the run needs of a file, not its
dataset (unpickling a dataset costs half of parsing it): the identifiers that group files into series, the
frame records, the decoded pixel matrix, and the whole dataset only for the first file of each series in its
chunk (the series' representative header, which the classifier reads). A file whose dataset is asked for later
(the few source images a DICOM output references) is read again by the run, from disk.

Errors are the serial scan's: a corrupt file raises the same :class:`InputError`, naming it, in file order.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from ..errors import InputError
from ..errors import malformed as bad_file

# A folder with at least this many files is parsed by the workers (a dynamic or multi-b-value series); the
# workers are used at all only when such folders hold at least ``MIN_FILES`` files (below that, starting them
# costs more than it saves).
BIG_FOLDER = 100
MIN_FILES = 400
CHUNK = 128  # files per task: small enough to share the work evenly, large enough that a task outweighs its IPC


@dataclass
class Parsed:
    """What a worker learnt about one file (see the module docstring)."""

    path: Path
    is_dicom: bool = True
    error: tuple[str, str | None, str | None, str | None] | None = None  # InputError(problem, file, field, expected)
    skip_reason: str | None = None
    series_uid: str = ""
    identity: tuple[str, str, str, str] = ("", "", "", "")
    frames: list[Any] | None = None  # FrameRecords, None when the object has no image frames
    pixels: np.ndarray | None = None  # the decoded pixel matrix (None: decoded by the run when needed)
    first: Dataset | None = None  # the dataset, for the first file of each series in the chunk

    def raise_error(self) -> None:
        if self.error is not None:
            problem, file, field, expected = self.error
            raise InputError(problem, file=file, field=field, expected=expected)


def _error(exc: InputError) -> tuple[str, str | None, str | None, str | None]:
    return (exc.problem, exc.file, exc.field, exc.expected)


def parse_chunk(names: Sequence[str]) -> list[Parsed]:
    """Parse files in a worker: headers checked as the serial scan checks them, frames described, pixels decoded."""
    from . import dicom

    out: list[Parsed] = []
    seen: set[str] = set()
    with dicom.file_index():  # the chunk's files share decoded header values (most of a series' header repeats)
        for name in names:
            out.append(_parse_one(Path(name), seen, dicom))
    return out


def _parse_one(path: Path, seen: set[str], dicom: Any) -> Parsed:
    try:
        ds = dicom.read_header(path)
    except InputError as exc:
        return Parsed(path, error=_error(exc))
    if ds is None:
        return Parsed(path, is_dicom=False)
    try:
        with bad_file(path, "reading its headers"):
            dicom._check_once(ds, path)
            get = dicom._getter(ds)
            parsed = Parsed(
                path,
                skip_reason=dicom._skip_reason(ds, get=get),
                series_uid=str(get("SeriesInstanceUID", "") or ""),
                identity=dicom.identity(ds, get=get),
            )
            modality = str(get("Modality", "") or "")
            if parsed.skip_reason is None and parsed.series_uid and "Rows" in ds:
                if modality not in dicom._NON_VOLUME_MODALITIES:
                    parsed.frames = dicom._frame_records(path, ds, get=get)
    except InputError as exc:
        return Parsed(path, error=_error(exc))
    if parsed.frames and dicom.has_pixels(ds):
        try:
            parsed.pixels = dicom.decode_pixels(ds)
        except Exception:  # the run decodes it again and reports the failure with its context
            parsed.pixels = None
    if parsed.series_uid and parsed.series_uid not in seen:
        seen.add(parsed.series_uid)
        parsed.first = ds
    return parsed


class ParseWorkers:
    """The run's worker processes, started on first use and stopped when the run's file index closes.

    They are forked from the run's process, and only while it runs a single thread (the command line, a cohort
    worker's case, a script): a fork copies no other thread's half-held lock, and unlike ``spawn`` or
    ``forkserver`` it does not import the user's ``__main__`` again in every worker (a script without an
    ``if __name__ == "__main__":`` guard would run again there). Elsewhere (the reading-room service runs
    cases in threads; platforms without fork) the run parses every file itself, as before.
    """

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.broken = False  # a worker failed (killed, out of memory): the rest of the run parses alone

    def submit(self, names: Sequence[str]) -> Future[list[Parsed]] | None:
        """Parse ``names`` in a worker; ``None`` when the workers cannot be used (parse them in this process)."""
        with self._lock:
            if self.broken:
                return None
            if self._pool is None:
                if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
                    self.broken = True
                    return None
                # With fork every worker is started here, at once, before the pool's own manager thread (on the
                # first submit). The parent's objects are frozen meanwhile, so the workers' garbage collector does
                # not walk (and copy, page by page) the memory they inherit.
                self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("fork"))
            try:
                with frozen_heap():
                    return self._pool.submit(parse_chunk, list(names))
            except (RuntimeError, OSError):  # BrokenProcessPool, shutting down, or the fork itself refused
                self.broken = True
                return None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the garbage collector's view of the existing objects while processes are forked (see gc.freeze)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def big_folder_files(paths: Sequence[Path]) -> set[Path]:
    """The files the workers should parse: those in folders of at least ``BIG_FOLDER`` files (none if too few)."""
    by_folder: dict[Path, list[Path]] = {}
    for p in paths:
        by_folder.setdefault(p.parent, []).append(p)
    big = {p for files in by_folder.values() if len(files) >= BIG_FOLDER for p in files}
    return big if len(big) >= MIN_FILES else set()
