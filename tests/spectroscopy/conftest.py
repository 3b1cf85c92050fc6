"""Fixtures for the spectroscopy tests: a writer of minimal Siemens .rda files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def _write_rda(path: Path, fid: np.ndarray, *, corner=(10.0, 20.0, -5.0), spacing=(10.0, 10.0, 15.0)) -> Path:
    """A minimal .rda: CSI matrix (cols, rows, slices) from fid.shape[:3]."""
    cols, rows, slices, n = fid.shape
    head = {
        "TE": "30.0", "TR": "1500.0", "DwellTime": "500", "MRFrequency": "123.2", "VectorSize": str(n),
        "CSIMatrixSize[0]": str(cols), "CSIMatrixSize[1]": str(rows), "CSIMatrixSize[2]": str(slices),
        "PositionVector[0]": str(corner[0]), "PositionVector[1]": str(corner[1]), "PositionVector[2]": str(corner[2]),
        "RowVector[0]": "1", "RowVector[1]": "0", "RowVector[2]": "0",
        "ColumnVector[0]": "0", "ColumnVector[1]": "1", "ColumnVector[2]": "0",
        "VOINormalSag": "0", "VOINormalCor": "0", "VOINormalTra": "1",
        "VOIPositionSag": "0", "VOIPositionCor": "0", "VOIPositionTra": "0",
        "PixelSpacingCol": str(spacing[0]), "PixelSpacingRow": str(spacing[1]), "PixelSpacing3D": str(spacing[2]),
        "SeriesDescription": "csi_test",
    }  # fmt: skip
    text = ">>> Begin of header <<<\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items())
    text += ">>> End of header <<<\r\n"
    # Stored slice-major, then row, then column (column fastest), each point as (real, imaginary) doubles.
    ordered = np.transpose(fid, (2, 1, 0, 3)).reshape(-1)
    body = np.stack([ordered.real, ordered.imag], axis=-1).astype("<f8").tobytes()
    path.write_bytes(text.encode("latin-1") + body)
    return path


@pytest.fixture()
def write_rda():
    return _write_rda
