"""Siemens .rda reader on synthetic files: FID layout, CSI geometry, refusal of a truncated file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pseudoprog.errors import InputError
from pseudoprog.ingest.mrs import read_rda, read_spectrum, stem_key


def test_csi_rda_fid_layout_and_geometry(tmp_path: Path, write_rda) -> None:
    rng = np.random.default_rng(1)
    fid = rng.standard_normal((3, 2, 1, 16)) + 1j * rng.standard_normal((3, 2, 1, 16))
    spec = read_rda(write_rda(tmp_path / "csi.rda", fid))
    np.testing.assert_array_equal(spec.fid, fid)
    assert spec.grid.shape == (3, 2, 1)
    assert spec.dwell_time_s == pytest.approx(5e-4)
    assert spec.echo_time_ms == 30.0
    # First voxel centre = corner + half a voxel along row and column (LPS), then to RAS.
    assert spec.grid.centre_ras_mm((0, 0, 0)) == pytest.approx([-15.0, -25.0, -5.0])
    assert spec.grid.centre_ras_mm((2, 1, 0)) == pytest.approx([-35.0, -35.0, -5.0])
    assert spec.grid.voxel_size_mm == pytest.approx((10.0, 10.0, 15.0))
    assert not spec.is_single_voxel


def test_truncated_rda_refused(tmp_path: Path, write_rda) -> None:
    path = write_rda(tmp_path / "t.rda", np.zeros((1, 1, 1, 8), complex))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(InputError, match=r"t\.rda.*bytes"):
        read_rda(path)


def test_unknown_file_refused(tmp_path: Path) -> None:
    p = tmp_path / "x.dat"
    p.write_bytes(b"\x00" * 300)
    with pytest.raises(InputError, match=r"x\.dat"):
        read_spectrum(p)


def test_stem_key_pairs_exports() -> None:
    assert stem_key(Path("SVS_30.rda")) == stem_key(Path("svs_30.TABLE")) == "svs_30"
