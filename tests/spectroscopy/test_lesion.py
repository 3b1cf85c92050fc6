"""Per-lesion spectroscopy: a voxel on the lesion gives markers, a voxel beside it does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pseudoprog.case import LesionMask
from pseudoprog.ingest import scan_images
from pseudoprog.spectroscopy.geometry import VoxelGrid
from pseudoprog.spectroscopy.lesion import assess_spectroscopy, lesion_spectroscopy
from pseudoprog.spectroscopy.results import FitResult, MetaboliteEstimate

GOOD = {"GPC+PCh": (0.3, 3.0), "NAA+NAAG": (0.1, 6.0), "Cr+PCr": (0.2, 3.0)}


def _fit(voxel=None, mets=GOOD) -> FitResult:
    return FitResult(
        Path("f.TABLE"), "LCModel", {k: MetaboliteEstimate(k, c, sd) for k, (c, sd) in mets.items()}, voxel=voxel
    )


def _sphere_mask(centre=(0.0, 0.0, 0.0), radius=15.0, lesion_id="L1") -> LesionMask:
    shape = (80, 80, 80)
    aff = np.eye(4)
    aff[:3, 3] = -40.0
    ii, jj, kk = np.indices(shape)
    x, y, z = ii - 40.0, jj - 40.0, kk - 40.0
    m = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= radius**2
    return LesionMask(lesion_id, m, aff, source="test")


def _svs(centre, size=10.0) -> VoxelGrid:
    aff = np.diag([size, size, size, 1.0])
    aff[:3, 3] = centre
    return VoxelGrid(aff, (1, 1, 1))


def test_voxel_on_lesion_gives_markers_with_coverage() -> None:
    out = lesion_spectroscopy([_fit()], grid=_svs((0, 0, 0)), masks=[_sphere_mask()])
    names = {m.name: m for m in out.markers}
    assert set(names) == {"cho_naa", "cho_cr", "naa_cr"}
    assert names["cho_naa"].value == pytest.approx(3.0)
    assert names["cho_naa"].lesion_id == "L1"
    assert names["cho_naa"].quality["lesion_fraction"] == pytest.approx(1.0)
    assert names["cho_naa"].quality["crlb_percent"] == pytest.approx(np.hypot(3, 6), abs=0.01)
    assert any("lipid_lactate_cr refused" in n for n in out.notes)


def test_voxel_beside_lesion_is_not_evidence() -> None:
    out = lesion_spectroscopy([_fit()], grid=_svs((30, 0, 0)), masks=[_sphere_mask()])
    assert out.markers == []
    assert any("not evidence about this lesion" in n and "L1" in n for n in out.notes)


def test_partial_coverage_threshold() -> None:
    # Voxel centred on the sphere surface: roughly half lesion.
    half = lesion_spectroscopy([_fit()], grid=_svs((15, 0, 0)), masks=[_sphere_mask()], min_lesion_fraction=0.3)
    assert half.markers and 0.3 < half.markers[0].quality["lesion_fraction"] < 0.7
    strict = lesion_spectroscopy([_fit()], grid=_svs((15, 0, 0)), masks=[_sphere_mask()], min_lesion_fraction=0.9)
    assert strict.markers == []
    with pytest.raises(ValueError, match="min_lesion_fraction"):
        lesion_spectroscopy([_fit()], grid=_svs((0, 0, 0)), masks=[_sphere_mask()], min_lesion_fraction=0.0)


def test_csi_uses_best_covered_voxel() -> None:
    # 3 voxels along x at -20, 0, +20 mm; lesion at +20. The voxel at 0 has the most abnormal Cho but misses it.
    aff = np.diag([20.0, 20.0, 20.0, 1.0])
    aff[:3, 3] = [-20.0, 0.0, 0.0]
    grid = VoxelGrid(aff, (3, 1, 1))
    fits = [
        _fit((1, 1, 1), GOOD),
        _fit((1, 2, 1), {"GPC+PCh": (0.9, 3.0), "NAA+NAAG": (0.1, 6.0), "Cr+PCr": (0.2, 3.0)}),
        _fit((1, 3, 1), {"GPC+PCh": (0.2, 3.0), "NAA+NAAG": (0.1, 6.0), "Cr+PCr": (0.2, 3.0)}),
    ]
    out = lesion_spectroscopy(fits, grid=grid, masks=[_sphere_mask(centre=(20, 0, 0), radius=14)])
    cho_naa = next(m for m in out.markers if m.name == "cho_naa")
    assert cho_naa.value == pytest.approx(2.0)
    assert cho_naa.quality["voxel_index"] == [2, 0, 0]


def test_without_geometry_or_masks_values_carry_a_warning() -> None:
    out = lesion_spectroscopy([_fit()], grid=None, masks=[_sphere_mask()])
    assert out.markers and all(m.lesion_id is None for m in out.markers)
    assert all("not verified" in m.warnings[0] for m in out.markers)
    csi = lesion_spectroscopy([_fit((1, 1, 1)), _fit((1, 2, 1))], grid=None, masks=[])
    assert csi.markers == [] and "cannot be attributed" in csi.notes[0]


def test_folder_with_fit_and_rda_is_paired(tmp_path: Path, write_rda) -> None:
    table = (
        " LCModel (Version 6.3-1B)\n\n$$CONC 4 lines in following concentration table = NCONC+1\n"
        "    Conc.  %SD /Cr+PCr  Metabolite\n    0.300   3%   1.500 GPC+PCh\n    0.100   6%   0.500 NAA+NAAG\n"
        "    0.200   3%   1.000 Cr+PCr\n"
    )
    (tmp_path / "svs.TABLE").write_text(table)
    (tmp_path / "svs.txt").write_text(table)  # an export copy under another name: same stem, read once
    (tmp_path / "readme.txt").write_text("operator notes\n")
    # Single voxel 10 mm centred at RAS (0,0,0): LPS corner = centre - half a voxel along row and column.
    write_rda(tmp_path / "svs.rda", np.zeros((1, 1, 1, 8), complex), corner=(-5.0, -5.0, 0.0), spacing=(10, 10, 10))
    scan = scan_images(tmp_path)
    assert sorted(s.files[0].name for s in scan.series) == ["svs.TABLE", "svs.rda", "svs.txt"]
    out = assess_spectroscopy(scan.series, [_sphere_mask()])
    assert sorted(m.name for m in out.markers) == ["cho_cr", "cho_naa", "naa_cr"]
    assert all(m.lesion_id == "L1" and m.quality["file"] == "svs.TABLE" for m in out.markers)


def test_spectra_without_fit_explain_why(tmp_path: Path, write_rda) -> None:
    write_rda(tmp_path / "svs.rda", np.zeros((1, 1, 1, 8), complex))
    out = assess_spectroscopy(scan_images(tmp_path).series, [])
    assert out.markers == [] and "does not fit spectra" in out.notes[0]


def test_csi_csv_with_csi_rda(tmp_path: Path, write_rda) -> None:
    csv_text = (
        "Row, Col, GPC+PCh, GPC+PCh %SD, GPC+PCh/Cr+PCr, NAA+NAAG, NAA+NAAG %SD, NAA+NAAG/Cr+PCr, Cr+PCr, Cr+PCr %SD, "
        "Cr+PCr/Cr+PCr\n"
        "  1,   1, 0.1, 4, 0.5, 0.2, 5, 1.0, 0.2, 3, 1.0\n"
        "  1,   2, 0.4, 4, 2.0, 0.1, 5, 0.5, 0.2, 3, 1.0\n"
    )
    (tmp_path / "csi.csv").write_text(csv_text)
    # 2 x 1 x 1 grid of 10 mm voxels along LPS +x (RAS -x): voxel centres at RAS x = +5 and x = -5.
    write_rda(tmp_path / "csi.rda", np.zeros((2, 1, 1, 8), complex), corner=(-10.0, -5.0, 0.0), spacing=(10, 10, 10))
    lesion = _sphere_mask(centre=(-5.0, 0.0, 0.0), radius=9.0)
    out = assess_spectroscopy(scan_images(tmp_path).series, [lesion])
    cho_naa = next(m for m in out.markers if m.name == "cho_naa")
    assert cho_naa.value == pytest.approx(4.0)  # the (row 1, column 2) voxel, the one on the lesion
    assert cho_naa.quality["voxel_index"] == [1, 0, 0]
