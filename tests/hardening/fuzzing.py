"""The fuzz harness's mutators and targets (issue 18): real files from ../shared/data, mutated, fed to the parsers.

A target passes when it returns or raises one of our errors (InputError, CannotAssessError, OutOfScopeError);
any other exception is a crash and a target that runs past ``HANG_SECONDS`` is a hang. ``test_fuzz.py`` drives
these with hypothesis (seeded, bounded in ``make test``; long in ``make fuzz``) and keeps the tallies.
"""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from pseudoprog.errors import PseudoprogError

HANG_SECONDS = 20
SHARED = (Path(__file__).resolve().parents[2].parent / "shared" / "data").resolve()

# Seed series: (name, files relative to ../shared/data). Small, and covering the layouts ingest reads:
# classic GE EPI, preamble-less QIBA DRO, Siemens mosaic, XA enhanced, implicit-VR ReMIND, Philips classic (gzip).
DICOM_SEEDS: dict[str, tuple[str, ...]] = {
    "ge-epi": (
        "real-dicom-multivendor/dcm_qa_nih/In/20180918GE/mr_0004/axial_epi_fmri_interleaved_i_to_s-00043.dcm",
        "real-dicom-multivendor/dcm_qa_nih/In/20180918GE/mr_0004/axial_epi_fmri_interleaved_i_to_s-00147.dcm",
    ),
    "qiba": (
        "qiba-dce-dro-v6/DICOM/QIBA_v06_Tofts_beta1_0001.dcm",
        "qiba-dce-dro-v6/DICOM/QIBA_v06_Tofts_beta1_0002.dcm",
    ),
    "siemens-mosaic": (
        "real-dicom-multivendor/dcm_qa/In/Orientation/ax/axint35/MR.1.3.12.2.1107.5.2.32.35131.2014031012511448225287110",
    ),
    "xa-enhanced": (
        "real-dicom-multivendor/dcm_qa_xa30/In/25_asl_2d_tra/0002_1.3.12.2.1107.5.2.43.67093.2022071112142243550512646.dcm",
    ),
    "remind": (
        "real-glioma-dicom-remind/3DAXT1postcontrast_MRI/1-001.dcm",
        "real-glioma-dicom-remind/3DAXT1postcontrast_MRI/1-002.dcm",
    ),
    "philips-gzip": (
        "real-dicom-multivendor/dcm_qa_philips_enh/In/cl/1901_0001.dcm.gz",
        "real-dicom-multivendor/dcm_qa_philips_enh/In/cl/1901_0002.dcm.gz",
    ),
}
MRS_SEEDS = (
    "mrs-suspect-testdata/siemens/SVS_30.rda",
    "mrs-suspect-testdata/siemens/SVS_30.IMA",
    "mrs-suspect-testdata/lcmodel/svs_97.TABLE",
    "mrs-suspect-testdata/lcmodel/svs_97.CSV",
    "mrs-suspect-testdata/lcmodel/svs_97.COORD",
    "mrs-suspect-testdata/tarquin/tarquin_results.txt",
)

# The attributes whose odd values crashed ingest before (issue 18), and their neighbours.
FUZZ_TAGS = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "SamplesPerPixel",
    "RescaleSlope",
    "RescaleIntercept",
    "SeriesNumber",
    "InstanceNumber",
    "SeriesInstanceUID",
    "SOPClassUID",
    "Modality",
    "ImageType",
    "EchoTime",
    "RepetitionTime",
    "FlipAngle",
    "TriggerTime",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "TemporalPositionIdentifier",
    "DiffusionBValue",
    "SeriesDescription",
    "StudyDate",
    "PatientID",
    "MagneticFieldStrength",
    "PhotometricInterpretation",
    "PixelData",
)
ODD_VALUES: tuple[Any, ...] = (
    None,  # delete
    "",
    "0",
    "-1",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "abc",
    "1\\2",
    "1\\2\\3",
    "1\\2\\3\\4\\5\\6\\7",
    "0\\0",
    "0\\0\\0\\0\\0\\0",
    0,
    1,
    65535,
    -5,
    2**31,
    [1.0],
    [0.0, 1.0],
    "\x00\xff",
    "9" * 40,
    "20261399",
    "256",
    b"\x00" * 3,
)


class Hang(Exception):
    """The target ran past HANG_SECONDS."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def _alarm(_signum: int, _frame: Any) -> None:
        raise Hang(f"ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Tally:
    """Counts of inputs and outcomes; crashes keep their first traceback line per site."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.crashes: dict[str, str] = {}

    def run(self, target: str, fn: Callable[[], Any]) -> str:
        self.counts["inputs"] += 1
        self.counts[f"inputs.{target}"] += 1
        try:
            with time_limit(HANG_SECONDS):
                fn()
        except PseudoprogError:
            self.counts["clean errors"] += 1
            return "clean"
        except Hang:
            self.counts["hangs"] += 1
            raise
        except Exception as exc:
            self.counts["crashes"] += 1
            self.crashes.setdefault(f"{target}: {type(exc).__name__}", str(exc)[:200])
            raise
        self.counts["accepted"] += 1
        return "ok"

    def summary(self) -> dict[str, Any]:
        return {"counts": dict(sorted(self.counts.items())), "crash_sites": self.crashes}


def read_seed(rel: str) -> bytes:
    raw = (SHARED / rel).read_bytes()
    return raw


def seed_name(rel: str) -> str:
    return Path(rel).name


# ----------------------------------------------------------------------------------------------- mutators


def mutate_tag(raw: bytes, *, gz: bool, tag: str, value: Any, nested: bool) -> bytes | None:
    """Set one attribute (top level, or in the first per-frame functional group) to an odd value.

    ``None`` when pydicom refuses to write the mutated dataset (the mutation is then not a file anyone has).
    """
    data = gzip.decompress(raw) if gz else raw
    ds = pydicom.dcmread(BytesIO(data), force=True)
    target: Dataset = ds
    if nested and "PerFrameFunctionalGroupsSequence" in ds and len(ds.PerFrameFunctionalGroupsSequence):
        per = ds.PerFrameFunctionalGroupsSequence[0]
        for seq in (
            "PlanePositionSequence",
            "PlaneOrientationSequence",
            "PixelMeasuresSequence",
            "PixelValueTransformationSequence",
            "FrameContentSequence",
        ):
            if seq in per and len(per[seq].value) and tag in per[seq].value[0]:
                target = per[seq].value[0]
                break
    try:
        if value is None:
            if tag in target:
                del target[tag]
        elif tag in target:
            target[tag].value = value
        else:
            setattr(target, tag, value)
        out = BytesIO()
        ds.save_as(out, enforce_file_format=False)
    except Exception:
        return None
    raw_out = out.getvalue()
    return gzip.compress(raw_out) if gz else raw_out


def mutate_bytes(raw: bytes, *, gz: bool, edits: list[tuple[int, int]], truncate: int | None) -> bytes:
    """Overwrite bytes (positions weighted to the header: the first 4 KB), and optionally truncate."""
    data = bytearray(gzip.decompress(raw) if gz else raw)
    for pos, byte in edits:
        where = pos % min(len(data), 4096) if pos % 4 else pos % len(data)
        data[where] = byte
    if truncate is not None:
        data = data[: max(0, truncate % len(data))]
    out = bytes(data)
    return gzip.compress(out) if gz else out


# ------------------------------------------------------------------------------------------------ targets


def dicom_target(folder: Path) -> None:
    """Scan an image folder and read every image series' pixels (what ingest and the stages do)."""
    from pseudoprog.ingest import load_series, scan_images

    scan = scan_images(folder)
    for series in scan.series:
        if series.shape is not None or series.source_format == "nifti":
            load_series(series)


def write_series(folder: Path, files: dict[str, bytes]) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, raw in files.items():
        (folder / name).write_bytes(raw)
    return folder


def small_nifti(folder: Path, *, four_d: bool) -> tuple[Path, Path]:
    """A small NIfTI (3D or 4D) with a BIDS sidecar, written with nibabel: the NIfTI seed."""
    import nibabel as nib

    folder.mkdir(parents=True, exist_ok=True)
    shape = (6, 5, 4, 3) if four_d else (6, 5, 4)
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    img = nib.Nifti1Image(data, np.diag([1.5, 1.5, 3.0, 1.0]))
    path = folder / ("dsc.nii" if four_d else "T1c.nii")
    nib.save(img, str(path))
    side = path.with_suffix(".json")
    meta = {
        "EchoTime": 0.03,
        "RepetitionTime": 1.5,
        "FlipAngle": 60,
        "MagneticFieldStrength": 3,
        "ImageType": ["ORIGINAL", "PRIMARY"],
        "SeriesDescription": "perf" if four_d else "t1 post",
    }
    side.write_text(json.dumps(meta))
    return path, side


JSON_ODD: tuple[Any, ...] = (
    None,
    "",
    "abc",
    -1,
    0,
    2.5,
    1e308,
    float("inf"),
    [],
    [1, "x"],
    {"a": 1},
    True,
    [0.01, 0.02],
    3000,
    "nan",
)
SIDECAR_KEYS = (
    "EchoTime",
    "RepetitionTime",
    "InversionTime",
    "FlipAngle",
    "MagneticFieldStrength",
    "ImageType",
    "FrameTimesStart",
    "VolumeTiming",
    "bval",
    "SliceThickness",
    "SpacingBetweenSlices",
    "ScanningSequence",
    "SeriesDescription",
    "Manufacturer",
    "ContrastBolusIngredient",
)


CASE_YAML = textwrap.dedent(
    """\
    patient: {id: FUZZ-001, age: 58, sex: M}
    diagnosis: {type: glioblastoma, idh: wildtype, mgmt: methylated, date: 2025-12-20}
    treatments:
      - {type: surgery, date: 2026-01-10, extent: gross_total}
      - {type: chemoradiation, start: 2026-02-01, end: 2026-03-15, dose_gy: 60, fractions: 30, agent: temozolomide}
    timepoints:
      - date: 2026-03-20
        clinical_status: stable
        steroids_mg_dexamethasone: 4
        lesions:
          - {id: L1, long_mm: 22, perp_mm: 15, enhancing: true, location_vs_rt: in_field}
        markers: {rcbv_max: 1.2, adc_mean: 1.35e-3}
      - date: 2026-06-02
        clinical_status: worse
        lesions:
          - {id: L1, long_mm: 30, perp_mm: 21}
    """
)
YAML_ODD: tuple[str, ...] = (
    "",
    "~",
    "-1",
    "0",
    "1e999",
    "-1e999",
    ".nan",
    ".inf",
    "99999999999999999999999",
    "abc",
    "[]",
    "{}",
    "[1, 2]",
    "{a: 1}",
    "2026-02-30",
    "9999-12-31",
    "0001-01-01",
    "true",
    "'2026-01-01'",
    "!!binary aGVsbG8=",
    "&a x",
    "*a",
    '"\\x00"',
    "1_000",
)
