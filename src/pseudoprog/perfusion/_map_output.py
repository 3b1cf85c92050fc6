"""Write quantitative maps as NIfTI (and their parameters as JSON) atomically: complete files or none."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from ..assessment import to_jsonable
from ..files import write_atomic


def write_map_nifti(data: np.ndarray, affine: np.ndarray, path: Path, *, description: str = "") -> Path:
    """Write one 3D (or 4D) map as float32 NIfTI, via a temporary file renamed into place."""
    arr = np.asarray(data)
    arr = arr.astype(np.uint8) if arr.dtype == bool else arr.astype(np.float32)
    img = nib.Nifti1Image(arr, np.asarray(affine, dtype=float))
    img.header.set_xyzt_units("mm", "sec")
    if description:
        img.header["descrip"] = description.encode()[:79]
    raw = img.to_bytes()
    write_atomic(path, gzip.compress(raw, compresslevel=6, mtime=0) if path.name.endswith(".gz") else raw)
    return path


def write_parameters_json(params: dict[str, Any], path: Path) -> Path:
    """Write the parameters a map was made with (every constant and its source) as JSON."""
    write_atomic(path, json.dumps(to_jsonable(params), indent=2, ensure_ascii=False) + "\n")
    return path
