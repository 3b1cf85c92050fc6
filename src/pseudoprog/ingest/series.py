"""Find, describe and load the series of one timepoint's image folder (DICOM, NIfTI, spectroscopy files)."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..case import AcquisitionParams, Case, Series, SeriesKind, Volume
from ..errors import InputError
from . import dicom, nifti, vfa
from .classify import classify, classify_by_words

log = logging.getLogger(__name__)

# Spectroscopy results and vendor spectra that are not DICOM: LCModel, TARQUIN, Siemens RDA.
_MRS_SUFFIXES = {".rda", ".table", ".coord", ".spar", ".sdat", ".7"}
# Generic text suffixes that hold spectroscopy fit results (LCModel .CSV, TARQUIN results .txt) only when
# their content says so; any other .txt/.csv in an image folder is not a series.
_MRS_TEXT_SUFFIXES = {".txt", ".csv"}


def _is_mrs_file(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix == ".7":
        # GE spectroscopy P-files end in .7, and so do GE DICOM exports (i28.MRDC.7): DICOM is not MRS here.
        return dicom.read_header(path) is None
    if suffix in _MRS_SUFFIXES:
        return True
    if suffix in _MRS_TEXT_SUFFIXES:
        from ..spectroscopy.results import sniff_fit_result

        return sniff_fit_result(path) is not None
    return False


@dataclass(frozen=True)
class ScanResult:
    series: tuple[Series, ...]
    warnings: tuple[str, ...]
    # (PatientID, PatientName, PatientBirthDate, StudyDate) of the DICOM objects → a file that carries them
    identities: tuple[tuple[tuple[str, str, str, str], Path], ...] = ()


def _override_for(overrides: Mapping[str, SeriesKind], *candidates: str | None) -> SeriesKind | None:
    for c in candidates:
        if c and c in overrides:
            return overrides[c]
    return None


def _nifti_uid(path: Path) -> str:
    # Stable across runs and machines: derived from the file name, not the absolute path.
    return "nifti:" + nifti.stem(path)


def scan_images(folder: Path, *, overrides: Mapping[str, SeriesKind] | None = None) -> ScanResult:
    """Describe every series under ``folder``: DICOM (any layout), NIfTI + JSON sidecars, MRS files.

    ``overrides`` maps a SeriesDescription, SeriesInstanceUID, series number or file name to the
    kind the user says it is (``series:`` in ``case.yaml``).
    """
    overrides = overrides or {}
    if not folder.exists():
        raise InputError("image folder does not exist", file=folder)
    if not folder.is_dir():
        raise InputError("image path is not a folder", file=folder, expected="a folder of DICOM or NIfTI files")
    found: list[Series] = []
    warnings: list[str] = []
    affines: dict[str, np.ndarray] = {}  # header geometry, for assembling VFA sets
    files = dicom.list_files(folder)  # one walk of the folder for the NIfTI, spectroscopy and DICOM scans
    nifti_files = [p for p in files if nifti.is_nifti(p)]
    for path in nifti_files:
        with dicom.bad_file(path, "reading the NIfTI header and sidecar"):
            s = _describe_nifti(path, overrides)
        found.append(s)
        if (affine := nifti.header_affine(path)) is not None:
            affines[s.uid] = affine
    mrs_files = [p for p in files if _is_mrs_file(p)]
    for path in mrs_files:
        kind = _override_for(overrides, path.name) or SeriesKind.MRS
        found.append(
            Series(
                uid="mrs:" + path.name,
                kind=kind,
                description=path.name,
                source_format="mrs",
                files=(path,),
                modality="MR",
                classification_reason=(
                    "spectroscopy file type " + path.suffix.lower()
                    if path.suffix.lower() in _MRS_SUFFIXES
                    else "spectroscopy fit result (recognised by content)"
                ),
                kind_from_user=kind is not SeriesKind.MRS,
            )
        )
    notes: list[str] = []
    headers, skipped = dicom.scan_folder_files(files, notes=notes)
    warnings.extend(notes)
    mrs_set = set(mrs_files)
    skipped = [
        p
        for p in skipped
        if not nifti.is_nifti(p) and p not in mrs_set and p.suffix.lower() not in {".json", ".bval", ".bvec"}
    ]
    if skipped:
        warnings.append(f"{len(skipped)} file(s) in {folder.name}/ are not DICOM or NIfTI and were ignored")
    for h in headers:
        with dicom.bad_file(min(h.files) if h.files else folder, "describing its series"):
            found.extend(_describe_dicom(h, overrides, affines=affines))
    if not found:
        raise InputError(
            "no images found (no DICOM, NIfTI or spectroscopy files)",
            file=folder,
            expected="DICOM files in any layout, or NIfTI files with JSON sidecars",
        )
    found, vfa_warnings = vfa.group_vfa_sets(found, affines)
    warnings.extend(vfa_warnings)
    warnings.extend(classification_warnings(found))
    identities = {key: path for h in headers for key, path in h.identities.items()}
    return ScanResult(series=tuple(found), warnings=tuple(warnings), identities=tuple(identities.items()))


_ANATOMICAL = {SeriesKind.T1, SeriesKind.T2, SeriesKind.FLAIR, SeriesKind.OTHER}
_POST_CONTRAST = {SeriesKind.T1C, SeriesKind.T1C_DELAYED}


def classification_warnings(series: Sequence[Series]) -> list[str]:
    """What a reader must know about the classification: an anatomical exam with no identifiable
    post-contrast T1, and every uncertain call with its alternatives.

    >>> from pseudoprog.case import Series, SeriesKind
    >>> classification_warnings([Series(uid="a", kind=SeriesKind.T1, description="Pre_Scan_T1", source_format="nifti",
    ...                                 files=())])[0][:56]
    'no post-contrast T1 (T1c) identified among 1 series (T1:'
    """
    out: list[str] = []
    kinds = [s.kind for s in series]
    if any(k in _ANATOMICAL for k in kinds) and not any(k in _POST_CONTRAST for k in kinds):
        listed = ", ".join(f"{s.kind.value}: {s.description[:60]!r}" for s in series)
        out.append(
            f"no post-contrast T1 (T1c) identified among {len(series)} series ({listed}): enhancing lesions cannot "
            "be measured; if one of them is post-contrast, say so in case.yaml (series: {<description or file "
            "name>: T1c})"
        )
    for s in series:
        if "uncertain" in s.classification_reason and not s.kind_from_user:
            out.append(f"series {s.description[:60]!r} taken as {s.kind.value}: {s.classification_reason}")
    return out


def _describe_nifti(path: Path, overrides: Mapping[str, SeriesKind]) -> Series:
    shape, spacing = nifti.header_info(path)
    meta = nifti.read_sidecar(path)
    params = nifti.params_from_sidecar(meta, file=path)
    n_frames = shape[3] if len(shape) > 3 else 1
    description = str(meta.get("SeriesDescription") or meta.get("ProtocolName") or "")
    user = _override_for(overrides, path.name, nifti.stem(path), description or None)
    if user is not None:
        kind, reason = user, "set in case.yaml"
    else:
        # The file name is the strongest evidence a NIfTI has (BIDS suffix or site naming).
        by_name = classify_by_words(nifti.stem(path))
        if by_name is not None and by_name.kind not in (SeriesKind.OTHER,):
            c = classify(description=nifti.stem(path), params=params, n_frames=n_frames)
        else:
            c = classify(description=description, params=params, n_frames=n_frames)
        kind, reason = c.kind, c.reason
    return Series(
        uid=_nifti_uid(path),
        kind=kind,
        description=description or nifti.stem(path),
        source_format="nifti",
        files=(path,),
        shape=shape,
        spacing_mm=spacing,
        n_frames=n_frames,
        params=params,
        classification_reason=reason,
        kind_from_user=user is not None,
    )


def _describe_dicom(
    h: dicom.DicomSeriesHeaders,
    overrides: Mapping[str, SeriesKind],
    *,
    affines: dict[str, np.ndarray] | None = None,
) -> list[Series]:
    ds = h.first
    base = dict(
        modality=h.modality or "OT",
        sop_class_uid=h.sop_class_uid or None,
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID")) if ds.get("FrameOfReferenceUID") else None,
        study_instance_uid=str(ds.get("StudyInstanceUID")) if ds.get("StudyInstanceUID") else None,
        series_number=dicom.series_number(ds, file=min(h.files, key=dicom.path_order, default=None)),
        source_format="dicom",
    )
    number = str(base["series_number"]) if base["series_number"] is not None else None
    user = _override_for(overrides, h.series_uid, h.description or None, number)
    if not h.frames:  # spectroscopy, RT structures: no image stack
        c = classify(
            description=h.description, params=AcquisitionParams(), modality=h.modality, sop_class_uid=h.sop_class_uid
        )
        return [
            Series(
                uid=h.series_uid,
                kind=user or c.kind,
                description=h.description,
                files=tuple(sorted(h.files, key=dicom.path_order)),
                classification_reason="set in case.yaml" if user else c.reason,
                kind_from_user=user is not None,
                **base,  # type: ignore[arg-type]
            )
        ]
    out = []
    for suffix, frames in dicom.split_stacks(h).items():
        params = dicom.acquisition_params(h, frames)
        positions = {dicom._pos_key(f) for f in frames}
        n_frames = len(frames) // max(1, len(positions))
        first = frames[0]
        spacing = None
        if first.pixel_spacing is not None:
            spacing = (
                first.pixel_spacing[1],
                first.pixel_spacing[0],
                float(params.spacing_between_slices_mm or first.slice_thickness or 1.0),
            )
        c = classify(
            description=h.description,
            params=params,
            n_frames=n_frames,
            modality=h.modality,
            sop_class_uid=h.sop_class_uid,
        )
        kind = user or c.kind
        if affines is not None and n_frames == 1:
            try:  # header-only geometry; a stack that cannot be placed is reported when it is loaded
                affines[h.series_uid + suffix] = dicom.stack_affine(dicom.layout_stack(frames, label=""), label="")[0]
            except InputError:
                pass
        shape: tuple[int, ...] = (first.columns, first.rows, len(positions))
        if n_frames > 1:
            shape += (n_frames,)
        out.append(
            Series(
                uid=h.series_uid + suffix,
                kind=kind,
                description=h.description + (f" ({suffix.strip('.')})" if suffix else ""),
                files=tuple(sorted({f.path for f in frames}, key=dicom.path_order)),
                shape=shape,
                spacing_mm=spacing,
                n_frames=n_frames,
                params=params,
                classification_reason="set in case.yaml" if user else c.reason,
                kind_from_user=user is not None,
                **base,  # type: ignore[arg-type]
            )
        )
    return out


def load_series(series: Series) -> tuple[Volume, list[str]]:
    """Read the pixels of a series as a :class:`Volume` (float32, RAS+ affine, frame times when dynamic).

    Returns the volume and any warnings about its timing or geometry. Inside
    :func:`pseudoprog.ingest.dicom.file_index` (one run) the pixels are read once per series and every
    caller gets its own copy of the array.
    """
    index = dicom.active_index()
    if index is None:
        return _load_series(series)
    key = (series.uid, series.source_format, series.files)
    with index.lock:
        cached = index.volumes.get(key)
        pending = index.loading.get(key) if cached is None else None
        loader = cached is None and pending is None
        if loader:  # this thread reads it; another asking meanwhile waits for it rather than reading it again
            pending = index.loading[key] = Future()
    if loader:
        assert pending is not None
        try:
            cached = _load_series(series)
        except BaseException as exc:
            with index.lock:
                del index.loading[key]
            pending.set_exception(exc)
            raise
        with index.lock:
            index.volumes[key] = cached
            del index.loading[key]
        pending.set_result(cached)
    elif cached is None:
        assert pending is not None
        cached = pending.result()
    volume, warnings = cached
    return replace(volume, data=volume.data.copy()), list(warnings)


# Kinds whose pixels are most of a case's files, and which the map builders read in full: worth reading
# while the lesions stage (registration, N4: outside the GIL) keeps the other core busy.
_PREFETCH_KINDS = (SeriesKind.DSC, SeriesKind.DCE)


def prefetch_dynamic(case: Case) -> threading.Thread | None:
    """Start reading the pixels of each timepoint's dynamic series (DSC, DCE) in a background thread.

    Only inside :func:`pseudoprog.ingest.dicom.file_index`: the volumes land in the run's index, where
    :func:`load_series` finds them (or waits for the one being read). Only series the map builders read
    (one DSC acquisition of at most two echoes, the first DCE series); a failure is left for the builder
    that reads the series to report. Returns the thread (join it before the index closes), or ``None``.
    """
    if dicom.active_index() is None:
        return None
    wanted: list[Series] = []
    for tp in case.timepoints:
        dsc = tp.series_of(SeriesKind.DSC)
        if 1 <= len(dsc) <= 2:
            wanted.extend(dsc)
        dce = tp.series_of(SeriesKind.DCE)
        if dce:
            wanted.append(dce[0])
    wanted = [s for s in wanted if s.source_format == "dicom" and not vfa.is_vfa_set(s)]
    if not wanted:
        return None

    def run() -> None:  # the run's index is process-wide: this thread fills the same one
        for s in wanted:
            try:
                load_series(s)
            except Exception:  # the builder reading this series reports it, with its context
                log.debug("prefetch of a %s series failed; left to its map builder", s.kind.value)

    thread = threading.Thread(target=run, name="prefetch-dynamic", daemon=True)
    thread.start()
    return thread


def _load_series(series: Series) -> tuple[Volume, list[str]]:
    if vfa.is_vfa_set(series):
        return vfa.load_vfa_set(series)
    if series.source_format == "nifti":
        with dicom.bad_file(series.files[0], "reading the NIfTI image"):
            return nifti.load_nifti(series.files[0], uid=series.uid)
    if series.source_format != "dicom":
        raise InputError(f"series of kind {series.kind} has no image volume to load", file=series.files[0])
    with dicom.bad_file(series.files[0], "reading the series' pixels"):
        h, frames, label = dicom_stack(series)
        volume, _layout, warnings = dicom.load_stack(h, frames, label=label, uid=series.uid)
    return volume, warnings


def dicom_stack(series: Series) -> tuple[dicom.DicomSeriesHeaders, list[dicom.FrameRecord], str]:
    """Re-read the headers of a DICOM series and return the frames of its stack, with a label for messages.

    A series id is the SeriesInstanceUID plus the stack suffix (``.plane2``, ``.echo1``) given when it was scanned.
    """
    if vfa.is_vfa_set(series):
        raise InputError(
            "a VFA set assembled from several series has no single DICOM stack (load it with load_series)",
            file=series.files[0],
        )
    index = dicom.active_index()
    if index is None:
        return _dicom_stack(series)
    key = (series.uid, series.files, series.description)
    with index.lock:
        cached = index.stacks.get(key)
    if cached is None:  # once per run: the pixels loader and the DICOM writers ask for the same stack
        cached = _dicom_stack(series)
        with index.lock:
            index.stacks[key] = cached
    h, frames, label = cached
    return h, list(frames), label


def _dicom_stack(series: Series) -> tuple[dicom.DicomSeriesHeaders, list[dicom.FrameRecord], str]:
    headers, _ = dicom.scan_folder_files(series.files)
    h = next((x for x in headers if series.uid.startswith(x.series_uid)), None)
    if h is None or not h.frames:
        raise InputError("series has no image frames", file=series.files[0])
    stacks = dicom.split_stacks(h)
    key = series.uid[len(h.series_uid) :]
    if key not in stacks:
        raise InputError(f"stack '{key}' not found in series", file=series.files[0])
    return h, stacks[key], f"{series.files[0].parent} (series '{series.description}')"


def with_kind(series: Series, kind: SeriesKind, reason: str) -> Series:
    return replace(series, kind=kind, classification_reason=reason, kind_from_user=True)


def short_uid(text: str) -> str:
    """A short stable id for file names (never the raw UID, which can be long)."""
    return hashlib.sha1(text.encode()).hexdigest()[:10]
