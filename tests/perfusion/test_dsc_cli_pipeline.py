"""``pseudoprog maps dsc`` and the DSC map builder (maps/dsc.py) on a phantom scan written as NIfTI + JSON."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from pseudoprog.case import LesionMask
from pseudoprog.cli import app
from pseudoprog.handoff import TimepointInputs
from pseudoprog.ingest import ingest_case
from pseudoprog.maps import dsc as maps_dsc
from pseudoprog.phantoms.patient import SCENARIOS, build_timepoint


@pytest.fixture(scope="module")
def case_dir(dsc_scan):
    return dsc_scan.case_dir


def test_cli_writes_maps_and_parameters(case_dir, tmp_path) -> None:
    dsc = sorted(case_dir.glob("*/DSC.nii.gz"))[-1]
    assert dsc.exists()
    out = tmp_path / "maps"
    result = CliRunner().invoke(app, ["maps", "dsc", str(dsc), "--out", str(out), "--leakage", "bjornerud"])
    assert result.exit_code == 0, result.output
    for name in ("rcbv", "rcbv_uncorrected", "cbf", "mtt", "k2", "ftb", "aif_voxels", "reference_voxels"):
        img = nib.load(str(out / f"dsc_{name}.nii.gz"))
        assert np.allclose(img.affine, nib.load(str(dsc)).affine)  # in the input's space
        assert img.shape == nib.load(str(dsc)).shape[:3]
    doc = json.loads((out / "dsc_parameters.json").read_text())
    assert doc["parameters"]["leakage_correction"] == "bjornerud"
    assert doc["parameters"]["te_ms"] == 30.0
    assert len(doc["parameters"]["aif"]["curve_delta_r2s_per_s"]) == 62
    assert any("preload" in w for w in doc["protocol_warnings"])


def test_cli_reports_bad_input(tmp_path) -> None:
    result = CliRunner().invoke(app, ["maps", "dsc", str(tmp_path / "missing.nii.gz"), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    result = CliRunner().invoke(app, ["maps", "dsc", str(tmp_path), "--out", str(tmp_path), "--leakage", "x"])
    assert result.exit_code == 2


def test_pipeline_stage_fills_markers_from_lesion_masks(case_dir, tmp_path) -> None:
    case = ingest_case(case_dir).case
    tp = case.timepoints[-1]
    sc = SCENARIOS["true_progression"]
    spec = next(s for s in sc.scans if s.date == tp.date)
    truth = build_timepoint(sc, spec, seed=7)
    masks = (LesionMask("L1", truth.anatomy.lesion_masks["L1"], truth.affine, source="phantom truth"),)
    out = maps_dsc.build(TimepointInputs(tp, tmp_path, lesion_masks=masks))
    markers = {m.name: m for m in out.at(tp.date).markers}
    assert {"rcbv_max", "rcbv_mean", "rcbf_max", "ftb_high", "ftb_low", "psr"} <= set(markers)
    assert markers["rcbv_max"].value > 2.0  # viable tumour: hypervascular
    # The default leakage model is now chosen from the data (issue 14); each lesion names the model it used.
    assert markers["rcbv_max"].quality["leakage_correction"] == "auto"
    assert markers["rcbv_max"].quality["leakage_model_used"] in ("bsw", "bjornerud")
    assert all(m.lesion_id == "L1" and m.source == "perfusion.dsc" for m in markers.values())
    assert any(m.name == "dsc_rcbv" for m in out.at(tp.date).maps)
    assert all((tmp_path / m.path).exists() for m in out.at(tp.date).maps)
    assert any("preload" in w for w in out.at(tp.date).warnings)


def test_pipeline_stage_without_masks_writes_maps_and_says_why(case_dir, tmp_path) -> None:
    case = ingest_case(case_dir).case
    tp = case.timepoints[0]
    out = maps_dsc.build(TimepointInputs(tp, tmp_path))
    assert len(out.at(tp.date).maps) >= 10
    assert not out.at(tp.date).markers
    assert any("no lesion masks" in n.reason for n in out.not_assessed)
