"""Ingest: ``case.yaml`` + image folders → a validated :class:`~pseudoprog.case.Case` with typed series.

Usage (not run as a doctest: it needs a real case or file)::

    from pseudoprog.ingest import load_case
    case = load_case("examples/DEMO-001")
    [s.kind for s in case.latest.series]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..case import Case
from . import dicom
from .caseyaml import CASE_FILE, read_case_yaml
from .classify import classify
from .confine import confine_paths
from .identity import check_one_patient
from .series import ScanResult, load_series, scan_images


@dataclass(frozen=True)
class IngestResult:
    case: Case
    warnings: tuple[str, ...]


def ingest_case(
    case_dir: str | Path, *, read_images: bool = True, allow_roots: Sequence[str | Path] = ()
) -> IngestResult:
    """Read ``case.yaml``, then describe (headers only) every series of every timepoint's image folder.

    Every path case.yaml names must lie inside the case folder or one of ``allow_roots`` (symlinks followed).
    """
    case, overrides = read_case_yaml(Path(case_dir))
    confine_paths(case, case_file=Path(case_dir) / CASE_FILE, allow_roots=allow_roots)
    warnings: list[str] = [t.end_assumed for t in case.treatments if t.end_assumed]  # assumed course ends
    if not read_images:
        return IngestResult(case, tuple(warnings))
    timepoints = []
    scans = []
    # The run's worker processes (if any) start on every timepoint's perfusion folders at once.
    dicom.parse_ahead(tp.image_dir for tp in case.timepoints if tp.image_dir is not None)
    for tp, tp_overrides in zip(case.timepoints, overrides, strict=True):
        if tp.image_dir is None:
            timepoints.append(tp)
            continue
        scan = scan_images(tp.image_dir, overrides=tp_overrides)
        scans.append((tp, scan))
        warnings.extend(f"{tp.date}: {w}" for w in scan.warnings)
        timepoints.append(replace(tp, series=scan.series))
    check_one_patient(case, scans, case_file=Path(case_dir) / CASE_FILE)  # another patient's images: refused
    return IngestResult(replace(case, timepoints=tuple(timepoints)), tuple(warnings))


def load_case(case_dir: str | Path, *, read_images: bool = True) -> Case:
    """The validated case (see :func:`ingest_case` for the warnings too)."""
    return ingest_case(case_dir, read_images=read_images).case


__all__ = [
    "CASE_FILE",
    "IngestResult",
    "ScanResult",
    "classify",
    "ingest_case",
    "load_case",
    "load_series",
    "read_case_yaml",
    "scan_images",
]
