"""The DCE, ASL and DWI phantoms through the pipeline's map slots: maps agree with the phantom truth, tumour and
treatment effect separate in the expected direction, per-lesion markers are produced, and the CLI writes maps."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from pseudoprog.case import LesionMask, SeriesKind, Timepoint
from pseudoprog.cli import app
from pseudoprog.handoff import StageOutput, TimepointInputs
from pseudoprog.ingest import scan_images
from pseudoprog.maps import adc as maps_adc
from pseudoprog.maps import asl as maps_asl
from pseudoprog.maps import dce as maps_dce
from pseudoprog.maps import tram as maps_tram
from pseudoprog.phantoms import asl, dce, dwi
from pseudoprog.phantoms.anatomy import Tissue
from pseudoprog.phantoms.partial_volume import coarse_grid
from pseudoprog.phantoms.patient import SCENARIOS, build_timepoint
from pseudoprog.phantoms.writers import write_nifti


def _scan(tmp_path_factory, scenario: str, index: int):
    sc = SCENARIOS[scenario]
    ptp = build_timepoint(sc, sc.scans[index], seed=7)
    folder = tmp_path_factory.mktemp(scenario)
    for gen in (dce.dce_series, asl.asl_series, dwi.dwi_series):
        for s in gen(ptp):
            write_nifti(s, folder)
    series = scan_images(folder).series
    tp = Timepoint(date=sc.scans[index].date, image_dir=folder, series=series)
    masks = (LesionMask("L1", ptp.anatomy.lesion_masks["L1"], ptp.affine),)
    inputs = TimepointInputs(tp, folder / "out", lesion_masks=masks)
    out = StageOutput()
    for builder in (maps_dce, maps_asl, maps_adc, maps_tram):
        out.extend(builder.build(inputs))
    return ptp, SimpleNamespace(at=out.at, out_dir=inputs.out_dir), tp, folder


@pytest.fixture(scope="module")
def tumour(tmp_path_factory):
    return _scan(tmp_path_factory, "true_progression", 2)


@pytest.fixture(scope="module")
def effect(tmp_path_factory):
    return _scan(tmp_path_factory, "pseudoprogression", 1)


def _markers(ctx, tp):
    return {m.name: m.value for m in ctx.at(tp.date).markers}


def _pure(ptp, factors, tissue, slab=None):
    frac, _ = coarse_grid(ptp.labels, ptp.affine, factors)
    if slab is not None:
        k0 = (frac.shape[2] - slab) // 2
        frac = frac[:, :, k0 : k0 + slab]
    return frac[..., int(tissue)] > 0.99


def _map(ctx, tp, name):
    import nibabel as nib

    entry = next(m for m in ctx.at(tp.date).maps if m.name == name)
    return np.asarray(nib.load(str(ctx.out_dir / entry.path)).dataobj)


def test_series_are_classified(tumour):
    _, _, tp, _ = tumour
    kinds = sorted(s.kind.value for s in tp.series)
    # The phantom writes one series per flip angle, as Siemens and GE do; ingest assembles them into one VFA set.
    assert kinds == sorted(["VFA_T1", "DCE", "ASL", "M0", "DWI"])
    (vfa,) = tp.series_of(SeriesKind.VFA_T1)
    assert vfa.params.flip_angles_deg == (2.0, 10.0, 15.0)


def test_maps_match_truth_in_pure_tissue(tumour):
    ptp, ctx, tp, _ = tumour
    wm = _pure(ptp, dce.GRID_FACTORS, Tissue.WHITE_MATTER, slab=dce.SLAB_SLICES)
    gm = _pure(ptp, asl.GRID_FACTORS, Tissue.GREY_MATTER)
    assert np.nanmedian(_map(ctx, tp, "dce_t10")[wm]) == pytest.approx(0.9, rel=0.1)
    assert np.nanmedian(_map(ctx, tp, "dce_ktrans")[wm]) < 0.01  # intact blood-brain barrier
    assert np.nanmean(_map(ctx, tp, "asl_cbf")[gm]) == pytest.approx(60.0, rel=0.1)
    wm2 = _pure(ptp, dwi.GRID_FACTORS, Tissue.WHITE_MATTER)
    assert np.nanmedian(_map(ctx, tp, "adc_adc")[wm2]) == pytest.approx(0.70e-3, rel=0.05)
    params = json.loads((ctx.out_dir / ctx.at(tp.date).maps[0].parameters["parameters_file"]).read_text())
    assert params["relaxivity_per_mM_s"] > 0 and params["aif_source"] in (
        "automatic",
        "population (Parker et al., MRM 2006)",
    )


def test_tumour_and_treatment_effect_separate(tumour, effect):
    mt, me = _markers(*tumour[1:3]), _markers(*effect[1:3])
    for name in (
        "ktrans_mean",
        "ktrans_max",
        "vp_mean",
        "ve_mean",
        "asl_cbf_max",
        "asl_rcbf_max",
        "adc_mean",
        "adc_min",
        "radc_mean",
    ):
        assert name in mt and name in me, name
    assert mt["vp_mean"] > me["vp_mean"]
    assert mt["ktrans_mean"] > me["ktrans_mean"]
    assert mt["asl_cbf_max"] > me["asl_cbf_max"]
    assert mt["adc_mean"] < me["adc_mean"]


def test_markers_are_skipped_with_a_reason_without_masks(tumour):
    _, ctx, tp, _ = tumour
    ctx2 = maps_adc.build(TimepointInputs(tp, ctx.out_dir.parent / "out-nomask"))
    assert not ctx2.at(tp.date).markers
    assert any(n.stage == "diffusion.adc.markers" and "no lesion mask" in n.reason for n in ctx2.not_assessed)
    assert any(m.name == "adc_adc" for m in ctx2.at(tp.date).maps)


def test_dce_without_vfa_cannot_be_assessed(tumour):
    from pseudoprog.errors import CannotAssessError
    from pseudoprog.perfusion.from_series import dce_from_series

    _, _, tp, _ = tumour
    with pytest.raises(CannotAssessError, match="VFA"):
        dce_from_series(tp.series_of(SeriesKind.DCE)[0], ())


def test_cli_maps(tumour, tmp_path):
    _, _, _, folder = tumour
    runner = CliRunner()
    res = runner.invoke(app, ["maps", "adc", str(folder / "DWI.nii.gz"), "--out", str(tmp_path / "adc")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "adc" / "adc_adc.nii.gz").exists() and (tmp_path / "adc" / "adc_parameters.json").exists()
    res = runner.invoke(app, ["maps", "asl", str(folder), "--out", str(tmp_path / "asl")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "asl" / "asl_cbf.nii.gz").exists()
    res = runner.invoke(app, ["maps", "tram", str(folder / "M0.nii.gz"), "--out", str(tmp_path / "tram")])
    assert res.exit_code == 3 and "delayed" in res.output
