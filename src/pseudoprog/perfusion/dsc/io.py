"""Reading a DSC input (DICOM folder, NIfTI + JSON sidecar) and writing its maps (NIfTI) and parameters (JSON).

Maps are written in the input series' own grid and affine, each file whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...case import AcquisitionParams, Series, SeriesKind, Volume
from ...errors import InputError
from ...files import write_json, write_nifti
from ...ingest import load_series, scan_images
from ...ingest import nifti as nifti_io
from ...ingest.masks import read_nifti_array
from .model import DSCFit, LesionSummary


@dataclass(frozen=True)
class DSCInput:
    """One DSC acquisition ready for :class:`~pseudoprog.perfusion.dsc.model.DSCModel`."""

    volume: Volume  # single echo, or the first (shorter) echo
    echo2: Volume | None
    params: AcquisitionParams
    te_ms: float
    te2_ms: float | None
    source: str
    warnings: tuple[str, ...]


def _echo_time(series: Series) -> float | None:
    return series.params.echo_time_ms


def dsc_input_from_series(series: list[Series] | tuple[Series, ...], *, source: str) -> DSCInput:
    """Load one DSC acquisition from its series: one single-echo series, or two echoes of one acquisition."""
    dyn = [s for s in series if s.kind is SeriesKind.DSC]
    if not dyn:
        raise InputError("no DSC series found", file=source, expected="a dynamic T2*-weighted (DSC) series")
    if len(dyn) > 2 or (len(dyn) == 2 and _echo_time(dyn[0]) == _echo_time(dyn[1])):
        names = ", ".join(s.description for s in dyn)
        raise InputError(f"more than one DSC acquisition found ({names})", file=source, expected="one DSC series")
    dyn = sorted(dyn, key=lambda s: _echo_time(s) or 0.0)
    warnings: list[str] = []
    vol, w = load_series(dyn[0])
    warnings += w
    te = _echo_time(dyn[0])
    if te is None:
        raise InputError("the DSC series has no echo time", file=dyn[0].files[0], field="EchoTime")
    echo2 = None
    te2 = None
    if len(dyn) == 2:
        echo2, w = load_series(dyn[1])
        warnings += w
        te2 = _echo_time(dyn[1])
    params = dyn[-1].params
    if te2 is not None:
        params = AcquisitionParams(**{**params.__dict__, "echo_times_ms": (te, te2)})
    return DSCInput(vol, echo2, params, float(te), te2, source, tuple(warnings))


def load_dsc_input(path: str | Path) -> DSCInput:
    """A DICOM folder (single or dual echo) or a 4D NIfTI with its BIDS JSON sidecar."""
    p = Path(path)
    if not p.exists():
        raise InputError("DSC input does not exist", file=p)
    if p.is_dir():
        scan = scan_images(p)
        dyn = [s for s in scan.series if s.kind is SeriesKind.DSC]
        if not dyn:
            dyn = [s for s in scan.series if s.is_dynamic]
            from dataclasses import replace

            dyn = [replace(s, kind=SeriesKind.DSC) for s in dyn]
        result = dsc_input_from_series(dyn, source=str(p))
        return DSCInput(**{**result.__dict__, "warnings": tuple(scan.warnings) + result.warnings})
    if not nifti_io.is_nifti(p):
        raise InputError("not a NIfTI file or a folder", file=p, expected="a 4D NIfTI with a JSON sidecar or a folder")
    meta = nifti_io.read_sidecar(p)
    side = nifti_io.sidecar_path(p)
    if not meta:
        raise InputError(
            "no JSON sidecar beside the NIfTI", file=side, expected="EchoTime (s), RepetitionTime (s), FlipAngle"
        )
    params = nifti_io.params_from_sidecar(meta, file=side)
    vol, warnings = nifti_io.load_nifti(p, uid="nifti:" + nifti_io.stem(p))
    if not vol.is_dynamic:
        raise InputError("the image is not 4D", file=p, expected="a 4D DSC series (x, y, z, time)")
    if params.echo_times_ms:
        raise InputError(
            "the sidecar lists several echo times for one NIfTI",
            file=side,
            field="EchoTime",
            expected="one echo per file; give a folder with one NIfTI per echo for dual-echo data",
        )
    if params.echo_time_ms is None:
        raise InputError("EchoTime is missing", file=side, field="EchoTime", expected="the echo time in seconds")
    return DSCInput(vol, None, params, float(params.echo_time_ms), None, str(p), tuple(warnings))


def load_mask(path: str | Path, like: Volume, *, what: str) -> np.ndarray:
    """A 3D NIfTI mask on the DSC grid (same shape and affine within 0.1 mm)."""
    p = Path(path)
    data, affine = read_nifti_array(p, what=what)
    if data.shape != like.spatial_shape:
        raise InputError(
            f"{what} has shape {data.shape}, the DSC grid is {like.spatial_shape}",
            file=p,
            expected="a mask drawn on the DSC series",
        )
    if not np.allclose(affine, like.affine, atol=0.1):
        raise InputError(f"{what} is not in the DSC series' space (affines differ)", file=p)
    return data > 0.5


@dataclass(frozen=True)
class WrittenMap:
    name: str
    path: Path
    unit: str
    description: str


def write_dsc_outputs(
    fit: DSCFit, out_dir: str | Path, *, prefix: str = "dsc_", extra: dict[str, Any] | None = None
) -> list[WrittenMap]:
    """Write every map (float32 NIfTI), the AIF and reference masks, and ``<prefix>parameters.json``."""
    out = Path(out_dir)
    written: list[WrittenMap] = []
    for m in fit.maps.values():
        path = out / f"{prefix}{m.name}.nii.gz"
        dtype = np.uint8 if m.unit == "class" else np.float32
        write_nifti(path, m.data, fit.affine, dtype=dtype, nan_to=0.0)
        written.append(WrittenMap(m.name, path, m.unit, m.description))
    for name, mask, desc in (
        ("aif_voxels", fit.aif_mask, "voxels averaged into the arterial input function"),
        ("reference_voxels", fit.reference.mask, "NAWM reference voxels used to normalise rCBV and rCBF"),
        ("brain_mask", fit.brain, "voxels analysed"),
    ):
        path = out / f"{prefix}{name}.nii.gz"
        write_nifti(path, mask, fit.affine, dtype=np.uint8)
        written.append(WrittenMap(name, path, "mask", desc))
    doc = {
        "parameters": fit.parameters,
        "warnings": list(fit.warnings),
        "maps": {w.name: {"file": w.path.name, "unit": w.unit, "description": w.description} for w in written},
        **(extra or {}),
    }
    path = out / f"{prefix}parameters.json"
    write_json(path, doc)
    written.append(WrittenMap("parameters", path, "json", "every parameter used"))
    return written


@dataclass(frozen=True)
class DSCRun:
    """What :func:`compute_dsc_maps` produced."""

    fit: DSCFit
    written: list[WrittenMap]
    warnings: tuple[str, ...]  # input, protocol and analysis warnings
    lesion: LesionSummary | None  # when a lesion mask was given


def compute_dsc_maps(
    path: str | Path,
    out_dir: str | Path,
    *,
    aif_mask: str | Path | None = None,
    reference_mask: str | Path | None = None,
    lesion_mask: str | Path | None = None,
    leakage: str = "auto",
    deconvolution: str = "osvd",
) -> DSCRun:
    """The ``pseudoprog maps dsc`` command: read the input, fit, check the protocol, write maps and parameters."""
    from .model import DSCModel
    from .protocol import check_dsc_protocol, preload_recorded

    inp = load_dsc_input(path)
    model = DSCModel(
        te_ms=inp.te_ms,
        te2_ms=inp.te2_ms,
        leakage=leakage,
        deconvolution=deconvolution,
        preload=preload_recorded(inp.params),
    )
    aif = load_mask(aif_mask, inp.volume, what="the AIF mask") if aif_mask else None
    reference = load_mask(reference_mask, inp.volume, what="the reference mask") if reference_mask else None
    lesion = load_mask(lesion_mask, inp.volume, what="the lesion mask") if lesion_mask else None
    fit = model.fit(inp.volume, echo2=inp.echo2, aif_mask=aif, reference_mask=reference, lesion_mask=lesion)
    protocol = check_dsc_protocol(
        inp.params,
        baseline_frames=fit.baseline.n_frames,
        frame_times_s=inp.volume.frame_times_s,
        spacing_mm=inp.volume.spacing_mm,
        leakage_method=leakage,
    )
    summary = fit.summarise(lesion) if lesion is not None else None
    extra: dict[str, Any] = {
        "input": {"source": str(path), "te_ms": inp.te_ms, "te2_ms": inp.te2_ms},
        "protocol_warnings": protocol,
        "masks": {
            k: (str(v) if v else None)
            for k, v in (("aif_mask", aif_mask), ("reference_mask", reference_mask), ("lesion_mask", lesion_mask))
        },
    }
    if summary is not None:
        extra["lesion_summary"] = summary
    written = write_dsc_outputs(fit, out_dir, extra=extra)
    return DSCRun(fit, written, (*inp.warnings, *protocol, *fit.warnings), summary)
