"""DICOM reading: folders of any layout, classic and enhanced multi-frame, static and dynamic series.

Why by hand on top of pydicom rather than through a converter (dcm2niix, dicom2nifti): the later
stages need, per frame, the acquisition time, b-value, flip angle and echo, plus the original
headers for protocol checks and for DICOM outputs that reference the source images; and a bad
file must give an error that names it. pydicom reads; this module only groups, sorts and builds
the geometry. Every file becomes one or more :class:`FrameRecord` (one per frame), so classic
single-frame and enhanced multi-frame objects go through the same grouping.

Geometry: the array is indexed (i, j, k[, t]) with i along the DICOM row direction (columns of
the pixel matrix), j along the column direction, k along the slice normal, and the affine maps to
RAS+ mm (DICOM LPS with x and y negated), as nibabel and dcm2niix do.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import logging
import math
import pickle
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.charset import default_encoding
from pydicom.datadict import DicomDictionary, dictionary_keyword, dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pydicom.valuerep import AMBIGUOUS_VR

from ..case import AcquisitionParams, Volume
from ..errors import InputError
from ..errors import malformed as bad_file
from ..privacy import redact
from . import ge
from .csa import csa_floats, image_csa
from .parse_workers import CHUNK, Parsed, ParseWorkers, big_folder_files

log = logging.getLogger(__name__)

# Files we never try to read as DICOM (documentation, sidecars, archives found in exported folders).
_NOT_DICOM_SUFFIXES = {
    ".txt",
    ".md",
    ".json",
    ".xml",
    ".html",
    ".htm",
    ".pdf",
    ".csv",
    ".yaml",
    ".yml",
    ".nii",
    ".gz",
    ".zip",
    ".jpg",
    ".jpeg",
    ".png",
    ".bval",
    ".bvec",
    ".rda",
    ".table",
    ".coord",
    ".log",
    ".ini",
}
_DICOM_SUFFIXES = {".dcm", ".ima", ".dicom", ".dic"}

# Objects whose pixels are not an image volume (spectroscopy, structure sets, documents).
_NON_VOLUME_MODALITIES = {"RTSTRUCT", "SR", "PR", "KO", "RTPLAN", "DOC"}
# Objects that are no series of ours at all: presentation states, structured reports, key-object
# selections, DICOMDIR, and Philips' private non-image SOP classes that scanners export beside the images.
# They are skipped with a note (scan_folder_files(notes=...)).
_SKIPPED_MODALITIES = {"SR", "PR", "KO", "DOC"}
_SKIPPED_SOP_PREFIXES = (
    "1.2.840.10008.1.3.10",  # Media Storage Directory (DICOMDIR)
    "1.2.840.10008.5.1.4.1.1.11.",  # presentation states
    "1.2.840.10008.5.1.4.1.1.88.",  # structured reports, key object selection
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated PDF/CDA
    "1.3.46.670589.11.0.0.12.",  # Philips private (raw data, spectra-less exam cards)
)
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class FrameRecord:
    """One 2D frame of a DICOM object, with what is needed to place it in space and time."""

    path: Path
    frame_index: int | None  # None for a classic single-frame object
    series_uid: str
    position: tuple[float, ...] | None  # ImagePositionPatient (LPS mm)
    orientation: tuple[float, ...] | None  # ImageOrientationPatient (6 direction cosines)
    pixel_spacing: tuple[float, float] | None  # (row spacing, column spacing) mm
    slice_thickness: float | None
    rows: int
    columns: int
    instance_number: int | None
    temporal_position: int | None
    trigger_time_ms: float | None
    acquisition_seconds: float | None  # seconds since midnight (AcquisitionDateTime or AcquisitionTime)
    b_value: float | None
    flip_angle: float | None
    echo_time: float | None
    echo_number: int | None
    rescale: tuple[float, float]  # (slope, intercept)
    # Siemens mosaic: this frame is tile ``tile`` of a (rows*tiles, columns*tiles) mosaic.
    tile: int | None = None
    tiles_per_side: int = 1
    slice_time_ms: float | None = None  # acquisition time of the slice within the volume (slice timing)
    gradient_lps: tuple[float, float, float] | None = None  # diffusion gradient direction (patient LPS)
    # The object's identity: a DICOM output references its source frames by them (report/dicom_source.py).
    sop_class_uid: str = ""
    sop_instance_uid: str = ""


@dataclass
class DicomSeriesHeaders:
    """Everything the scan of a folder learnt about one series, before any pixel is read."""

    series_uid: str
    first: Dataset  # headers of one representative object (no pixel data)
    frames: list[FrameRecord] = field(default_factory=list)
    files: set[Path] = field(default_factory=set)
    # (PatientID, PatientName, PatientBirthDate, StudyDate) → the first file that carries them (one-patient check)
    identities: dict[tuple[str, str, str, str], Path] = field(default_factory=dict)

    @property
    def modality(self) -> str:
        return str(getattr(self.first, "Modality", "") or "")

    @property
    def sop_class_uid(self) -> str:
        return str(getattr(self.first, "SOPClassUID", "") or "")

    @property
    def description(self) -> str:
        ds = self.first
        return str(getattr(ds, "SeriesDescription", "") or getattr(ds, "ProtocolName", "") or "")


# ---------------------------------------------------------------------------------------------
# The run's file index: every file parsed once, every stack's pixels decoded once
# ---------------------------------------------------------------------------------------------

# Elements longer than this stay on disk until asked for (pydicom's deferred read: one seek, no second
# header parse). Small pixel matrices (64×64 int16 = 8 KB) are read with the header; large ones are deferred.
_DEFER_BYTES = 16 * 1024


class FileIndex:
    """What one run learnt about its files: headers (with deferred pixels), frame records and loaded stacks.

    Active inside :func:`file_index` (``pseudoprog assess`` opens one per run). Without it every call
    reads its files afresh, as before. Stages may share it from several threads: a lock guards the maps.
    """

    def __init__(self, workers: int = 0) -> None:
        self.headers: dict[Path, Dataset | None] = {}
        self.errors: dict[Path, InputError] = {}
        self.frames: dict[Path, list[FrameRecord]] = {}
        self.pixels: dict[Path, np.ndarray] = {}  # decoded, only while one multi-frame file is being unpacked
        self.volumes: dict[tuple, Any] = {}  # stack key → (Volume, warnings), see ingest.series.load_series
        self.loading: dict[tuple, Future] = {}  # stack key → the volume another thread is reading now
        self.converted: dict[tuple, Any] = {}  # raw element key → pydicom's decoded value (see _raw_key)
        self.checked: set[Path] = set()  # files whose every element decoded (see _convert_all)
        self.stacks: dict[tuple, Any] = {}  # series key → (headers, frames, label), see ingest.series.dicom_stack
        self.decoded: dict[Path, np.ndarray] = {}  # pixels a worker process decoded, taken once by read_pixels
        self.parsed: dict[Path, Parsed] = {}  # what a worker process learnt of a file (see ingest.parse_workers)
        self.parsed_by_workers = 0  # how many files the workers parsed
        self.pending: dict[Path, Callable[[], Parsed | None]] = {}  # files on their way from a worker
        self.listings: dict[Path, list[Path]] = {}  # folder → its files (see list_files)
        self.lock = threading.RLock()
        self.workers: ParseWorkers | None = ParseWorkers(workers) if workers > 1 else None

    def stop_workers(self) -> None:
        """Stop the parsing workers (the headers are read; later reads, if any, happen in this process)."""
        if self.workers is not None:
            self.workers.close()
            self.workers = None
            self.pending.clear()


_ACTIVE: FileIndex | None = None


def active_index() -> FileIndex | None:
    """The run's file index, ``None`` outside :func:`file_index`."""
    return _ACTIVE


@contextmanager
def file_index(workers: int = 0) -> Iterator[FileIndex]:
    """Within this block each DICOM file is parsed once and each stack's pixels decoded once (one run).

    ``workers`` > 1: the files of large folders are parsed by that many worker processes while this one parses
    the rest (:mod:`pseudoprog.ingest.parse_workers`); they are stopped when the block ends.
    """
    global _ACTIVE
    index = FileIndex(workers)
    previous, _ACTIVE = _ACTIVE, index
    try:
        yield index
    finally:
        _ACTIVE = previous
        index.stop_workers()


# ---------------------------------------------------------------------------------------------
# Reading headers
# ---------------------------------------------------------------------------------------------


def is_gzip_dicom(path: Path) -> bool:
    """A gzip-compressed file that is not NIfTI (Philips and Canon exports: ``IM_0001.gz``, ``3000.dcm.gz``)."""
    name = path.name.lower()
    if not name.endswith(".gz") or name.endswith((".nii.gz", ".tar.gz")):
        return False
    try:
        with path.open("rb") as fh:
            return fh.read(2) == _GZIP_MAGIC
    except OSError:
        return False


def dcmread(path: Path, *, stop_before_pixels: bool = False, force: bool = False) -> Dataset:
    """pydicom.dcmread that also opens gzip-compressed DICOM (in memory)."""
    if is_gzip_dicom(path):
        try:
            raw = gzip.decompress(path.read_bytes())
        except (OSError, EOFError) as exc:
            raise InputError(f"gzip file cannot be decompressed ({exc})", file=path) from exc
        return pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=stop_before_pixels, force=force)
    return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=force)


def read_dataset(
    path: str | Path, *, force: bool = False, stop_before_pixels: bool = False, specific_tags: list[str] | None = None
) -> Dataset:
    """A DICOM file's dataset for the readers outside the series scan (masks, RTDOSE, PET, spectroscopy).

    Inside :func:`file_index` it is the run's dataset (parsed once, pixels read when asked; treat it as
    read-only), so a file the scan already parsed is not parsed again. Otherwise, or when the run cannot
    read it, ``dcmread`` with the options given (``specific_tags`` only applies there), raising what
    pydicom raises, as before.
    """
    path = Path(path)
    if _ACTIVE is not None:
        try:
            ds = read_header(path)
        except InputError:
            ds = None  # read below, so the caller sees pydicom's error as it always did
        if ds is not None:
            return ds
    if specific_tags is not None:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=force, specific_tags=specific_tags)
    return dcmread(path, stop_before_pixels=stop_before_pixels, force=force)


def read_header(path: Path) -> Dataset | None:
    """Read a file's headers. ``None`` if it is not DICOM; :class:`InputError` if it is a broken DICOM.

    Inside :func:`file_index` the answer (dataset, ``None`` or error) is kept for the run, and the dataset
    keeps its pixel data deferred, so the pixels are read later without parsing the header again.
    """
    index = _ACTIVE
    if index is None:
        return _read_header(path, stop_before_pixels=True)
    with index.lock:
        if path in index.errors:
            raise index.errors[path]
        if path in index.headers:
            return index.headers[path]
    try:
        ds = _read_header(path, stop_before_pixels=False)
    except InputError as exc:
        with index.lock:
            index.errors[path] = exc
        raise
    with index.lock:
        index.headers[path] = ds
    return ds


def _read_header(path: Path, *, stop_before_pixels: bool) -> Dataset | None:
    # Headers only (stop_before_pixels) or everything with the large elements deferred (the run's index).
    defer = None if stop_before_pixels else _DEFER_BYTES
    suffix = path.suffix.lower()
    if path.name.upper() == "DICOMDIR" or path.name.startswith("."):
        return None
    if suffix in _NOT_DICOM_SUFFIXES and not (suffix == ".gz" and is_gzip_dicom(path)):
        return None
    if suffix == ".gz":
        try:
            ds = dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
        except InputError:
            return None
        except Exception:
            return None  # a gzip archive of something else
        return ds if ("SOPClassUID" in ds or "SeriesInstanceUID" in ds) else None
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, defer_size=defer)
    except InvalidDicomError:
        # No 128-byte preamble: older exports (e.g. the QIBA DRO) are still DICOM; accept them only
        # if, read without the preamble check, they carry the identifiers of a DICOM object.
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True, defer_size=defer)
        except Exception as exc:  # pydicom raises many kinds on garbage
            if suffix in _DICOM_SUFFIXES:
                raise InputError(f"cannot be read as DICOM ({type(exc).__name__})", file=path) from exc
            return None
        if "SOPClassUID" in ds or "SeriesInstanceUID" in ds:
            return ds
        if suffix in _DICOM_SUFFIXES:
            raise InputError("has a DICOM name but no DICOM identifiers (corrupt?)", file=path) from None
        return None
    except Exception as exc:  # truncated / corrupt files that did start like DICOM
        raise InputError(f"is a corrupt DICOM file ({type(exc).__name__}: {exc})", file=path) from exc


# Memory budget for one image stack as float32 (the array read_pixels builds): 4 GiB. A declared matrix above
# it (65535 x 65535 Rows/Columns) is refused from the header, before any pixel is read.
MAX_STACK_BYTES = 4 * 1024**3


def _vector(value: Any, n: int, *, path: Path, field: str) -> tuple[float, ...] | None:
    """A multi-valued decimal attribute (ImagePositionPatient, PixelSpacing …) as ``n`` finite floats.

    ``None`` when absent; InputError naming the file and field when it has the wrong number of values
    (a single-valued ImagePositionPatient) or a value that is not a finite number.
    """
    if value is None or value == "":
        return None
    items = list(value) if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]
    try:
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"holds a value that is not a number ({items!r:.80})", file=path, field=field) from None
    if len(out) != n:
        raise InputError(f"has {len(out)} value(s)", file=path, field=field, expected=f"{n} values") from None
    if not all(math.isfinite(v) for v in out):
        raise InputError("holds a value that is not finite", file=path, field=field, expected="finite numbers")
    return out


def _spacing(value: Any, *, path: Path, field: str) -> tuple[float, float] | None:
    vec = _vector(value, 2, path=path, field=field)
    if vec is None:
        return None
    if min(vec) <= 0:
        raise InputError(f"is {vec[0]:g}\\{vec[1]:g} mm", file=path, field=field, expected="two positive spacings (mm)")
    return (vec[0], vec[1])


def _rescale(slope: Any, intercept: Any, *, path: Path) -> tuple[float, float]:
    """(RescaleSlope, RescaleIntercept): 1 and 0 when absent; NaN or infinite values are named errors."""
    s, i = _float(slope), _float(intercept)
    if s is not None and not math.isfinite(s):
        raise InputError(f"is {s}", file=path, field="RescaleSlope (0028,1053)", expected="a finite number")
    if i is not None and not math.isfinite(i):
        raise InputError(f"is {i}", file=path, field="RescaleIntercept (0028,1052)", expected="a finite number")
    return (s or 1.0, i or 0.0)  # a zero slope is read as 1, as before (some exports write 0 for "none")


def _check_matrix(
    path: Path, ds: Dataset, rows: int, cols: int, n_frames: int, *, get: Callable[..., Any] | None = None
) -> None:
    """Declared matrix size against the memory budget and, for uncompressed pixel data, against the file's size."""
    if rows < 0 or cols < 0 or n_frames < 1:
        raise InputError(f"declares a {rows}x{cols} matrix of {n_frames} frame(s)", file=path, field="Rows/Columns")
    if rows * cols * n_frames * 4 > MAX_STACK_BYTES:
        raise InputError(
            f"declares {rows}x{cols} pixels x {n_frames} frame(s), above the memory budget of "
            f"{MAX_STACK_BYTES // 1024**3} GiB",
            file=path,
            field="Rows/Columns (0028,0010-0011)",
        )
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    compressed = syntax is not None and getattr(syntax, "is_compressed", False)
    if compressed or is_gzip_dicom(path) or rows * cols == 0:
        return
    get = get or ds.get
    bits = _int(get("BitsAllocated")) or 16
    samples = _int(get("SamplesPerPixel")) or 1
    needed = rows * cols * n_frames * samples * max(bits, 1) // 8
    try:
        size = path.stat().st_size
    except OSError:
        return
    if needed > size:
        raise InputError(
            f"declares {rows}x{cols} pixels x {n_frames} frame(s) ({needed:,} bytes) but the file has {size:,} bytes",
            file=path,
            field="Rows/Columns (0028,0010-0011)",
            expected="a matrix that fits the file (truncated or corrupt?)",
        )


def series_number(ds: Dataset, *, file: Path | None) -> int | None:
    """SeriesNumber as one integer (``None`` when absent); several values or a non-integer are named errors."""
    value = ds.get("SeriesNumber")
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        raise InputError(f"has {len(value)} values", file=file, field="SeriesNumber (0020,0011)", expected="one")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(
            f"is {value!r:.40}", file=file, field="SeriesNumber (0020,0011)", expected="an integer"
        ) from None


def _float(value: Any) -> float | None:
    try:
        if value is None or value == "":
            return None
        if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
            value = value[0] if len(value) else None  # a multi-valued number where one is expected: the first
            if value is None or value == "":
                return None
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _int(value: Any) -> int | None:
    try:
        if value is None or value == "":
            return None
        if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
            value = value[0] if len(value) else None
            if value is None or value == "":
                return None
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _seconds_of_day(time_value: Any) -> float | None:
    """DICOM TM (HHMMSS.FFFFFF) or DT (YYYYMMDDHHMMSS.FFFFFF) → seconds since midnight (DT: since epoch)."""
    if time_value in (None, ""):
        return None
    text = str(time_value).strip()
    try:
        if len(text) >= 14 and "." not in text[:14]:  # DT
            stamp = dt.datetime.strptime(text[:14], "%Y%m%d%H%M%S")
            frac = float("0" + text[14:].split("+")[0].split("-")[0]) if len(text) > 14 else 0.0
            return stamp.timestamp() + frac
        hh, mm = int(text[0:2]), int(text[2:4]) if len(text) >= 4 else 0
        ss = float(text[4:]) if len(text) > 4 else 0.0
        return hh * 3600 + mm * 60 + ss
    except (ValueError, IndexError):
        return None


def _nested(ds: Dataset, *path: str) -> Any:
    """``ds.A[0].B[0].C`` with ``None`` where anything is missing."""
    cur: Any = ds
    for i, key in enumerate(path):
        if cur is None or key not in cur:
            return None
        cur = cur[key].value
        if i < len(path) - 1:
            if not cur:
                return None
            cur = cur[0]
    return cur


def _b_value(ds: Dataset, *, get: Callable[..., Any]) -> float | None:
    b = _float(get("DiffusionBValue"))
    if b is not None:
        return b
    # Vendor private tags still common in classic DWI (GE (0043,1039), Siemens (0019,100C)).
    for tag in ((0x0019, 0x100C), (0x0043, 0x1039)):
        if tag in ds:
            val = ds[tag].value
            if isinstance(val, (list, tuple, pydicom.multival.MultiValue)):
                val = val[0]
            if isinstance(val, bytes):
                val = val.decode(errors="ignore").strip("\x00 ")
            b = _float(val)
            if b is not None:
                return b % 1e9 if tag[0] == 0x0043 else b  # GE adds 1e9 offsets on some releases
    return None


def _getter(ds: Dataset) -> Callable[..., Any]:
    """``ds.get(keyword)`` that reuses the run's decoded value of identical bytes (the same value, decoded once)."""
    index = _ACTIVE
    if index is None:
        return ds.get
    memo, encoding = index.converted, _encoding_key(ds)

    def get(keyword: str, default: Any = None) -> Any:
        value = _value(ds, _TAGS[keyword], memo, encoding)
        return default if value is _MISSING else value

    return get


class _TagsByKeyword(dict[str, int]):
    """Keyword → tag, looked up once (pydicom's keyword lookup on every attribute access is the slow part)."""

    def __missing__(self, keyword: str) -> int:
        tag = tag_for_keyword(keyword)
        if tag is None:
            raise KeyError(keyword)
        self[keyword] = tag
        return tag


_TAGS = _TagsByKeyword()


def _frame_records(path: Path, ds: Dataset, *, get: Callable[..., Any] | None = None) -> list[FrameRecord]:
    get = get or _getter(ds)
    series_uid = str(get("SeriesInstanceUID") or "")
    n_frames = _int(get("NumberOfFrames")) or 1
    rows, cols = _int(get("Rows")) or 0, _int(get("Columns")) or 0
    _check_matrix(path, ds, rows, cols, n_frames, get=get)
    common = dict(
        path=path,
        series_uid=series_uid,
        rows=rows,
        columns=cols,
        instance_number=_int(get("InstanceNumber")),
        sop_class_uid=str(get("SOPClassUID") or ""),
        sop_instance_uid=str(get("SOPInstanceUID") or ""),
    )
    acq_seconds = _seconds_of_day(get("AcquisitionDateTime")) or _seconds_of_day(get("AcquisitionTime"))
    if n_frames == 1 or "PerFrameFunctionalGroupsSequence" not in ds:
        record = FrameRecord(
            frame_index=None if n_frames == 1 else 0,
            position=_vector(get("ImagePositionPatient"), 3, path=path, field="ImagePositionPatient (0020,0032)"),
            orientation=_vector(
                get("ImageOrientationPatient"), 6, path=path, field="ImageOrientationPatient (0020,0037)"
            ),
            pixel_spacing=_spacing(get("PixelSpacing"), path=path, field="PixelSpacing (0028,0030)"),
            slice_thickness=_float(get("SliceThickness")),
            temporal_position=_int(get("TemporalPositionIdentifier")),
            trigger_time_ms=_float(get("TriggerTime")),
            acquisition_seconds=acq_seconds,
            b_value=_b_value(ds, get=get),
            flip_angle=_float(get("FlipAngle")),
            echo_time=_float(get("EchoTime")),
            echo_number=_int(get("EchoNumbers")),
            rescale=_rescale(get("RescaleSlope"), get("RescaleIntercept"), path=path),
            gradient_lps=_classic_gradient(ds, get=get),
            **common,  # type: ignore[arg-type]
        )
        return _unpack_mosaic(record, ds, get=get)
    # Enhanced multi-frame: per-frame values override the shared functional groups.
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else Dataset()
    records = []
    for index, per in enumerate(ds.PerFrameFunctionalGroupsSequence):

        def pick(*keys: str, _per: Dataset = per) -> Any:
            value = _nested(_per, *keys)
            return value if value is not None else _nested(shared, *keys)

        position = pick("PlanePositionSequence", "ImagePositionPatient")
        orientation = pick("PlaneOrientationSequence", "ImageOrientationPatient")
        spacing = pick("PixelMeasuresSequence", "PixelSpacing")
        where = f"PerFrameFunctionalGroupsSequence[{index}]."
        records.append(
            FrameRecord(
                frame_index=index,
                position=_vector(position, 3, path=path, field=where + "ImagePositionPatient"),
                orientation=_vector(orientation, 6, path=path, field=where + "ImageOrientationPatient"),
                pixel_spacing=_spacing(spacing, path=path, field=where + "PixelSpacing"),
                slice_thickness=_float(pick("PixelMeasuresSequence", "SliceThickness")),
                temporal_position=_int(pick("FrameContentSequence", "TemporalPositionIndex")),
                trigger_time_ms=_float(pick("CardiacSynchronizationSequence", "NominalCardiacTriggerDelayTime")),
                acquisition_seconds=_seconds_of_day(pick("FrameContentSequence", "FrameAcquisitionDateTime"))
                or acq_seconds,
                b_value=_float(pick("MRDiffusionSequence", "DiffusionBValue")),
                gradient_lps=_unit3(
                    pick("MRDiffusionSequence", "DiffusionGradientDirectionSequence", "DiffusionGradientOrientation")
                ),
                flip_angle=_float(pick("MRTimingAndRelatedParametersSequence", "FlipAngle"))
                or _float(ds.get("FlipAngle")),
                echo_time=_float(pick("MREchoSequence", "EffectiveEchoTime")) or _float(ds.get("EchoTime")),
                echo_number=None,
                rescale=_rescale(
                    pick("PixelValueTransformationSequence", "RescaleSlope"),
                    pick("PixelValueTransformationSequence", "RescaleIntercept"),
                    path=path,
                ),
                **common,  # type: ignore[arg-type]
            )
        )
    return records


def frame_records(path: Path, ds: Dataset, *, get: Callable[..., Any] | None = None) -> list[FrameRecord]:
    """The frames of one object (described once per run inside :func:`file_index`)."""
    index = _ACTIVE
    if index is None:
        return _frame_records(path, ds, get=get)
    with index.lock:
        cached = index.frames.get(path)
    if cached is None:
        cached = _frame_records(path, ds, get=get)
        with index.lock:
            index.frames[path] = cached
    return list(cached)


def _unit3(value: Any) -> tuple[float, float, float] | None:
    """A 3-vector as floats, ``None`` when absent, malformed or zero (b = 0 frames)."""
    try:
        vec = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(vec) != 3 or not np.isfinite(vec).all() or np.linalg.norm(vec) < 1e-6:
        return None
    return (vec[0], vec[1], vec[2])


def _classic_gradient(ds: Dataset, *, get: Callable[..., Any]) -> tuple[float, float, float] | None:
    """Diffusion gradient direction of a classic object in patient LPS: standard tag, then Siemens CSA.

    GE writes its gradient in private tags (0019,10BB-BD) in the image frame: along the row, the column and
    against the slice normal (checked against dcm2niix on the GE DWI of real-dicom-multivendor). Philips'
    private (2005,10B0-B2) duplicate the standard tag there and are not needed.
    """
    vec = _unit3(get("DiffusionGradientOrientation"))
    if vec is not None:
        return vec
    maker = str(get("Manufacturer") or "").upper()
    if maker.startswith("SIEMENS"):
        return _unit3(csa_floats(image_csa(ds), "DiffusionGradientDirection") or None)
    if maker.startswith("GE") and "ImageOrientationPatient" in ds:
        image = _unit3([_private_float(ds, (0x0019, e)) for e in (0x10BB, 0x10BC, 0x10BD)])
        if image is None:
            return None
        orient = np.asarray([float(v) for v in ds.ImageOrientationPatient], float)
        row, col = orient[:3], orient[3:]
        g = image[0] * row + image[1] * col - image[2] * np.cross(row, col)
        return _unit3(g / np.linalg.norm(g))
    return None


def _private_float(ds: Dataset, tag: tuple[int, int]) -> float | None:
    if tag not in ds:
        return None
    value = ds[tag].value
    if isinstance(value, bytes):
        value = value.decode(errors="ignore").strip("\x00 ")
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0] if value else None
    return _float(value)


def _unpack_mosaic(record: FrameRecord, ds: Dataset, *, get: Callable[..., Any]) -> list[FrameRecord]:
    """A Siemens mosaic (ImageType MOSAIC) holds all slices of a volume as tiles of one image: one record each.

    NumberOfImagesInMosaic and SliceNormalVector come from the CSA image header; ImagePositionPatient of a
    mosaic is the corner of the whole mosaic, so the first tile's centre is shifted by half the unused matrix
    (as nibabel and dcm2niix do). Slice k sits at k slice spacings along the CSA normal.
    """
    image_type = [str(v).upper() for v in (get("ImageType") or ())]
    if "MOSAIC" not in image_type:
        return [record]
    csa = image_csa(ds)
    n_tiles = int((csa_floats(csa, "NumberOfImagesInMosaic") or [0])[0])
    if n_tiles <= 1 or record.orientation is None or record.position is None or record.pixel_spacing is None:
        raise InputError(
            "Siemens mosaic without NumberOfImagesInMosaic in the CSA header or without geometry",
            file=record.path,
            field="(0029,1010)",
        )
    side = math.ceil(math.sqrt(n_tiles))
    rows, cols = record.rows // side, record.columns // side
    row_cos = np.asarray(record.orientation[:3], float)
    col_cos = np.asarray(record.orientation[3:], float)
    row_spacing, col_spacing = record.pixel_spacing
    normal = np.asarray(csa_floats(csa, "SliceNormalVector") or np.cross(row_cos, col_cos), float)
    spacing = _float(ds.get("SpacingBetweenSlices")) or record.slice_thickness or 1.0
    origin = (
        np.asarray(record.position, float)
        + row_cos * col_spacing * (record.columns - cols) / 2.0
        + col_cos * row_spacing * (record.rows - rows) / 2.0
    )
    times = csa_floats(csa, "MosaicRefAcqTimes")
    out = []
    for k in range(n_tiles):
        pos = origin + normal * spacing * k
        out.append(
            replace(
                record,
                rows=rows,
                columns=cols,
                position=tuple(float(v) for v in pos),
                tile=k,
                tiles_per_side=side,
                slice_time_ms=times[k] if len(times) == n_tiles else None,
            )
        )
    return out


def scan_folder(folder: Path, *, notes: list[str] | None = None) -> tuple[list[DicomSeriesHeaders], list[Path]]:
    """Find every DICOM series under ``folder`` (recursively, any layout).

    Returns the series and the files that were skipped as not DICOM. A file that is DICOM but
    broken raises :class:`InputError` naming it: a damaged series must not be read as a shorter one.
    """
    if not folder.is_dir():
        raise InputError("image folder does not exist", file=folder)
    return scan_folder_files(list_files(folder), notes=notes)


def _skip_reason(ds: Dataset, *, get: Callable[..., Any] | None = None) -> str | None:
    """Why a DICOM object is not part of any image series we read (``None``: it is)."""
    get = get or ds.get
    sop = str(get("SOPClassUID", "") or ds.get("MediaStorageSOPClassUID", "") or "")
    modality = str(get("Modality", "") or "").upper()
    if sop.startswith(_SKIPPED_SOP_PREFIXES):
        return f"SOP class {sop}"
    if modality in _SKIPPED_MODALITIES:
        return f"modality {modality}"
    return None


def scan_folder_files(
    paths: Iterable[Path], *, notes: list[str] | None = None
) -> tuple[list[DicomSeriesHeaders], list[Path]]:
    """Group the given files into DICOM series (see :func:`scan_folder`).

    DICOMDIR files and non-image objects (presentation states, reports, vendor private objects) are
    skipped; when ``notes`` is given, one line per kind of skipped object is appended to it.
    Inside a file index with workers, the files of large folders are parsed by the workers while this process
    parses the others; the files are then grouped in the given order either way, so the series, their
    representative headers and the first error met are the same as parsing them one after the other.
    """
    paths = list(paths)
    series: dict[str, DicomSeriesHeaders] = {}
    skipped: list[Path] = []
    not_images: dict[str, int] = defaultdict(int)
    remote = _parse_in_workers(paths)
    local: dict[Path, Dataset | InputError | None] = {}
    if remote:  # this process parses its share now, while the workers parse theirs; errors wait for their turn
        for path in paths:
            if path not in remote and path.name.upper() != "DICOMDIR":
                try:
                    ds = local[path] = read_header(path)
                    if ds is not None:
                        with bad_file(path, "reading its headers"):
                            _check_once(ds, path)
                except InputError as exc:
                    local[path] = exc
    for path in paths:
        if path.name.upper() == "DICOMDIR":
            not_images["DICOMDIR (media directory)"] += 1
            continue
        parsed = remote[path]() if path in remote else None
        if parsed is not None:
            _group_parsed(parsed, series, skipped, not_images)
            continue
        known = local[path] if path in local else read_header(path)
        if isinstance(known, InputError):
            raise known
        ds = known
        if ds is None:
            skipped.append(path)
            continue
        with bad_file(path, "reading its headers"):
            _check_once(ds, path)
            series_of_file(path, ds, series, not_images)

    if notes is not None:
        for why, count in sorted(not_images.items()):
            notes.append(f"{count} non-image DICOM object(s) skipped ({why})")
    return list(series.values()), skipped


def parse_ahead(folders: Iterable[Path]) -> None:
    """Start the run's workers on the large folders of all these folders now (a case's timepoints), so they
    parse the next timepoint's perfusion series while this process groups the current one. No-op without workers."""
    index = _ACTIVE
    if index is None or index.workers is None:
        return
    for folder in folders:
        if folder.is_dir():
            _submit(index, list_files(folder))


def path_order(path: Path) -> tuple[str, ...]:
    """A sort key giving paths their own order (by their parts), without Path.__lt__'s Python call per pair."""
    return path.parts


def list_files(folder: Path) -> list[Path]:
    """Every file under ``folder``, sorted (listed once per run inside a file index)."""
    index = _ACTIVE
    if index is not None and folder in index.listings:
        return index.listings[folder]
    files = sorted((p for p in folder.rglob("*") if p.is_file()), key=path_order)
    if index is not None:
        index.listings[folder] = files
    return files


def _submit(index: FileIndex, paths: Sequence[Path]) -> None:
    """Give the files of ``paths``' large folders, not yet parsed or on their way, to the workers (index.pending)."""
    assert index.workers is not None
    big = big_folder_files(paths)
    with index.lock:
        mine = [
            p
            for p in paths
            if p in big
            and p not in index.parsed
            and p not in index.pending
            and p not in index.headers
            and p not in index.errors
        ]
    for start in range(0, len(mine), CHUNK):
        chunk = mine[start : start + CHUNK]
        future = index.workers.submit([str(p) for p in chunk])
        if future is None:
            return
        with index.lock:
            for offset, path in enumerate(chunk):
                index.pending[path] = partial(_worker_result, index.workers, future, offset)


def _parse_in_workers(paths: Sequence[Path]) -> dict[Path, Callable[[], Parsed | None]]:
    """Hand the files of large folders to the run's workers: path → a call that waits for its :class:`Parsed`
    (``None`` if its worker failed: this process then parses the file itself)."""
    index = _ACTIVE
    if index is None:
        return {}
    if index.workers is not None:
        _submit(index, paths)
    out: dict[Path, Callable[[], Parsed | None]] = {}
    with index.lock:  # files a worker parsed before in this run (a series' stack is scanned again to load it)
        for path in paths:
            known = index.parsed.get(path)
            if known is not None:
                out[path] = partial(replace, known, first=index.headers.get(path))
            elif path in index.pending:
                out[path] = index.pending.pop(path)
    return out


def _worker_result(workers: ParseWorkers, future: Future, offset: int) -> Parsed | None:
    try:
        return future.result()[offset]
    except (BrokenProcessPool, CancelledError, OSError, pickle.PickleError, EOFError):
        log.warning("a DICOM parsing worker failed; this run parses the remaining files itself")
        workers.broken = True
        return None


def _group_parsed(
    parsed: Parsed, series: dict[str, DicomSeriesHeaders], skipped: list[Path], not_images: dict[str, int]
) -> None:
    """:func:`series_of_file` for a file a worker parsed (its frames and pixels enter the run's index)."""
    path = parsed.path
    parsed.raise_error()
    if not parsed.is_dicom:
        skipped.append(path)
        return
    index = _ACTIVE
    assert index is not None
    with index.lock:
        if path not in index.parsed:
            index.parsed_by_workers += 1
        index.checked.add(path)
        index.parsed[path] = replace(parsed, pixels=None, first=None)
        if parsed.first is not None:
            index.headers.setdefault(path, parsed.first)
        if parsed.pixels is not None:
            index.decoded[path] = parsed.pixels
    _group(
        path,
        series,
        not_images,
        why=parsed.skip_reason,
        uid=parsed.series_uid,
        ident=parsed.identity,
        first=parsed.first,
        frames=lambda: None if parsed.frames is None else list(parsed.frames),
    )


def _check_once(ds: Dataset, path: Path) -> None:
    """:func:`_convert_all`, once per file and run (a series scanned again later is not decoded again)."""
    index = _ACTIVE
    if index is None:
        _convert_all(ds, path)
        return
    with index.lock:
        if path in index.checked:
            return
    _convert_all(ds, path)
    with index.lock:
        index.checked.add(path)


def _convert_all(ds: Dataset, path: Path) -> None:
    """Decode every element now (pydicom decodes lazily), so an unknown VR or a bad value is named here, once.

    Inside the run's index an element whose bytes were decoded before (in this file or another: most of a
    series' header is the same in every file) is not decoded again: pydicom's conversion is a function of the
    key (:func:`_raw_key`), so it would succeed again; its value is kept in the index for the frame records.
    Large bulk values left on disk (pixel data above the deferral size) are not read here: their decoding is
    checked when the pixels are read, with the file named (:func:`read_pixels`).
    """
    index = _ACTIVE
    memo: dict[tuple, Any] = index.converted if index is not None else {}
    current = "(header)"

    def visit(d: Dataset) -> None:
        nonlocal current
        encoding = _encoding_key(d)
        # The element map itself (pydicom's Dataset._dict): get_item would read deferred values, and its tag
        # normalisation costs more than the memo lookup. Read datasets hold their elements in file order.
        for tag, elem in list(d._dict.items()):
            if isinstance(elem, RawDataElement):
                if elem.value is None and elem.length and elem.VR in _BULK_VRS:
                    continue  # deferred pixel data: decoded (or named as broken) when the pixels are read
                key = _raw_key(d, elem, encoding)
                if key is not None and key in memo:
                    continue
                current = f"{tag} {dictionary_keyword(tag) if tag in DicomDictionary else ''}".strip()
                converted = d[tag]
                if converted.VR == "SQ":
                    for item in converted.value:
                        visit(item)
                if key is not None:  # remembered once its whole subtree decoded
                    memo[key] = _SEQUENCE if converted.VR == "SQ" else converted.value
            elif elem.VR == "SQ":
                for item in elem.value:
                    visit(item)

    try:
        visit(ds)
    except (Exception, RecursionError) as exc:
        raise InputError(
            redact(f"holds an element pydicom cannot decode ({type(exc).__name__}: {exc})")[:300],  # before the cut
            file=path,
            field=current,
        ) from exc


# Values whose conversion is a pass-through of the bytes (no check to make, nothing to decode).
_BULK_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV"})
_SEQUENCE = object()  # memo marker: a sequence whose every nested element decoded
_MISSING = object()
_TAG_CHARSET = 0x00080005
_TAG_PIXREP = 0x00280103


def _encoding_key(d: Dataset) -> Any:
    """The character set pydicom decodes ``d``'s text with (as ``Dataset.__getitem__`` picks it), hashable."""
    encoding = d.original_character_set or d._character_set
    return tuple(encoding) if isinstance(encoding, list | MultiValue) else encoding


def _raw_key(d: Dataset, raw: RawDataElement, encoding: Any) -> tuple | None:
    """What pydicom's conversion of ``raw`` depends on, or ``None`` when it may depend on more of the dataset.

    The conversion reads the tag, the VR (written, or the dictionary's for a public tag), the bytes, the byte
    order and VR encoding, and the character set. Private tags (their VR comes from the private creator),
    tags with an ambiguous VR (US or SS: PixelRepresentation decides), bulk values and deferred values are not
    keyed. A sequence also carries the pixel representation its items inherit.
    """
    tag, vr, value = int(raw.tag), raw.VR, raw.value  # keys hold plain ints: BaseTag compares in Python
    if value is None or (tag >> 16) & 1 or vr in _BULK_VRS:
        return None
    if vr is None or vr == "UN":
        try:
            vr_dict = dictionary_VR(tag)
        except KeyError:
            return None
        if vr_dict in AMBIGUOUS_VR or vr_dict in _BULK_VRS:
            return None
        is_sequence = vr_dict == "SQ"
    elif vr in AMBIGUOUS_VR:
        return None
    else:
        is_sequence = vr == "SQ"
    charset = default_encoding if tag == _TAG_CHARSET else encoding
    key: tuple = (tag, vr, value, raw.is_little_endian, raw.is_implicit_VR, charset)
    if is_sequence:  # the items' US/SS elements follow the nearest PixelRepresentation (as pydicom passes it down)
        key += (d[_TAG_PIXREP].value if _TAG_PIXREP in d else getattr(d, "_pixel_rep", None),)
    return key


def _value(ds: Dataset, tag: int, memo: dict[tuple, Any], encoding: Any) -> Any:
    """``ds[tag].value`` (``_MISSING`` when absent), reusing the run's decoded value of identical bytes."""
    # pydicom's element map itself: no deferred read, no tag normalisation
    elem = ds._dict.get(tag)  # type: ignore[call-overload]
    if elem is None:
        return _MISSING
    if not isinstance(elem, RawDataElement):
        return elem.value
    key = _raw_key(ds, elem, encoding)
    if key is not None:
        hit = memo.get(key, _MISSING)
        if hit is not _MISSING and hit is not _SEQUENCE:
            return hit
    converted = ds[tag]
    if key is not None and converted.VR != "SQ":  # a sequence's items belong to their dataset: never shared
        memo[key] = converted.value
    return converted.value


def identity(ds: Dataset, *, get: Callable[..., Any] | None = None) -> tuple[str, str, str, str]:
    """(PatientID, PatientName, PatientBirthDate, StudyDate) as stripped text ('' when absent)."""
    get = get or ds.get
    return tuple(  # type: ignore[return-value]
        str(get(key, "") or "").strip() for key in ("PatientID", "PatientName", "PatientBirthDate", "StudyDate")
    )


def series_of_file(path: Path, ds: Dataset, series: dict[str, DicomSeriesHeaders], not_images: dict[str, int]) -> None:
    """Add one object's frames to its series (or count it as a skipped non-image object)."""
    get = _getter(ds)
    _group(
        path,
        series,
        not_images,
        why=_skip_reason(ds, get=get),
        uid=str(get("SeriesInstanceUID", "") or ""),
        ident=identity(ds, get=get),
        first=ds,
        # described once per run inside file_index(); no image frames (RTSTRUCT, SR, spectroscopy): none
        frames=lambda: frame_records(path, ds, get=get) if "Rows" in ds else None,
    )


def _group(
    path: Path,
    series: dict[str, DicomSeriesHeaders],
    not_images: dict[str, int],
    *,
    why: str | None,
    uid: str,
    ident: tuple[str, str, str, str],
    first: Dataset | None,
    frames: Callable[[], list[FrameRecord] | None],
) -> None:
    if why is not None:
        not_images[why] += 1
        return
    if not uid:
        raise InputError("DICOM object has no SeriesInstanceUID", file=path, field="(0020,000E)")
    entry = series.get(uid)
    if entry is None:
        representative = first if first is not None else read_header(path)
        assert representative is not None
        entry = series[uid] = DicomSeriesHeaders(series_uid=uid, first=representative)
    entry.files.add(path)
    entry.identities.setdefault(ident, path)
    if entry.modality in _NON_VOLUME_MODALITIES:
        return  # the files are the series
    records = frames()
    if records is not None:
        entry.frames.extend(records)


# ---------------------------------------------------------------------------------------------
# Splitting one SeriesInstanceUID into image stacks, and the frame axis
# ---------------------------------------------------------------------------------------------


def split_stacks(headers: DicomSeriesHeaders) -> dict[str, list[FrameRecord]]:
    """Split a series into stacks that each form one volume: by orientation, then by echo.

    A localiser with three planes, or a dual-echo DSC with both echoes in one series, is one
    SeriesInstanceUID but several volumes. Keys are suffixes for the stack ids ("" when unsplit).
    """
    by_orient: dict[tuple, list[FrameRecord]] = defaultdict(list)
    for fr in headers.frames:
        key = tuple(np.round(fr.orientation, 3)) if fr.orientation else ()
        by_orient[key].append(fr)
    stacks: dict[str, list[FrameRecord]] = {}
    for o_index, frames in enumerate(by_orient.values()):
        o_suffix = f".plane{o_index + 1}" if len(by_orient) > 1 else ""
        echoes = sorted({f.echo_time for f in frames if f.echo_time is not None})
        n_positions = len({_pos_key(f) for f in frames})
        # Split by echo only when each echo forms a full stack of its own (multi-echo dynamic series).
        if len(echoes) > 1 and not _is_vfa_or_dwi(frames):
            per_echo = {te: [f for f in frames if f.echo_time == te] for te in echoes}
            if all(len({_pos_key(f) for f in fr}) == n_positions for fr in per_echo.values()):
                for e_index, te in enumerate(echoes):
                    stacks[f"{o_suffix}.echo{e_index + 1}"] = per_echo[te]
                continue
        stacks[o_suffix] = frames
    return stacks


def _is_vfa_or_dwi(frames: Sequence[FrameRecord]) -> bool:
    return len({f.flip_angle for f in frames}) > 1 or len({f.b_value for f in frames}) > 1


def _pos_key(fr: FrameRecord) -> tuple:
    return tuple(np.round(fr.position, 2)) if fr.position else (fr.instance_number,)


@dataclass(frozen=True)
class StackLayout:
    """How the frames of a stack fill an (i, j, k, n) array."""

    slices: list[list[FrameRecord]]  # slices[k][n]
    axis: str  # "none" | "time" | "b_value" | "flip_angle" | "echo_time"
    axis_values: np.ndarray  # per n: seconds from the first frame, b in s/mm², degrees, or ms
    normal: np.ndarray
    warnings: list[str]


def _frame_axis(frames: Sequence[FrameRecord]) -> str:
    if len({f.b_value for f in frames}) > 1:
        return "b_value"
    if len({f.flip_angle for f in frames}) > 1:
        return "flip_angle"
    if len({f.echo_time for f in frames}) > 1:
        return "echo_time"
    return "time"


def _time_order_key(fr: FrameRecord) -> tuple:
    return (
        fr.temporal_position if fr.temporal_position is not None else -1,
        fr.trigger_time_ms if fr.trigger_time_ms is not None else -1.0,
        fr.acquisition_seconds if fr.acquisition_seconds is not None else -1.0,
        fr.instance_number if fr.instance_number is not None else -1,
        fr.frame_index if fr.frame_index is not None else -1,
    )


def layout_stack(frames: Sequence[FrameRecord], *, label: str) -> StackLayout:
    """Sort frames into slices along the normal and, within each slice, along the frame axis."""
    warnings: list[str] = []
    first = frames[0]
    if first.orientation is None or first.position is None:
        raise InputError("DICOM frames lack ImageOrientationPatient/ImagePositionPatient", file=label)
    row_cos = np.asarray(first.orientation[:3], float)
    col_cos = np.asarray(first.orientation[3:], float)
    normal = np.cross(row_cos, col_cos)
    if abs(np.linalg.norm(normal) - 1) > 1e-3:
        raise InputError("ImageOrientationPatient is not a pair of unit vectors", file=label)
    by_position: dict[tuple, list[FrameRecord]] = defaultdict(list)
    for fr in frames:
        if fr.position is None or fr.orientation is None:
            raise InputError(
                "this frame lacks ImagePositionPatient or ImageOrientationPatient while others of its series have them",
                file=fr.path,
                field="ImagePositionPatient (0020,0032)",
            )
        if (fr.rows, fr.columns) != (first.rows, first.columns):
            raise InputError(
                f"frames of one series have different matrix sizes ({fr.rows}x{fr.columns} vs "
                f"{first.rows}x{first.columns})",
                file=fr.path,
            )
        by_position[_pos_key(fr)].append(fr)
    counts = {len(v) for v in by_position.values()}
    if len(counts) > 1:
        raise InputError(
            f"incomplete series: slice positions have different numbers of frames {sorted(counts)} "
            "(missing or duplicated files?)",
            file=label,
        )
    ordered_positions = sorted(
        by_position, key=lambda k: float(np.dot(np.asarray(k[:3], float), normal)) if len(k) == 3 else float(k[0] or 0)
    )
    n_per = counts.pop()
    axis = _frame_axis(frames) if n_per > 1 else "none"
    slices: list[list[FrameRecord]] = []
    for key in ordered_positions:
        group = by_position[key]
        if axis == "b_value":
            group.sort(key=lambda f: (f.b_value or 0.0, _time_order_key(f)))
        elif axis == "flip_angle":
            group.sort(key=lambda f: (f.flip_angle or 0.0, _time_order_key(f)))
        elif axis == "echo_time":
            group.sort(key=lambda f: (f.echo_time or 0.0, _time_order_key(f)))
        else:
            group.sort(key=_time_order_key)
        slices.append(group)
    if axis == "b_value":
        values = np.array([f.b_value or 0.0 for f in slices[0]])
    elif axis == "flip_angle":
        values = np.array([f.flip_angle or 0.0 for f in slices[0]])
    elif axis == "echo_time":
        values = np.array([f.echo_time or 0.0 for f in slices[0]])
    elif axis == "time":
        values, why = frame_times_seconds(slices, label=label)
        if why:
            warnings.append(why)
    else:
        values = np.zeros(1)
    return StackLayout(slices=slices, axis=axis, axis_values=values, normal=normal, warnings=warnings)


def frame_times_seconds(slices: list[list[FrameRecord]], *, label: str) -> tuple[np.ndarray, str]:
    """Acquisition time of every frame (from the first), from the best timing the headers offer.

    Order of preference: trigger time, per-frame acquisition time, instance number (with a warning).
    Returns the times and a warning ('' if none). A single missing trigger time (the QIBA DRO's
    first frame) is filled from the linear relation of the others with the instance number,
    and said so.
    """
    # Times of the first slice stand for the frame (slices of one dynamic are acquired within TR).
    ref = slices[0]
    n = len(ref)
    trig = np.array([f.trigger_time_ms if f.trigger_time_ms is not None else np.nan for f in ref], float)
    inst = np.array([f.instance_number if f.instance_number is not None else np.nan for f in ref], float)
    if np.count_nonzero(np.isfinite(trig)) >= max(2, n - 1) and np.nanmax(trig) > np.nanmin(trig):
        warning = ""
        missing = ~np.isfinite(trig)
        if missing.any():
            ok = ~missing & np.isfinite(inst)
            slope, intercept = np.polyfit(inst[ok], trig[ok], 1)
            residual = np.abs(trig[ok] - (slope * inst[ok] + intercept)).max()
            if residual > 1e-3 * max(1.0, abs(slope)) or not np.isfinite(inst[missing]).all():
                raise InputError(
                    "a frame has no TriggerTime and the others do not follow the instance number evenly",
                    file=label,
                )
            trig[missing] = slope * inst[missing] + intercept
            warning = (
                f"{int(missing.sum())} frame(s) had no TriggerTime; filled from the instance number "
                f"({slope:g} ms per instance)"
            )
        times = (trig - trig.min()) / 1000.0
        return times, warning
    acq = np.array([f.acquisition_seconds if f.acquisition_seconds is not None else np.nan for f in ref], float)
    if np.isfinite(acq).all() and np.ptp(acq) > 0:
        return acq - acq.min(), ""
    if np.isfinite(inst).all():
        return np.arange(n, dtype=float), (
            "no usable timing in the headers (TriggerTime, AcquisitionTime); frames are numbered, not timed"
        )
    return np.arange(n, dtype=float), "no timing or instance numbers; frame order is file order"


def stack_affine(layout: StackLayout, *, label: str) -> tuple[np.ndarray, list[str]]:
    """RAS+ affine of a stack, with a check that slices are evenly spaced."""
    warnings: list[str] = []
    first = layout.slices[0][0]
    assert first.orientation is not None and first.position is not None
    if first.pixel_spacing is None:
        raise InputError("DICOM frames have no PixelSpacing", file=label, field="(0028,0030)")
    row_spacing, col_spacing = first.pixel_spacing
    row_cos = np.asarray(first.orientation[:3], float)
    col_cos = np.asarray(first.orientation[3:], float)
    origin = np.asarray(first.position, float)
    if len(layout.slices) > 1:
        positions = np.array([s[0].position for s in layout.slices], float)
        steps = np.diff(positions, axis=0)
        step = steps.mean(axis=0)
        gaps = np.linalg.norm(steps, axis=1)
        if gaps.min() <= 0 or (gaps.max() - gaps.min()) > 0.01 * gaps.mean() + 1e-3:
            raise InputError(
                f"slices are not evenly spaced (gaps {gaps.min():.3g}–{gaps.max():.3g} mm): a slice may be missing",
                file=label,
            )
        if abs(abs(np.dot(step / np.linalg.norm(step), layout.normal)) - 1) > 1e-3:
            warnings.append("slice stack is tilted against the image plane (gantry tilt); geometry follows positions")
    else:
        thickness = first.slice_thickness or 1.0
        step = layout.normal * thickness
    lps = np.eye(4)
    lps[:3, 0] = row_cos * col_spacing  # i runs along a row: spacing between columns
    lps[:3, 1] = col_cos * row_spacing
    lps[:3, 2] = step
    lps[:3, 3] = origin
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps, warnings


# ---------------------------------------------------------------------------------------------
# Acquisition parameters and pixels
# ---------------------------------------------------------------------------------------------


def acquisition_params(headers: DicomSeriesHeaders, frames: Sequence[FrameRecord]) -> AcquisitionParams:
    ds = headers.first
    image_type = tuple(str(v) for v in (ds.get("ImageType") or ()))
    echo_times = tuple(sorted({f.echo_time for f in frames if f.echo_time is not None}))
    flips = tuple(sorted({f.flip_angle for f in frames if f.flip_angle is not None}))
    bvals = tuple(sorted({f.b_value for f in frames if f.b_value is not None}))
    if bvals == (0.0,):
        bvals = ()
    agent = ds.get("ContrastBolusAgent")
    if agent is None and "ContrastBolusUsageSequence" in ds:
        agent = "contrast (ContrastBolusUsageSequence)"
    extra: dict[str, Any] = {}
    for key in (
        "ContrastBolusStartTime",
        "ContrastBolusTotalDose",
        "ContrastFlowDuration",
        "InstitutionName",
        "ManufacturerModelName",
        "SeriesTime",
        "AcquisitionTime",
        "StudyDate",
        "SeriesDate",
    ):
        if key in ds and ds.get(key) not in (None, ""):
            extra[key] = str(ds.get(key))
    return AcquisitionParams(
        echo_time_ms=echo_times[0] if echo_times else _float(ds.get("EchoTime")),
        echo_times_ms=echo_times if len(echo_times) > 1 else (),
        repetition_time_ms=_float(ds.get("RepetitionTime"))
        or _float(
            _nested(ds, "SharedFunctionalGroupsSequence", "MRTimingAndRelatedParametersSequence", "RepetitionTime")
        )
        or _float(
            _nested(ds, "PerFrameFunctionalGroupsSequence", "MRTimingAndRelatedParametersSequence", "RepetitionTime")
        ),
        inversion_time_ms=_float(ds.get("InversionTime")),
        flip_angle_deg=flips[0] if len(flips) == 1 else _float(ds.get("FlipAngle")),
        flip_angles_deg=flips if len(flips) > 1 else (),
        field_strength_t=_float(ds.get("MagneticFieldStrength")),
        b_values_s_per_mm2=bvals,
        scanning_sequence="\\".join(ds.ScanningSequence)
        if isinstance(ds.get("ScanningSequence"), pydicom.multival.MultiValue)
        else (str(ds.get("ScanningSequence")) if ds.get("ScanningSequence") else None),
        sequence_variant=str(ds.get("SequenceVariant")) if ds.get("SequenceVariant") else None,
        image_type=image_type,
        manufacturer=str(ds.get("Manufacturer")) if ds.get("Manufacturer") else None,
        contrast_agent=str(agent) if agent not in (None, "") else None,
        contrast_dose_ml=_float(ds.get("ContrastBolusVolume")),
        contrast_flow_rate_ml_s=_float(ds.get("ContrastFlowRate")),
        slice_thickness_mm=frames[0].slice_thickness if frames else _float(ds.get("SliceThickness")),
        spacing_between_slices_mm=_float(ds.get("SpacingBetweenSlices")),
        extra=extra,
    )


def read_pixels(layout: StackLayout, *, label: str) -> np.ndarray:
    """Read the frames of a stack into a float32 (i, j, k[, n]) array with the rescale applied."""
    first = layout.slices[0][0]
    n_k, n_n = len(layout.slices), len(layout.slices[0])
    out = np.empty((first.columns, first.rows, n_k, n_n), dtype=np.float32)
    # One slice position's frames are gathered in file order (contiguous writes), then moved into ``out`` at
    # once: writing each frame straight into ``out`` strides by n_k × n_n floats per voxel, a cache miss per
    # value (half of the read time of a 128 × 128 × 25 × 60 DSC series).
    gathered = np.empty((n_n, first.rows, first.columns), dtype=np.float32)
    cache: dict[Path, np.ndarray] = {}  # one enhanced file holds many frames: decode once
    for k, group in enumerate(layout.slices):
        for n, fr in enumerate(group):
            pixels = cache.get(fr.path)
            if pixels is None:
                try:
                    pixels = _decode_pixels(fr.path)
                except Exception as exc:
                    raise InputError(
                        f"pixel data cannot be decoded ({type(exc).__name__}: {exc})", file=fr.path
                    ) from exc
                if fr.frame_index is not None or fr.tile is not None:
                    cache = {fr.path: pixels}  # keep only the current multi-frame / mosaic file
            frame = pixels[fr.frame_index] if fr.frame_index is not None and pixels.ndim == 3 else pixels
            if fr.tile is not None:
                r0, c0 = (fr.tile // fr.tiles_per_side) * fr.rows, (fr.tile % fr.tiles_per_side) * fr.columns
                frame = frame[r0 : r0 + fr.rows, c0 : c0 + fr.columns]
            if frame.shape != (fr.rows, fr.columns):
                raise InputError(f"pixel matrix {frame.shape} does not match Rows/Columns", file=fr.path)
            slope, intercept = fr.rescale
            if slope == 1.0 and intercept == 0.0 and frame.dtype.kind in "iu" and frame.dtype.itemsize <= 2:
                # No rescale on 8/16-bit integers (most series): float32 holds every such value exactly, as the
                # float64 arithmetic below would round it, and an integer is always finite.
                gathered[n] = frame
                continue
            gathered[n] = frame * slope + intercept
            if not np.isfinite(gathered[n]).all():
                raise InputError(
                    "pixel data holds NaN or infinite values (or overflow float32 after rescaling)",
                    file=fr.path,
                    field="PixelData (7FE0,0010)" if fr.frame_index is None else f"PixelData frame {fr.frame_index}",
                    expected="finite pixel values",
                )
        out[:, :, k, :] = gathered.transpose(2, 1, 0)
    return out if n_n > 1 else out[..., 0]


def has_pixels(ds: Dataset) -> bool:
    """Whether the object holds pixel data (integer, float or double)."""
    return "PixelData" in ds or "FloatPixelData" in ds or "DoubleFloatPixelData" in ds


# Uncompressed transfer syntaxes and their byte order: their pixel data is the matrix itself.
_NATIVE_BYTE_ORDER = {ImplicitVRLittleEndian: "<", ExplicitVRLittleEndian: "<", ExplicitVRBigEndian: ">"}


def decode_pixels(ds: Dataset) -> np.ndarray:
    """``ds.pixel_array``, read straight from the bytes when the pixel data is an uncompressed integer matrix.

    Most files of a case (every frame of a perfusion series) are uncompressed single-sample integer images, and
    pydicom's general decoder costs several times the arithmetic there (it works out the pixel description again
    for every file). For those the bytes are viewed as the matrix, with pydicom's own treatment of the unused high
    bits (``BitsStored`` < ``BitsAllocated``: masked when unsigned, sign-extended when signed) and its dtype (the
    stored byte order). Anything else (compressed, colour, 1-bit, float pixels, a short buffer) goes to pydicom.
    """
    pixels = _native_pixels(ds)
    if pixels is None:
        pixels = ds.pixel_array
        ds._pixel_array = None  # the caller keeps the header, not a second copy of the decoded pixels
    return pixels


def _native_pixels(ds: Dataset) -> np.ndarray | None:
    meta = getattr(ds, "file_meta", None)
    order = _NATIVE_BYTE_ORDER.get(meta.get("TransferSyntaxUID")) if meta is not None else None
    if order is None or "PixelData" not in ds:
        return None
    get = _getter(ds)  # inside the run's index: the series' decoded values, not pydicom's keyword lookup per file
    allocated, stored, signed = get("BitsAllocated"), get("BitsStored"), get("PixelRepresentation")
    rows, columns, samples = get("Rows"), get("Columns"), get("SamplesPerPixel", 1)
    try:
        frames = int(get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        return None
    stored = allocated if stored is None else stored
    if (
        allocated not in (8, 16, 32)
        or signed not in (0, 1)
        or samples not in (1, None)
        or not rows
        or not columns
        or frames < 1
        or not 1 <= stored <= allocated
    ):
        return None
    dtype = np.dtype(f"{order}{'i' if signed else 'u'}{allocated // 8}")
    count = rows * columns * frames
    raw = ds.PixelData
    if raw is None or len(raw) < count * dtype.itemsize:
        return None  # pydicom names the problem
    pixels = (
        np.frombuffer(raw, dtype=dtype, count=count)
        .reshape((frames, rows, columns) if frames > 1 else (rows, columns))
        .copy()
    )
    if stored < allocated:  # as pydicom: shift the unused bits out and back (masks unsigned, sign-extends signed)
        unused = allocated - stored
        np.left_shift(pixels, unused, out=pixels)
        np.right_shift(pixels, unused, out=pixels)
    return pixels


def _decode_pixels(path: Path) -> np.ndarray:
    """A file's pixel matrix (or frames): from the run's header dataset when there is one, else read whole."""
    index = _ACTIVE
    ds = None
    if index is not None:
        with index.lock:
            decoded = index.decoded.pop(path, None)
        if decoded is not None:
            return decoded
        ds = read_header(path)
    if ds is None or not has_pixels(ds):
        return decode_pixels(dcmread(path, force=True))
    return decode_pixels(ds)


def load_stack(
    headers: DicomSeriesHeaders, frames: Sequence[FrameRecord], *, label: str, uid: str
) -> tuple[Volume, StackLayout, list[str]]:
    """Pixels + geometry + frame axis of one stack as a :class:`Volume`."""
    layout = layout_stack(frames, label=label)
    affine, warnings = stack_affine(layout, label=label)
    data = read_pixels(layout, label=label)
    times = layout.axis_values if layout.axis == "time" else None
    volume = Volume(data=data, affine=affine, frame_times_s=times, series_uid=uid)
    return volume, layout, layout.warnings + warnings


def iter_dicom_files(paths: Iterable[Path]) -> Iterable[tuple[Path, Dataset]]:
    for path in paths:
        ds = read_header(path)
        if ds is not None:
            yield path, ds


_MAX_VOLUME_SPAN_MS = 60_000.0  # no volume takes a minute between its first and last slice


def slice_times_ms(layout: StackLayout, *, repetition_time_ms: float | None = None) -> np.ndarray | None:
    """Acquisition time of each slice k within a volume (ms from the first), ``None`` if the headers lack it.

    Siemens mosaics carry it in the CSA header (MosaicRefAcqTimes, from the second volume where there is one);
    other objects give it when the
    per-slice acquisition times of the first volume differ by less than one TR. GE series without them get the
    continuous-acquisition estimate from the protocol block's slice order (``ge.py``; single-band only). Times
    that span a TR or more are not the slice times of one volume (some multiband releases write them so):
    ``None`` rather than a guess.
    """
    span_limit = min(_MAX_VOLUME_SPAN_MS, repetition_time_ms or _MAX_VOLUME_SPAN_MS)
    first = [group[0] for group in layout.slices]
    # Multiband mosaics record the true (simultaneous-slice) times from the second volume on; the first volume
    # carries the single-band times of the reference scan (CMRR MB, some releases wrapped past midnight at
    # 86 397 492 ms). So the second volume's times are taken where there is one, as dcm2niix does.
    for volume in (1, 0):
        if any(len(group) <= volume for group in layout.slices):
            continue
        frames = [group[volume] for group in layout.slices]
        if not all(f.slice_time_ms is not None for f in frames):
            continue
        times = np.array([f.slice_time_ms for f in frames], float)
        # Slices of one volume span at most a TR: values that do not are not slice times.
        if np.ptp(times) < span_limit:
            return times - times.min()
    if all(f.slice_time_ms is not None for f in first):
        return None  # recorded, but not the slice times of one volume: none rather than a guess
    acq = np.array([f.acquisition_seconds if f.acquisition_seconds is not None else np.nan for f in first], float)
    if len(first) > 1 and np.isfinite(acq).all() and 0 < np.ptp(acq) * 1000.0 < span_limit:
        return (acq - acq.min()) * 1000.0
    if len(first) > 1 and all(f.position is not None for f in first):
        # GE leaves per-slice times empty in many releases; its protocol block says the slice order.
        positions = np.array([f.position for f in first], float)
        try:  # the run's header of the file (parsed once), with GE's private protocol block
            header = read_dataset(first[0].path, stop_before_pixels=True)
        except (OSError, pydicom.errors.InvalidDicomError, InputError, ValueError, TypeError):
            return None
        return ge.slice_times_from_protocol(header, positions, repetition_time_ms=repetition_time_ms)
    return None


def stack_diffusion(layout: StackLayout) -> tuple[np.ndarray, np.ndarray | None]:
    """b-values (s/mm²) per frame n and unit gradient directions in patient LPS (n×3, zeros for b = 0).

    Directions are ``None`` when a diffusion-weighted frame has none in the headers we read.
    """
    ref = layout.slices[0]
    bvals = np.array([f.b_value if f.b_value is not None else 0.0 for f in ref], float)
    grads = np.zeros((len(ref), 3))
    for n, f in enumerate(ref):
        if f.gradient_lps is not None:
            grads[n] = f.gradient_lps
        elif bvals[n] > 50:  # near-zero b (Philips 0.001–0.004) frames have no direction by design
            return bvals, None
    return bvals, grads
