"""Spectroscopy against the suspect test data (../shared/data/mrs-suspect-testdata, PROVENANCE.md).

Reference values are LCModel's own: concentrations and %SD from svs_97.TABLE. The tolerance for a ratio is
the bound set by the TABLE's three-significant-digit rounding of each concentration (|Δ| ≤ r·(½ ulp/a + ½ ulp/b)).
Vendor files have no fit: they are checked for voxel geometry, and the .rda and .IMA exports of one
acquisition must agree with each other and with the VOI position the scanner recorded.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from pseudoprog.case import LesionMask
from pseudoprog.ingest import scan_images
from pseudoprog.ingest.mrs import read_spectrum
from pseudoprog.spectroscopy import compute_ratios, read_fit_result
from pseudoprog.spectroscopy.lesion import assess_spectroscopy
from pseudoprog.spectroscopy.results import read_lcmodel_coord, read_lcmodel_csv, read_lcmodel_table
from tests.conftest import shared_data

pytestmark = pytest.mark.validation


def _data(*parts: str) -> Path:
    return shared_data("mrs-suspect-testdata", *parts)


def _rounding_bound(ratio: float, a: float, b: float) -> float:
    return ratio * (0.0005 / a + 0.0005 / b)


def test_lcmodel_table_ratios() -> None:
    fit = read_lcmodel_table(_data("lcmodel", "svs_97.TABLE"))
    r = {x.name: x for x in compute_ratios(fit)}
    assert r["cho_naa"].value == pytest.approx(0.777, abs=_rounding_bound(0.777, 0.115, 0.148))
    assert r["cho_cr"].value == pytest.approx(0.457, abs=_rounding_bound(0.457, 0.115, 0.251))
    assert r["lipid_lactate_cr"].value == pytest.approx(1.243, abs=_rounding_bound(1.243, 0.312, 0.251))
    # The fit quality travels with the ratio: tCho 2 %, tNAA 6 %, tCr 3 % (LCModel %SD).
    assert r["cho_naa"].numerator_sd_percent == 2 and r["cho_naa"].denominator.sd_percent == 6
    assert r["cho_naa"].sd_percent == pytest.approx(math.hypot(2, 6))
    assert fit.quality == {"fwhm_ppm": 0.043, "snr": 13.0}
    # A stricter limit than tNAA's 6 % refuses Cho/NAA, naming the group.
    strict = {x.name: x for x in compute_ratios(fit, max_sd_percent=5)}
    assert strict["cho_naa"].value is None and "tNAA" in strict["cho_naa"].refused


def test_lcmodel_three_exports_agree() -> None:
    table = read_lcmodel_table(_data("lcmodel", "svs_97.TABLE")).metabolites
    coord, curves = read_lcmodel_coord(_data("lcmodel", "svs_97.COORD"))
    [csv] = read_lcmodel_csv(_data("lcmodel", "svs_97.CSV"))
    assert coord.metabolites == table
    shared = set(csv.metabolites) & set(table)
    assert len(shared) >= 30
    assert all(csv.metabolites[n] == table[n] for n in shared)
    # The COORD curves: each metabolite's curve minus the baseline, summed, plus the baseline, is LCModel's fit.
    assert curves.ppm.size == 799 and curves.ppm[0] > curves.ppm[-1]
    rebuilt = curves.baseline + sum(c - curves.baseline for c in curves.metabolites.values())
    assert np.max(np.abs(rebuilt - curves.fit)) < 1e-3 * np.max(np.abs(curves.fit))


def test_tarquin_table() -> None:
    [fit] = read_fit_result(_data("tarquin", "tarquin_results.txt"))
    r = {x.name: x for x in compute_ratios(fit)}
    assert r["cho_naa"].value == pytest.approx(0.0005261 / 0.003237)
    assert r["cho_cr"].value == pytest.approx(0.0005261 / 0.002870)
    assert r["cho_naa"].sd_percent == pytest.approx(math.hypot(3.131, 3.696))
    assert r["lipid_lactate_cr"].value is None and "undefined" in r["lipid_lactate_cr"].refused
    assert fit.quality["snr"] == pytest.approx(36.23)
    assert fit.quality["echo_time_ms"] == pytest.approx(30.0)


def test_siemens_rda_and_ima_geometry_agree() -> None:
    rda = read_spectrum(_data("siemens", "SVS_30.rda"))
    ima = read_spectrum(_data("siemens", "SVS_30.IMA"))
    for spec in (rda, ima):
        assert spec.is_single_voxel and spec.fid.shape == (1, 1, 1, 1024)
        assert spec.echo_time_ms == 30.0 and spec.repetition_time_ms == 2000.0
        assert spec.frequency_mhz == pytest.approx(123.234655)
        assert spec.dwell_time_s == pytest.approx(833e-6, rel=1e-3)
        assert spec.grid.voxel_size_mm == pytest.approx((20.0, 40.0, 20.0), abs=1e-4)
        # Voxel centre (from the corner position) equals the VOI centre the scanner recorded (LPS → RAS).
        assert spec.grid.centre_ras_mm() == pytest.approx([-41.602906, -21.569007, -4.958838], abs=1e-4)
        assert spec.extra["voi_centre_ras_mm"] == pytest.approx(spec.grid.centre_ras_mm(), abs=1e-4)
    np.testing.assert_allclose(ima.grid.affine, rda.grid.affine, atol=1e-4)
    np.testing.assert_allclose(ima.fid, rda.fid, rtol=1e-6, atol=1e-6 * np.abs(rda.fid).max())


def test_xa60_dicom_mrs_geometry() -> None:
    spec = read_spectrum(_data("siemens", "SVS_XA60.dcm"))
    assert spec.format == "dicom_mrs" and spec.fid.shape == (1, 1, 1, 1024)
    assert spec.dwell_time_s == pytest.approx(1 / 1199.9040076793856)
    assert spec.echo_time_ms == 30.0 and spec.frequency_mhz == pytest.approx(123.255089)
    assert spec.grid.voxel_size_mm == pytest.approx((30.0, 30.0, 30.0))
    assert spec.grid.centre_ras_mm() == pytest.approx([0.0, -57.4412, -8.03879], abs=1e-3)
    # The PRESS box (intersection of the three localisation slabs) is the same voxel.
    assert spec.extra["voi_centre_ras_mm"] == pytest.approx(spec.grid.centre_ras_mm(), abs=1e-3)
    assert spec.extra["voi_size_mm"] == [30.0, 30.0, 30.0]
    assert np.abs(spec.fid).max() > 0


def test_folder_ingest_pairs_lcmodel_with_rda_geometry(tmp_path: Path) -> None:
    folder = tmp_path / "mrs"
    folder.mkdir()
    shutil.copy(_data("siemens", "SVS_30.rda"), folder / "svs.rda")
    for ext in ("TABLE", "COORD", "CSV"):
        shutil.copy(_data("lcmodel", f"svs_97.{ext}"), folder / f"svs.{ext}")
    series = scan_images(folder).series
    assert len(series) == 4
    centre = read_spectrum(folder / "svs.rda").grid.centre_ras_mm()
    # A 60 mm lesion sphere around the voxel (20 x 40 x 20 mm, half-diagonal 24.5 mm) covers all of it.
    aff = np.eye(4)
    aff[:3, 3] = centre - 40.0
    ii, jj, kk = np.indices((81, 81, 81))
    lesion = (ii - 40) ** 2 + (jj - 40) ** 2 + (kk - 40) ** 2 <= 30**2
    out = assess_spectroscopy(series, [LesionMask("L1", lesion, aff)])
    values = {m.name: m for m in out.markers}
    assert set(values) == {"cho_naa", "cho_cr", "naa_cr", "lipid_lactate_cr"}  # each fit read once
    assert values["cho_naa"].quality["lesion_fraction"] == pytest.approx(1.0)
    assert values["cho_naa"].quality["voxel_volume_ml"] == pytest.approx(16.0)
    assert values["cho_naa"].quality["echo_time_ms"] == 30.0 and values["cho_naa"].quality["geometry_from"] == "svs.rda"


@pytest.mark.e2e
def test_assess_end_to_end_reports_lcmodel_ratios(phantom_cases, tmp_path: Path) -> None:
    """LCModel results without the vendor file: the ratios reach assessment.json for the index lesion,
    flagged 'coverage not verified' because the voxel position is unknown, and the reason is listed."""
    import json

    from pseudoprog.flow import assess

    case = tmp_path / "case"
    shutil.copytree(phantom_cases("pseudoprogression", "nifti", sequences=("structural",)), case)
    latest = sorted(p for p in case.iterdir() if p.is_dir())[-1]
    shutil.copy(_data("lcmodel", "svs_97.TABLE"), latest / "svs.TABLE")
    assess(case, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "assessment.json").read_text())
    markers = {m["name"]: m for m in doc["timepoints"][-1]["markers"] if m["source"] == "spectroscopy"}
    assert markers["cho_naa"]["value"] == pytest.approx(0.777, abs=0.003)
    assert markers["cho_naa"]["quality"]["crlb_percent"] == pytest.approx(math.hypot(2, 6), abs=0.01)
    assert "not verified" in markers["cho_naa"]["warnings"][0]
    assert any(n["stage"] == "spectroscopy" and "voxel position is unknown" in n["reason"] for n in doc["not_assessed"])


@pytest.mark.e2e
def test_assess_refuses_a_voxel_that_misses_the_lesion(phantom_cases, tmp_path: Path) -> None:
    """With the vendor file the voxel is placed in image space; this one (another subject's) lies outside the
    phantom lesion the lesions stage segmented, so its ratios are not evidence about the lesion."""
    import json

    from pseudoprog.flow import assess

    case = tmp_path / "case"
    shutil.copytree(phantom_cases("pseudoprogression", "nifti", sequences=("structural",)), case)
    latest = sorted(p for p in case.iterdir() if p.is_dir())[-1]
    shutil.copy(_data("lcmodel", "svs_97.TABLE"), latest / "svs.TABLE")
    shutil.copy(_data("siemens", "SVS_30.rda"), latest / "svs.rda")
    assess(case, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "assessment.json").read_text())
    assert not [m for m in doc["timepoints"][-1]["markers"] if m["source"] == "spectroscopy"]
    reasons = [n["reason"] for n in doc["not_assessed"] if n["stage"] == "spectroscopy"]
    assert any("not evidence about this lesion" in r for r in reasons), reasons


def test_tarquin_result_not_paired_with_a_spectrum_of_another_echo_time(tmp_path: Path) -> None:
    folder = tmp_path / "mrs"
    folder.mkdir()
    shutil.copy(_data("tarquin", "tarquin_results.txt"), folder / "svs.txt")  # TARQUIN: TE 30 ms
    shutil.copy(_data("siemens", "SVS_XA60.dcm"), folder / "svs.dcm")  # TE 30 ms: consistent, paired
    out = assess_spectroscopy(scan_images(folder).series, [])
    assert out.markers and out.markers[0].quality["geometry_from"] == "svs.dcm"
    import pydicom

    ds = pydicom.dcmread(folder / "svs.dcm")
    ds.SharedFunctionalGroupsSequence[0].MREchoSequence[0].EffectiveEchoTime = 144.0
    ds.save_as(folder / "svs.dcm")
    out = assess_spectroscopy(scan_images(folder).series, [])
    assert any("not the same acquisition" in n for n in out.notes)
    assert all("geometry_from" not in m.quality for m in out.markers)
