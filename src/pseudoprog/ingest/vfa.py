"""Variable-flip-angle (VFA) sets assembled from separate single-flip-angle series.

Siemens and GE often write each flip angle of a T1-mapping acquisition as its own series (the QIBA DCE
DROs do too). Series of one timepoint folder that share the voxel grid (shape and affine), TR, TE and study,
are single-volume spoiled gradient echoes without contrast, and differ only in flip angle, are one VFA set:
they become one :class:`~pseudoprog.case.Series` of kind VFA_T1 whose frames are the members ordered by
flip angle (``params.flip_angles_deg``), loaded by :func:`load_vfa_set`. A series with several flip angles
in itself, or a 4D NIfTI with a FlipAngle list, is already a VFA series and is left as it is.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..case import Series, SeriesKind, Volume
from ..errors import InputError
from . import dicom, nifti

VFA_SET_PREFIX = "vfa:"
# Spoiled gradient echo: VFA T1 mapping needs TR well below T1; a longer TR is another kind of series.
_MAX_VFA_TR_MS = 100.0
# Kinds a single flip angle of a VFA set is typically classified as on its own.
_MEMBER_KINDS = {SeriesKind.T1, SeriesKind.VFA_T1, SeriesKind.OTHER}
_AFFINE_TOL_MM = 1e-3


def is_vfa_set(series: Series) -> bool:
    return series.uid.startswith(VFA_SET_PREFIX)


def _candidate(s: Series, affine: np.ndarray | None) -> bool:
    p = s.params
    return (
        not s.kind_from_user
        and s.kind in _MEMBER_KINDS
        and s.n_frames == 1
        and len(s.shape) == 3
        and affine is not None
        and p.flip_angle_deg is not None
        and not p.flip_angles_deg
        and p.repetition_time_ms is not None
        and p.repetition_time_ms <= _MAX_VFA_TR_MS
        and not p.contrast_agent
    )


def group_vfa_sets(series: Sequence[Series], affines: Mapping[str, np.ndarray]) -> tuple[list[Series], list[str]]:
    """Replace every group of single-flip-angle series that form a VFA set by one VFA_T1 series.

    ``affines`` maps a series uid to its RAS affine (from the headers). Returns the new list (sets take the
    place of their first member) and warnings for groups that look like a set but cannot be one.
    """
    groups: dict[tuple, list[Series]] = defaultdict(list)
    for s in series:
        affine = affines.get(s.uid)
        if not _candidate(s, affine):
            continue
        assert affine is not None
        key = (
            s.source_format,
            s.shape,
            tuple(np.round(np.asarray(affine, float) / _AFFINE_TOL_MM / 10).astype(np.int64).ravel()),
            round(float(s.params.repetition_time_ms or 0.0), 2),
            round(float(s.params.echo_time_ms or 0.0), 2),
            s.study_instance_uid or "",
        )
        groups[key].append(s)
    warnings: list[str] = []
    replaced: dict[str, Series | None] = {}
    for members in groups.values():
        flips = [float(m.params.flip_angle_deg or 0.0) for m in members]
        if len(members) < 2 or len(set(flips)) < 2:
            continue
        if len(set(flips)) != len(flips):
            names = ", ".join(f"{m.description} ({f:g}°)" for m, f in zip(members, flips, strict=True))
            warnings.append(
                f"series {names} share grid, TR and TE but repeat a flip angle: not assembled into a VFA set "
                "(say which to use in case.yaml)"
            )
            continue
        ordered = sorted(members, key=lambda m: float(m.params.flip_angle_deg or 0.0))
        vfa_set = _make_set(ordered)
        replaced[ordered[0].uid] = vfa_set
        for m in ordered[1:]:
            replaced[m.uid] = None
    out: list[Series] = []
    for s in series:
        if s.uid not in replaced:
            out.append(s)
        elif (r := replaced[s.uid]) is not None:
            out.append(r)
    return out, warnings


def _make_set(ordered: Sequence[Series]) -> Series:
    first = ordered[0]
    angles = tuple(float(m.params.flip_angle_deg or 0.0) for m in ordered)
    digest = hashlib.sha1("|".join(m.uid for m in ordered).encode()).hexdigest()[:16]
    angle_text = ", ".join(f"{a:g}°" for a in angles)
    names = "; ".join(m.description or m.files[0].name for m in ordered)
    tr, te = first.params.repetition_time_ms, first.params.echo_time_ms
    return replace(
        first,
        uid=VFA_SET_PREFIX + digest,
        kind=SeriesKind.VFA_T1,
        description=f"VFA set of {len(ordered)} series (flip angles {angle_text})",
        files=tuple(f for m in ordered for f in m.files),
        shape=(*first.shape, len(ordered)),
        n_frames=len(ordered),
        params=replace(first.params, flip_angle_deg=angles[0], flip_angles_deg=angles),
        classification_reason=(
            f"{len(ordered)} single-flip-angle series ({angle_text}) with the same grid, TR {tr:g} ms, "
            f"TE {te:g} ms and study, no contrast: one variable-flip-angle set [{names}]"
        ),
        kind_from_user=False,
    )


def load_vfa_set(series: Series) -> tuple[Volume, list[str]]:
    """The members of a VFA set as one 4D volume, frames ordered by flip angle (``series.params.flip_angles_deg``)."""
    members = _load_members(series)
    angles = series.params.flip_angles_deg
    by_angle = {round(a, 3): (vol, w) for a, vol, w in members}
    if sorted(by_angle) != sorted(round(a, 3) for a in angles) or len(members) != len(angles):
        raise InputError(
            f"the files of the VFA set hold flip angles {sorted(by_angle)}, not {list(angles)}",
            file=series.files[0],
            field="FlipAngle",
        )
    ref = by_angle[round(angles[0], 3)][0]
    frames, warnings = [], []
    for a in angles:
        vol, w = by_angle[round(a, 3)]
        if vol.data.shape != ref.data.shape or not np.allclose(vol.affine, ref.affine, atol=_AFFINE_TOL_MM * 10):
            raise InputError("the series of a VFA set are not on one grid", file=series.files[0])
        frames.append(vol.data)
        warnings.extend(w)
    data = np.stack(frames, axis=-1).astype(np.float32)
    return Volume(data=data, affine=ref.affine, frame_times_s=None, series_uid=series.uid), warnings


def _load_members(series: Series) -> list[tuple[float, Volume, list[str]]]:
    out: list[tuple[float, Volume, list[str]]] = []
    if series.source_format == "nifti":
        for path in series.files:
            meta = nifti.read_sidecar(path)
            flip = meta.get("FlipAngle")
            if not isinstance(flip, (int, float)):
                raise InputError("VFA member has no FlipAngle in its sidecar", file=nifti.sidecar_path(path))
            vol, w = nifti.load_nifti(path, uid=series.uid)
            out.append((float(flip), vol, w))
        return out
    headers, _ = dicom.scan_folder_files(series.files)
    for h in headers:
        stacks = dicom.split_stacks(h)
        if len(stacks) != 1:
            raise InputError("a VFA set member splits into several stacks", file=next(iter(h.files)))
        frames = next(iter(stacks.values()))
        flip = frames[0].flip_angle
        if flip is None:
            raise InputError("VFA set member has no FlipAngle", file=frames[0].path, field="(0018,1314)")
        label = f"{Path(frames[0].path).parent} (series '{h.description}')"
        vol, _layout, w = dicom.load_stack(h, frames, label=label, uid=series.uid)
        out.append((flip, vol, w))
    return out
