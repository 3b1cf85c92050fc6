"""Read vendor spectroscopy: Siemens ``.rda``, Siemens CSA non-image DICOM (``.IMA``) and DICOM MR Spectroscopy.

Each reader returns the time-domain signal (FID) and the acquisition parameters, and above all the
voxel geometry in RAS+ mm, so the voxel can be placed on the T1c. pseudoprog does not fit spectra:
metabolite ratios come from a fitter's results (:mod:`pseudoprog.spectroscopy.results`).

Geometry conventions (checked on the suspect test data, where the .rda and .IMA exports of one
acquisition agree and the voxel centre equals the VOI position the scanner records):

- ``.rda`` ``PositionVector`` and CSA ``ImagePositionPatient`` are the *corner* of the first voxel
  (centre = corner + row·Δcol/2 + column·Δrow/2);
- DICOM MR Spectroscopy ``ImagePositionPatient`` is the *centre* of the first voxel, as for images.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from ..errors import InputError, malformed
from ..spectroscopy.geometry import VoxelGrid
from .dicom import read_dataset

SOP_MR_SPECTROSCOPY = "1.2.840.10008.5.1.4.1.1.4.2"
SOP_SIEMENS_CSA_NON_IMAGE = "1.3.12.2.1107.5.9.1"
_RDA_BEGIN = b">>> Begin of header <<<"
_RDA_END = b">>> End of header <<<"


@dataclass(frozen=True, eq=False)
class Spectrum:
    """A vendor spectroscopy acquisition: FID(s), timing and where the voxel(s) are.

    ``fid`` has shape ``grid.shape + (n_points,)`` (complex).
    """

    source: Path
    format: str  # "rda" | "siemens_csa" | "dicom_mrs"
    fid: np.ndarray
    dwell_time_s: float
    frequency_mhz: float | None
    echo_time_ms: float | None
    repetition_time_ms: float | None
    grid: VoxelGrid
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_single_voxel(self) -> bool:
        return self.grid.shape == (1, 1, 1)


def _rda_header(path: Path) -> tuple[dict[str, str], bytes]:
    raw = path.read_bytes()
    if not raw.startswith(_RDA_BEGIN):
        raise InputError("does not start with '>>> Begin of header <<<'", file=path, expected="a Siemens .rda file")
    end = raw.find(_RDA_END)
    if end < 0:
        raise InputError("no '>>> End of header <<<' line", file=path, expected="a Siemens .rda file")
    text = raw[len(_RDA_BEGIN) : end].decode("latin-1")
    body_start = raw.index(b"\n", end) + 1
    header: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            header[key.strip()] = value.strip()
    return header, raw[body_start:]


def _num(header: dict[str, str], key: str, *, path: Path) -> float:
    try:
        return float(header[key])
    except KeyError:
        raise InputError("missing header field", file=path, field=key) from None
    except ValueError:
        raise InputError(f"not a number: {header[key]!r}", file=path, field=key) from None


def read_rda(path: str | Path) -> Spectrum:
    """Read a Siemens ``.rda`` export (text header + complex double FIDs)."""
    path = Path(path)
    h, body = _rda_header(path)
    n_points = int(_num(h, "VectorSize", path=path))
    shape = tuple(int(_num(h, f"CSIMatrixSize[{i}]", path=path)) for i in range(3))
    n_vox = int(np.prod(shape))
    expected = n_points * n_vox * 16
    if len(body) != expected:
        raise InputError(
            f"data part has {len(body)} bytes, header implies {expected} (VectorSize × CSIMatrixSize × 16)",
            file=path,
        )
    data = np.frombuffer(body, dtype="<f8").reshape(-1, 2)
    fid = (data[:, 0] + 1j * data[:, 1]).reshape(shape[2], shape[1], shape[0], n_points)
    fid = np.transpose(fid, (2, 1, 0, 3))  # (col, row, slice, t): i runs along the row vector
    row = np.array([_num(h, f"RowVector[{i}]", path=path) for i in range(3)])
    col = np.array([_num(h, f"ColumnVector[{i}]", path=path) for i in range(3)])
    normal = np.array([_num(h, k, path=path) for k in ("VOINormalSag", "VOINormalCor", "VOINormalTra")])
    corner = np.array([_num(h, f"PositionVector[{i}]", path=path) for i in range(3)])
    d_col = _num(h, "PixelSpacingCol", path=path)  # along the row vector
    d_row = _num(h, "PixelSpacingRow", path=path)  # along the column vector
    d_3d = _num(h, "PixelSpacing3D", path=path)
    grid = VoxelGrid.from_lps(
        first_centre_lps=corner + row * d_col / 2 + col * d_row / 2,
        row_dir_lps=row,
        col_dir_lps=col,
        slice_dir_lps=normal / np.linalg.norm(normal),
        size_mm=(d_col, d_row, d_3d),
        shape=shape,  # type: ignore[arg-type]
    )
    voi = np.array([_num(h, k, path=path) for k in ("VOIPositionSag", "VOIPositionCor", "VOIPositionTra")])
    return Spectrum(
        source=path,
        format="rda",
        fid=fid,
        dwell_time_s=_num(h, "DwellTime", path=path) * 1e-6,
        frequency_mhz=_num(h, "MRFrequency", path=path),
        echo_time_ms=_num(h, "TE", path=path),
        repetition_time_ms=_num(h, "TR", path=path),
        grid=grid,
        description=h.get("SeriesDescription", ""),
        extra={"voi_centre_ras_mm": (np.diag([-1.0, -1.0, 1.0]) @ voi).tolist(), "nucleus": h.get("Nucleus")},
    )


def _csa_tags(ds: pydicom.Dataset, *, path: Path) -> dict[str, list[Any]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nibabel.nicom warns on import that its DICOM readers are experimental
        from nibabel.nicom import csareader

        try:
            csa = csareader.get_csa_header(ds, "image")
        except Exception as exc:  # nibabel raises several kinds on a malformed CSA block
            raise InputError(f"unreadable Siemens CSA header ({type(exc).__name__})", file=path) from exc
    if not csa:
        raise InputError("no Siemens CSA image header (0029,xx10)", file=path)
    return {k: v["items"] for k, v in csa["tags"].items()}


def _csa_value(tags: dict[str, list[Any]], key: str, *, path: Path, n: int = 1) -> list[float]:
    items = tags.get(key) or []
    if len(items) < n:
        raise InputError("missing CSA field", file=path, field=key)
    return [float(v) for v in items[:n]]


def read_siemens_csa(path: str | Path) -> Spectrum:
    """Read Siemens spectroscopy stored as CSA non-image DICOM (``.IMA``; FID in private tag (7FE1,1010))."""
    path = Path(path)
    ds = read_dataset(path, force=True)
    tags = _csa_tags(ds, path=path)
    n_points = int(_csa_value(tags, "DataPointColumns", path=path)[0])
    cols = int(_csa_value(tags, "Columns", path=path)[0])
    rows = int(_csa_value(tags, "Rows", path=path)[0])
    frames = int(_csa_value(tags, "NumberOfFrames", path=path)[0])
    raw = ds.get((0x7FE1, 0x1010))
    if raw is None:
        raise InputError("no spectroscopy data element (7FE1,1010)", file=path)
    data = np.frombuffer(raw.value, dtype="<f4")
    if data.size != 2 * n_points * cols * rows * frames:
        raise InputError(f"(7FE1,1010) holds {data.size // 2} complex points, header implies more", file=path)
    # Same (real, imaginary) order and sign as the .rda export (checked: the two exports of one scan agree).
    pairs = data.reshape(-1, 2)
    fid = (pairs[:, 0] + 1j * pairs[:, 1]).reshape(frames, rows, cols, n_points).transpose(2, 1, 0, 3)
    orient = _csa_value(tags, "ImageOrientationPatient", path=path, n=6)
    row, col = np.array(orient[:3]), np.array(orient[3:])
    corner = np.array(_csa_value(tags, "ImagePositionPatient", path=path, n=3))
    d_row, d_col = _csa_value(tags, "PixelSpacing", path=path, n=2)
    thickness = _csa_value(tags, "SliceThickness", path=path)[0]
    normal = np.array(_csa_value(tags, "VoiOrientation", path=path, n=3))
    grid = VoxelGrid.from_lps(
        first_centre_lps=corner + row * d_col / 2 + col * d_row / 2,
        row_dir_lps=row,
        col_dir_lps=col,
        slice_dir_lps=normal / np.linalg.norm(normal),
        size_mm=(d_col, d_row, thickness),
        shape=(cols, rows, frames),
    )
    dwell_ns = _csa_value(tags, "RealDwellTime", path=path)[0]
    voi = np.array(_csa_value(tags, "VoiPosition", path=path, n=3))
    return Spectrum(
        source=path,
        format="siemens_csa",
        fid=fid,
        dwell_time_s=dwell_ns * 1e-9,
        frequency_mhz=_csa_value(tags, "ImagingFrequency", path=path)[0],
        echo_time_ms=_csa_value(tags, "EchoTime", path=path)[0],
        repetition_time_ms=(tags.get("RepetitionTime") or [None])[0],
        grid=grid,
        description=str(ds.get("SeriesDescription", "") or ds.get("ProtocolName", "") or ""),
        extra={"voi_centre_ras_mm": (np.diag([-1.0, -1.0, 1.0]) @ voi).tolist()},
    )


def _first(ds: pydicom.Dataset, *path: str) -> Any:
    """A functional-group attribute: per-frame first, then shared."""
    for top in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
        seq = ds.get(top)
        if not seq:
            continue
        node: Any = seq[0]
        for name in path[:-1]:
            inner = node.get(name)
            if not inner:
                node = None
                break
            node = inner[0]
        if node is not None and path[-1] in node:
            return node.get(path[-1])
    return None


def read_dicom_mrs(path: str | Path) -> Spectrum:
    """Read a DICOM MR Spectroscopy object (SOP class 1.2.840.10008.5.1.4.1.1.4.2)."""
    path = Path(path)
    ds = read_dataset(path)
    if str(ds.get("SOPClassUID", "")) != SOP_MR_SPECTROSCOPY:
        raise InputError("not a DICOM MR Spectroscopy object", file=path, field="SOPClassUID")
    if "SpectroscopyData" not in ds:
        raise InputError("no SpectroscopyData (5600,0020)", file=path)
    n_points = int(ds.DataPointColumns)
    rows, cols = int(ds.get("Rows", 1)), int(ds.get("Columns", 1))
    frames = int(ds.get("NumberOfFrames", 1))
    raw = ds.SpectroscopyData
    data = np.frombuffer(raw, dtype="<f4") if isinstance(raw, bytes) else np.asarray(raw, dtype=np.float32)
    if str(ds.get("DataRepresentation", "COMPLEX")).upper() != "COMPLEX":
        raise InputError("only COMPLEX spectroscopy data is supported", file=path, field="DataRepresentation")
    if data.size != 2 * n_points * rows * cols * frames:
        raise InputError("SpectroscopyData size does not match DataPointColumns × Rows × Columns × frames", file=path)
    pairs = data.reshape(-1, 2)
    fid = (pairs[:, 0] + 1j * pairs[:, 1]).reshape(frames, rows, cols, n_points).transpose(2, 1, 0, 3)
    ipp = _first(ds, "PlanePositionSequence", "ImagePositionPatient")
    iop = _first(ds, "PlaneOrientationSequence", "ImageOrientationPatient")
    spacing = _first(ds, "PixelMeasuresSequence", "PixelSpacing")
    thickness = _first(ds, "PixelMeasuresSequence", "SliceThickness")
    if ipp is None or iop is None or spacing is None or thickness is None:
        raise InputError(
            "voxel geometry missing",
            file=path,
            field="PlanePositionSequence/PlaneOrientationSequence/PixelMeasuresSequence",
        )
    row, col = np.array([float(v) for v in iop[:3]]), np.array([float(v) for v in iop[3:]])
    normal = np.cross(row, col)
    d_row, d_col = float(spacing[0]), float(spacing[1])
    grid = VoxelGrid.from_lps(
        first_centre_lps=np.array([float(v) for v in ipp]),
        row_dir_lps=row,
        col_dir_lps=col,
        slice_dir_lps=normal,
        size_mm=(d_col, d_row, float(thickness)),
        shape=(cols, rows, frames),
    )
    extra: dict[str, Any] = {}
    slabs = ds.get("VolumeLocalizationSequence")
    if slabs and len(slabs) == 3:
        # The PRESS box: the point where the three slab mid-planes meet, and the slab thicknesses.
        normals = np.array([[float(v) for v in s.SlabOrientation] for s in slabs])
        mids = np.array([[float(v) for v in s.MidSlabPosition] for s in slabs])
        centre = np.linalg.solve(normals, np.einsum("ij,ij->i", normals, mids))
        extra["voi_centre_ras_mm"] = (np.diag([-1.0, -1.0, 1.0]) @ centre).tolist()
        extra["voi_size_mm"] = [float(s.SlabThickness) for s in slabs]
    sw = ds.get("SpectralWidth")
    if not sw:
        raise InputError("missing SpectralWidth", file=path, field="SpectralWidth")
    te = _first(ds, "MREchoSequence", "EffectiveEchoTime")
    tr = _first(ds, "MRTimingAndRelatedParametersSequence", "RepetitionTime")
    return Spectrum(
        source=path,
        format="dicom_mrs",
        fid=fid,
        dwell_time_s=1.0 / float(sw),
        frequency_mhz=float(ds.TransmitterFrequency) if "TransmitterFrequency" in ds else None,
        echo_time_ms=float(te) if te is not None else None,
        repetition_time_ms=float(tr) if tr is not None else None,
        grid=grid,
        description=str(ds.get("SeriesDescription", "") or ""),
        extra=extra,
    )


def read_spectrum(path: str | Path) -> Spectrum:
    """Read any supported vendor spectroscopy file, judged by its content."""
    path = Path(path)
    with malformed(path, "reading the spectrum"):  # a damaged file is named, never a traceback
        return _read_spectrum(path)


def _read_spectrum(path: Path) -> Spectrum:
    with path.open("rb") as handle:
        head = handle.read(len(_RDA_BEGIN))
    if head == _RDA_BEGIN:
        return read_rda(path)
    try:
        ds = read_dataset(path, stop_before_pixels=True, force=True, specific_tags=["SOPClassUID"])
    except Exception as exc:  # pydicom raises many kinds on garbage
        raise InputError(f"not a spectroscopy file ({type(exc).__name__})", file=path) from exc
    sop = str(ds.get("SOPClassUID", ""))
    if sop == SOP_MR_SPECTROSCOPY:
        return read_dicom_mrs(path)
    if sop == SOP_SIEMENS_CSA_NON_IMAGE:
        return read_siemens_csa(path)
    raise InputError(
        f"unsupported spectroscopy format (SOP class {sop or 'none'})",
        file=path,
        expected="Siemens .rda, Siemens CSA non-image DICOM or DICOM MR Spectroscopy",
    )


def stem_key(path: Path) -> str:
    """The name a fit result and its spectrum share (``svs_30.rda`` ↔ ``svs_30.TABLE``), lower case."""
    return re.sub(r"\.(rda|ima|dcm|table|coord|csv|txt)$", "", path.name, flags=re.IGNORECASE).lower()
